from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from app.services.check_ins import record_check_in
from app.services.errors import NotAllowed
from app.services.groups import record_attendance, start_group_session
from app.services.handoff import handoff_for
from app.services.incidents import record_incident, start_restraint
from app.services.levels import change_level
from app.services.sleep import record_sleep_report
from models import AuditEvent
from models.codes import AuditAction, ObservationLevel
from tests.factories import Ward, key

CHICAGO = ZoneInfo("America/Chicago")


def local(*parts: int) -> datetime:
    """A wall-clock time on the ward (America/Chicago), as aware UTC."""
    return datetime(*parts, tzinfo=CHICAGO).astimezone(UTC)


def friday(hour: int, minute: int = 0) -> datetime:
    return local(2026, 11, 20, hour, minute)


def seen(ward, patient, at, status="watching_tv", **fields):
    location = {"asleep": "own_room", "awake_in_bed": "own_room"}.get(status, "day_room")
    if status == "in_seclusion":
        location, status = "seclusion_room", "resting"
    return record_check_in(
        ward.db,
        ward.tech,
        {
            "patient_id": patient.id,
            "observed_at": at,
            "location": location,
            "status": status,
            "client_key": key(),
            **fields,
        },
    )


def missed(ward, patient, at, reason):
    return record_check_in(
        ward.db,
        ward.tech,
        {
            "patient_id": patient.id,
            "observed_at": at,
            "missed": True,
            "late_reason": reason,
            "client_key": key(),
        },
    )


@pytest.fixture
def day_shift(db, clock):
    """Friday's day shift (07:00-15:00) at 07:55, three patients admitted overnight at 06:20."""
    clock.now = friday(6, 30)
    ward = Ward.create(db, patients=0)
    admitted = friday(6, 20)
    calm = ward.admit(room="203", admitted_at=admitted)
    busy = ward.admit(room="202", admitted_at=admitted)
    secluded = ward.admit(room="201", admitted_at=admitted)
    clock.now = friday(7, 55)
    for patient in (calm, busy, secluded):
        seen(ward, patient, friday(6, 35))  # night shift: not in the handoff

    seen(ward, calm, friday(6, 50))
    seen(ward, calm, friday(7, 5))
    seen(ward, calm, friday(7, 20), mood=6, anxiety=2)
    seen(ward, calm, friday(7, 35))
    seen(ward, calm, friday(7, 50))

    seen(ward, busy, friday(7, 5), late_reason="staff_emergency")
    seen(
        ward, busy, friday(7, 35), "pacing", late_reason="patient_in_bathroom", note="Asked for PRN"
    )
    missed(ward, busy, friday(7, 50), "off_unit")
    record_incident(
        ward.db,
        ward.tech,
        {
            "patient_id": busy.id,
            "occurred_at": friday(7, 40),
            "incident_type": "verbal_aggression",
            "location": "day_room",
            "moas_verbal": 2,
            "moas_property": 2,
            "client_key": key(),
        },
    )
    group = start_group_session(
        ward.db,
        ward.tech,
        {
            "ward_id": ward.ward.id,
            "group_type": "cbt_dbt_skills",
            "started_at": friday(7, 30),
            "client_key": key(),
        },
    )
    record_attendance(
        ward.db,
        ward.tech,
        {
            "session_id": group.id,
            "patient_id": busy.id,
            "attendance": "refused",
            "client_key": key(),
        },
    )
    record_attendance(
        ward.db,
        ward.tech,
        {
            "session_id": group.id,
            "patient_id": calm.id,
            "attendance": "attended",
            "participation_level": "active",
            "client_key": key(),
        },
    )

    seen(ward, secluded, friday(6, 50))
    seen(ward, secluded, friday(7, 5))
    change_level(
        ward.db,
        ward.nurse,
        {
            "patient_id": secluded.id,
            "level": "q5",
            "effective_at": friday(7, 10),
            "ordered_by": "Dr Synthetic",
            "reason": "Threatening peers",
            "client_key": key(),
        },
    )
    seen(ward, secluded, friday(7, 15), "talking_with_peers")
    start_restraint(
        ward.db,
        ward.nurse,
        {
            "patient_id": secluded.id,
            "kind": "seclusion",
            "ordered_at": friday(7, 18),
            "ordered_by": "Dr Synthetic",
            "started_at": friday(7, 18),
            "client_key": key(),
        },
    )
    seen(ward, secluded, friday(7, 20), "in_seclusion")
    record_sleep_report(
        ward.db,
        ward.tech,
        {
            "patient_id": secluded.id,
            "night_of": "2026-11-19",
            "reported_at": friday(7, 12),
            "hours_slept": 4,
            "quality": "poor",
            "client_key": key(),
        },
    )
    return ward, {"calm": calm, "busy": busy, "secluded": secluded}


