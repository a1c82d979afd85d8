from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import func, select

from app.services.check_ins import record_check_in
from app.services.compliance import ward_compliance
from app.services.corrections import void_record
from app.services.errors import InvalidInput, NotAllowed
from app.services.incidents import record_incident, start_restraint, update_restraint
from models import AuditEvent, CheckIn, Incident
from models.codes import AuditAction, RecordKind, RestraintKind
from tests.factories import Ward, key
from tests.services.filled_demo import open_filled_demo

CHICAGO = ZoneInfo("America/Chicago")


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=CHICAGO).astimezone(UTC)


def check(ward, patient_id, at, reason=None, *, missed=False):
    fields = {"missed": True} if missed else {"location": "day_room", "status": "resting"}
    return record_check_in(
        ward.db,
        ward.tech,
        {
            "patient_id": patient_id,
            "observed_at": at,
            "late_reason": reason,
            "client_key": key(),
            **fields,
        },
    )


def incident(ward, patient_id, at, moas_verbal=1):
    return record_incident(
        ward.db,
        ward.tech,
        {
            "patient_id": patient_id,
            "occurred_at": at,
            "incident_type": "verbal_aggression",
            "location": "hallway",
            "moas_verbal": moas_verbal,
            "client_key": key(),
        },
    )


@pytest.fixture
def patient(ward, clock):
    return ward.admit(admitted_at=clock() - timedelta(days=12))


def by_name(compliance):
    return {(shift.name, shift.day): shift for shift in compliance.shifts}


def test_checks_counted_per_shift_with_reasons(ward, patient):
    check(ward, patient.id, local(2026, 11, 19, 8, 0), "other")  # first check: late
    voided = check(ward, patient.id, local(2026, 11, 19, 8, 15))
    check(ward, patient.id, local(2026, 11, 19, 8, 28))
    check(ward, patient.id, local(2026, 11, 19, 8, 40))
    check(ward, patient.id, local(2026, 11, 19, 16, 0), "staff_emergency")
    check(ward, patient.id, local(2026, 11, 19, 16, 15), "patient_refused", missed=True)
    check(ward, patient.id, local(2026, 11, 19, 23, 30), "patient_in_bathroom")
    check(ward, patient.id, local(2026, 11, 19, 23, 45))
    check(ward, patient.id, local(2026, 11, 20, 9, 0), "other")
    void_record(ward.db, ward.nurse, RecordKind.check_in, voided.id, "Wrong patient")
    # Another patient on another ward is not this ward's work.
    elsewhere = Ward.create(ward.db)
    check(elsewhere, elsewhere.patients[0].id, local(2026, 11, 20, 11, 50))

    compliance = ward_compliance(
        ward.db, ward.charge, ward.ward.id, start=date(2026, 11, 19), end=date(2026, 11, 20)
    )

    shifts = by_name(compliance)
    # Shifts that begin on the 19th and 20th and have begun by noon on the 20th.
    assert list(shifts) == [
        ("Day", date(2026, 11, 19)),
        ("Evening", date(2026, 11, 19)),
        ("Night", date(2026, 11, 19)),
        ("Day", date(2026, 11, 20)),
    ]
    day = shifts["Day", date(2026, 11, 19)]
    assert (day.checks.on_time, day.checks.late, day.checks.missed) == (2, 1, 0)
    assert day.checks.reasons == {"other": 1}
    assert day.start == local(2026, 11, 19, 7) and day.end == local(2026, 11, 19, 15)
    evening = shifts["Evening", date(2026, 11, 19)]
    assert (evening.checks.on_time, evening.checks.late, evening.checks.missed) == (0, 1, 1)
    assert evening.checks.reasons == {"pulled to an emergency": 1, "patient refused": 1}
    night = shifts["Night", date(2026, 11, 19)]
    assert (night.checks.on_time, night.checks.late, night.checks.missed) == (1, 1, 0)
    assert night.checks.reasons == {"in the bathroom": 1}
    today = shifts["Day", date(2026, 11, 20)]
    assert today.in_progress and not night.in_progress
    assert (today.checks.on_time, today.checks.late) == (0, 1)

    assert [(row.name, row.shifts) for row in compliance.by_shift] == [
        ("Day", 2),
        ("Evening", 1),
        ("Night", 1),
    ]
    totals = compliance.checks
    assert (totals.on_time, totals.late, totals.missed) == (3, 4, 1)
    assert totals.reasons["other"] == 2
    assert totals.on_time_rate == 3 / 8


def test_incidents_per_week_cut_to_the_range(ward, patient):
    incident(ward, patient.id, local(2026, 11, 10, 14))  # before the range
    incident(ward, patient.id, local(2026, 11, 11, 14), moas_verbal=2)
    incident(ward, patient.id, local(2026, 11, 15, 23, 30), moas_verbal=3)  # Sunday night
    incident(ward, patient.id, local(2026, 11, 16, 0, 30))  # Monday: next week
    gone = incident(ward, patient.id, local(2026, 11, 17, 9))
    void_record(ward.db, ward.nurse, RecordKind.incident, gone.id, "Entered twice")

    compliance = ward_compliance(
        ward.db, ward.charge, ward.ward.id, start=date(2026, 11, 11), end=date(2026, 11, 20)
    )

    weeks = [
        (week.week_of, week.first_day, week.last_day, week.incidents, week.moas_total)
        for week in compliance.weeks
    ]
    assert weeks == [
        (date(2026, 11, 9), date(2026, 11, 11), date(2026, 11, 15), 2, 5),
        (date(2026, 11, 16), date(2026, 11, 16), date(2026, 11, 20), 1, 1),
    ]
    assert compliance.weeks[0].by_type == {"verbal aggression": 2}