def test_the_handoff_gives_each_patient_a_headline_and_counts(day_shift):
    ward, patients = day_shift

    handoff = handoff_for(ward.db, ward.charge, ward.ward.id)

    assert (handoff.shift_name, handoff.start, handoff.end) == ("Day", friday(7), friday(15))
    assert [row.room for row in handoff.patients] == ["201", "202", "203"]
    assert [row.patient_id for row in handoff.patients] == [
        patients[name].id for name in ("secluded", "busy", "calm")
    ]
    secluded, busy, calm = handoff.patients

    assert busy.headline == (
        "incident (MOAS 6) · 1 missed check · 2 late checks · refused CBT/DBT skills group"
    )
    assert (busy.checks.done, busy.checks.late, busy.checks.missed) == (2, 2, 1)
    assert busy.checks.reasons == {
        "pulled to an emergency": 1,
        "in the bathroom": 1,
        "off unit": 1,
    }
    assert [note.note for note in busy.notes] == ["Asked for PRN"]
    assert busy.notes[0].staff_name.startswith("Test technician")

    assert secluded.headline == "seclusion ongoing · level now q5 · poor sleep (4 h reported, poor)"
    assert secluded.level.level == ObservationLevel.q5
    assert [change.level for change in secluded.level_changes] == [ObservationLevel.q5]
    assert [episode.open for episode in secluded.restraints] == [True]

    assert calm.headline == "Nothing to report"
    assert (calm.checks.done, calm.checks.late, calm.checks.missed) == (4, 0, 0)
    assert (calm.last_mood.at, calm.last_mood.mood, calm.last_mood.anxiety) == (
        friday(7, 20),
        6,
        2,
    )
    assert calm.groups_missed == []

    totals = handoff.totals
    assert (totals.patients, totals.checks_done, totals.checks_late, totals.checks_missed) == (
        3,
        9,
        2,
        1,
    )
    assert (totals.incidents, totals.restraints_open, totals.groups_missed) == (1, 1, 1)
    assert (totals.poor_sleep, totals.level_changes) == (1, 1)


def test_the_night_shift_hands_over_a_poor_night_estimated_from_checks(db, clock):
    clock.now = local(2026, 11, 20, 7, 30)
    ward = Ward.create(db, patients=0)
    patient = ward.admit(level=ObservationLevel.routine_q60, admitted_at=local(2026, 11, 19, 21, 0))
    # Night of Thursday, 22:00-07:00 (9 h): hourly checks, 3 of 9 asleep: about 3 h.
    statuses = ["awake_in_bed"] * 3 + ["asleep"] * 3 + ["awake_in_bed"] * 3
    for n, status in enumerate(statuses):
        seen(ward, patient, local(2026, 11, 19, 22, 10) + timedelta(hours=n), status)

    night = handoff_for(
        db, ward.charge, ward.ward.id, start=local(2026, 11, 19, 23), end=local(2026, 11, 20, 7)
    )
    row = night.patients[0]
    assert night.shift_name == "Night"
    assert row.checks.done == 8  # the 22:10 check was the evening shift's
    assert [(c.source, c.hours) for c in row.poor_sleep] == [("estimated", 3.0)]
    assert row.headline == "poor sleep (about 3.0 h on checks)"

    # The night ended as the day shift began: the day shift does not hand it over again.
    day = handoff_for(db, ward.charge, ward.ward.id)
    assert day.shift_name == "Day"
    assert day.patients[0].poor_sleep == []


def test_a_patient_with_no_checks_recorded_is_flagged(ward, clock):
    clock.advance(minutes=20)  # 30 min since admission on q15: past 1.5 intervals
    handoff = handoff_for(ward.db, ward.charge, ward.ward.id)
    assert {row.headline for row in handoff.patients} == {
        "admitted this shift · no checks recorded"
    }


def test_only_the_wards_charge_nurse_sees_the_handoff_and_it_is_audited(ward, db):
    other = Ward.create(db)
    for actor in (ward.tech, ward.nurse, ward.admin, other.charge):
        with pytest.raises(NotAllowed):
            handoff_for(db, actor, ward.ward.id)

    handoff_for(db, ward.charge, ward.ward.id)

    with db.reading() as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.action == AuditAction.view)).all()
    assert [(row.staff_id, row.ward_id, row.patient_id, row.detail) for row in rows] == [
        (ward.charge.staff_id, ward.ward.id, None, "handoff")
    ]