def test_restraint_and_seclusion_hours_inside_the_range(ward, patient, clock):
    def start(kind, at):
        return start_restraint(
            ward.db,
            ward.nurse,
            {
                "patient_id": patient.id,
                "kind": kind,
                "ordered_at": at,
                "ordered_by": "Dr Synthetic",
                "started_at": at,
                "client_key": key(),
            },
        )

    # Began the evening before the range: only the part inside it counts.
    overnight = start("seclusion", local(2026, 11, 18, 23))
    update_restraint(
        ward.db,
        ward.nurse,
        overnight.id,
        {"ended_at": local(2026, 11, 19, 1, 30), "face_to_face_at": local(2026, 11, 18, 23, 40)},
    )
    late_review = start("seclusion", local(2026, 11, 19, 10))
    update_restraint(
        ward.db,
        ward.nurse,
        late_review.id,
        {"ended_at": local(2026, 11, 19, 11, 30), "face_to_face_at": local(2026, 11, 19, 11, 15)},
    )
    ongoing = start("physical_hold", local(2026, 11, 20, 11, 30))

    compliance = ward_compliance(
        ward.db, ward.charge, ward.ward.id, start=date(2026, 11, 19), end=date(2026, 11, 20)
    )

    episodes = {episode.id: episode for episode in compliance.episodes}
    assert episodes[overnight.id].hours == 1.5
    assert episodes[overnight.id].face_to_face_on_time is True
    assert episodes[late_review.id].hours == 1.5
    assert episodes[late_review.id].face_to_face_on_time is False
    # Half an hour so far; its face-to-face evaluation is not due until 12:30.
    assert episodes[ongoing.id].hours == 0.5
    assert episodes[ongoing.id].ended_at is None
    assert episodes[ongoing.id].face_to_face_on_time is None
    totals = {row.kind: (row.episodes, row.hours) for row in compliance.restraints}
    assert totals == {
        RestraintKind.seclusion: (2, 3.0),
        RestraintKind.physical_hold: (1, 0.5),
        RestraintKind.mechanical_restraint: (0, 0.0),
    }


def test_only_a_charge_nurse_of_the_ward_sees_it_and_each_view_is_audited(ward, db):
    other = Ward.create(db)
    for actor in (ward.tech, ward.nurse, ward.admin, other.charge):
        with pytest.raises(NotAllowed):
            ward_compliance(
                db, actor, ward.ward.id, start=date(2026, 11, 1), end=date(2026, 11, 20)
            )

    ward_compliance(db, ward.charge, ward.ward.id, start=date(2026, 11, 1), end=date(2026, 11, 20))

    with db.reading() as session:
        rows = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == AuditAction.view, AuditEvent.ward_id == ward.ward.id
            )
        ).all()
    assert [(row.staff_id, row.detail) for row in rows] == [
        (ward.charge.staff_id, "compliance 2026-11-01..2026-11-20")
    ]


def test_a_backwards_or_overlong_range_is_refused(ward):
    with pytest.raises(InvalidInput, match="on or after"):
        ward_compliance(
            ward.db, ward.charge, ward.ward.id, start=date(2026, 11, 20), end=date(2026, 11, 1)
        )
    with pytest.raises(InvalidInput, match="at most"):
        ward_compliance(
            ward.db, ward.charge, ward.ward.id, start=date(2025, 1, 1), end=date(2026, 11, 20)
        )


@pytest.fixture(scope="module")
def demo(tmp_path_factory, migrated_template):
    yield from open_filled_demo(tmp_path_factory, migrated_template)


@pytest.mark.slow
def test_demo_month_accounts_for_every_check_incident_and_the_seclusion(demo):
    compliance = ward_compliance(
        demo.db,
        demo.actors["charge"],
        demo.ward_id,
        start=date(2026, 10, 21),
        end=date(2026, 11, 20),
    )

    first, last = compliance.shifts[0], compliance.shifts[-1]
    with demo.db.reading() as session:
        checks = session.exec(
            select(CheckIn.missed, CheckIn.late, func.count())
            .where(CheckIn.observed_at >= first.start, CheckIn.observed_at < last.end)
            .group_by(CheckIn.missed, CheckIn.late)
        ).all()
        incidents = session.exec(select(func.count()).select_from(Incident)).one()
    counted = {(bool(missed), bool(late)): count for missed, late, count in checks}
    totals = compliance.checks
    assert totals.missed == sum(n for (missed, _), n in counted.items() if missed)
    assert totals.late == counted.get((False, True), 0)
    assert totals.on_time == counted[(False, False)]
    assert sum(totals.reasons.values()) == totals.late + totals.missed
    assert 0.95 < totals.on_time_rate < 1
    assert [row.name for row in compliance.by_shift] == ["Day", "Evening", "Night"]
    assert sum(week.incidents for week in compliance.weeks) == incidents == 6
    seclusion = next(row for row in compliance.restraints if row.kind == RestraintKind.seclusion)
    # D0007 was secluded for 50 minutes after pushing a peer.
    assert (seclusion.episodes, seclusion.hours) == (1, round(50 / 60, 2))
