import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import func, select

from app.services.corrections import void_record
from app.services.errors import Conflict, InvalidInput, NotAllowed
from app.services.incidents import (
    FACE_TO_FACE,
    GUARDIAN_NOTICE,
    ORDER_EXPIRES,
    open_restraints,
    record_incident,
    start_restraint,
    update_restraint,
)
from app.services.wards import discharge_patient
from models import AuditEvent, RestraintEpisode
from models.codes import RecordKind
from tests.factories import Ward, key


def order(patient_id, at, **fields):
    return {
        "patient_id": patient_id,
        "kind": "seclusion",
        "ordered_at": at,
        "ordered_by": "Dr. Synthetic",
        "started_at": at,
        "release_criteria": "Calm for 15 minutes, no threats",
        "client_key": key(),
        **fields,
    }


def count(db, table) -> int:
    with db.reading() as session:
        return session.exec(select(func.count()).select_from(table)).one()


def last_audit(db) -> AuditEvent:
    with db.reading() as session:
        return session.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()


@pytest.mark.parametrize(
    ("birth_date", "age", "order_hours"),
    [
        (date(1990, 5, 17), 36, 4),  # adult: 4 hours
        (date(2008, 11, 20), 18, 4),  # eighteenth birthday today
        (date(2011, 6, 1), 15, 2),  # ages 9-17: 2 hours
        (date(2017, 11, 20), 9, 2),  # ninth birthday today
        (date(2018, 6, 1), 8, 1),  # under 9: 1 hour
    ],
)
def test_deadlines_follow_the_patients_age_band(ward, clock, birth_date, age, order_hours):
    patient = ward.admit(birth_date=birth_date)
    ordered = clock() - timedelta(minutes=4)
    started = clock() - timedelta(minutes=2)

    episode = start_restraint(ward.db, ward.nurse, order(patient.id, ordered, started_at=started))

    assert episode.age_at_order == age
    assert episode.order_expires_at == ordered + timedelta(hours=order_hours)
    assert episode.face_to_face_due_at == started + timedelta(hours=1)
    assert episode.guardian_notice_due_at == started + timedelta(hours=24)


def test_age_is_counted_on_the_wards_date_not_the_utc_date(ward, clock):
    clock.now = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)  # 21:00 on 20 November in Chicago
    patient = ward.admit(birth_date=date(2008, 11, 21))
    evening = start_restraint(ward.db, ward.nurse, order(patient.id, clock()))
    assert evening.age_at_order == 17
    assert evening.order_expires_at == clock() + timedelta(hours=2)

    clock.now = datetime(2026, 11, 21, 6, 30, tzinfo=UTC)  # 00:30 on his birthday
    after_midnight = start_restraint(ward.db, ward.nurse, order(patient.id, clock()))
    assert after_midnight.age_at_order == 18
    assert after_midnight.order_expires_at == clock() + timedelta(hours=4)


def test_starting_is_audited_and_replays_by_form_key(ward, clock):
    audits = count(ward.db, AuditEvent)
    data = order(ward.patients[0].id, clock())
    first = start_restraint(ward.db, ward.nurse, data)
    again = start_restraint(ward.db, ward.charge, data)
    assert again.id == first.id and again.replayed
    with pytest.raises(Conflict):
        start_restraint(ward.db, ward.nurse, {**data, "kind": "physical_hold"})
    assert count(ward.db, RestraintEpisode) == 1
    assert count(ward.db, AuditEvent) == audits + 1
    audit = last_audit(ward.db)
    assert (audit.action, audit.record_kind, audit.detail) == (
        "create",
        "restraint",
        "started seclusion",
    )


def test_a_start_hours_before_the_order_is_refused(ward, clock):
    with pytest.raises(InvalidInput, match="more than an hour before the order"):
        start_restraint(
            ward.db,
            ward.nurse,
            order(ward.patients[0].id, clock(), started_at=clock() - timedelta(minutes=61)),
        )


def test_technicians_other_wards_and_discharged_patients_are_refused(ward, db, clock):
    patient = ward.patients[0]
    other = Ward.create(db)
    with pytest.raises(NotAllowed, match="role"):
        start_restraint(db, ward.tech, order(patient.id, clock()))
    with pytest.raises(NotAllowed, match="not on your wards"):
        start_restraint(db, other.nurse, order(patient.id, clock()))
    episode = start_restraint(db, ward.nurse, order(patient.id, clock()))
    with pytest.raises(NotAllowed, match="role"):
        update_restraint(db, ward.tech, episode.id, {"ended_at": clock()})
    with pytest.raises(NotAllowed, match="not on your wards"):
        update_restraint(db, other.nurse, episode.id, {"ended_at": clock()})
    with pytest.raises(NotAllowed, match="not on your wards"):
        update_restraint(db, ward.nurse, 999_999, {"ended_at": clock()})
    with pytest.raises(NotAllowed):
        open_restraints(db, other.nurse, ward.ward.id)
    discharge_patient(db, ward.charge, patient.id)
    with pytest.raises(NotAllowed, match="read-only"):
        start_restraint(db, ward.nurse, order(patient.id, clock()))
    assert count(db, RestraintEpisode) == 1


def test_a_linked_incident_must_be_the_same_patients(ward, clock):
    first, second, _ = ward.patients
    theirs = record_incident(
        ward.db,
        ward.tech,
        {
            "patient_id": second.id,
            "occurred_at": clock(),
            "incident_type": "verbal_aggression",
            "location": "hallway",
            "client_key": key(),
        },
    )
    with pytest.raises(InvalidInput, match="not one of this patient's incidents"):
        start_restraint(ward.db, ward.nurse, order(first.id, clock(), incident_id=theirs.id))
    linked = start_restraint(ward.db, ward.nurse, order(second.id, clock(), incident_id=theirs.id))
    assert linked.incident_id == theirs.id


def test_each_later_fact_is_recorded_once(ward, clock):
    started = clock()
    episode = start_restraint(ward.db, ward.nurse, order(ward.patients[0].id, started))
    seen = started + timedelta(minutes=40)
    clock.advance(minutes=45)
    audits = count(ward.db, AuditEvent)

    updated = update_restraint(ward.db, ward.nurse, episode.id, {"face_to_face_at": seen})
    assert updated.face_to_face_at == seen
    assert count(ward.db, AuditEvent) == audits + 1
    assert last_audit(ward.db).detail == "recorded face-to-face"

    # The same fact sent again (a retried tap) changes nothing and writes no audit row.
    again = update_restraint(ward.db, ward.charge, episode.id, {"face_to_face_at": seen})
    assert again.face_to_face_at == seen
    assert count(ward.db, AuditEvent) == audits + 1

    with pytest.raises(Conflict, match=r"already recorded.*cannot be changed"):
        update_restraint(
            ward.db, ward.nurse, episode.id, {"face_to_face_at": seen + timedelta(minutes=1)}
        )
    with ward.db.reading() as session:
        assert session.get(RestraintEpisode, episode.id).face_to_face_at == seen


def test_the_end_and_debrief_can_come_together(ward, clock):
    episode = start_restraint(ward.db, ward.nurse, order(ward.patients[0].id, clock()))
    clock.advance(minutes=50)
    done = update_restraint(
        ward.db,
        ward.nurse,
        episode.id,
        {"ended_at": clock(), "debrief": "Talked through triggers; agreed a calm-down plan."},
    )
    assert done.ended_at == clock() and done.debrief.startswith("Talked")
    assert last_audit(ward.db).detail == "recorded ended, debrief"
    with pytest.raises(Conflict, match="debrief is already recorded"):
        update_restraint(ward.db, ward.nurse, episode.id, {"debrief": "Another account"})


def test_an_end_before_the_start_or_a_debrief_before_the_end_is_refused(ward, clock):
    episode = start_restraint(ward.db, ward.nurse, order(ward.patients[0].id, clock()))
    with pytest.raises(InvalidInput, match="end time is before the episode started"):
        update_restraint(
            ward.db, ward.nurse, episode.id, {"ended_at": clock() - timedelta(minutes=1)}
        )
    with pytest.raises(InvalidInput, match="after the episode has ended"):
        update_restraint(ward.db, ward.nurse, episode.id, {"debrief": "Too early"})
    with pytest.raises(InvalidInput, match="End time is in the future"):
        update_restraint(
            ward.db, ward.nurse, episode.id, {"ended_at": clock() + timedelta(minutes=30)}
        )
    with ward.db.reading() as session:
        row = session.get(RestraintEpisode, episode.id)
    assert (row.ended_at, row.debrief) == (None, "")


def test_overdue_deadlines_are_named_as_they_pass(ward, clock):
    started = clock()
    episode = start_restraint(ward.db, ward.nurse, order(ward.patients[0].id, started))
    assert episode.overdue_items(clock()) == []
    assert [d.what for d in episode.pending_deadlines()] == [
        FACE_TO_FACE,
        ORDER_EXPIRES,
        GUARDIAN_NOTICE,
    ]

    assert episode.overdue_items(started + timedelta(minutes=61)) == [FACE_TO_FACE]

    clock.advance(minutes=30)
    seen = update_restraint(ward.db, ward.nurse, episode.id, {"face_to_face_at": clock()})
    assert seen.overdue_items(started + timedelta(hours=4)) == [ORDER_EXPIRES]
    assert seen.overdue_items(started + timedelta(hours=25)) == [ORDER_EXPIRES, GUARDIAN_NOTICE]

    clock.advance(minutes=30)
    ended = update_restraint(ward.db, ward.nurse, episode.id, {"ended_at": clock()})
    # Released: the order no longer runs, but the guardian is still owed a notice.
    assert ended.overdue_items(started + timedelta(hours=25)) == [GUARDIAN_NOTICE]


def test_open_episodes_are_listed_until_they_end_or_are_voided(ward, clock):
    first, second, third = ward.patients
    # The patients were admitted 10 min ago.
    a = start_restraint(ward.db, ward.nurse, order(first.id, clock() - timedelta(minutes=8)))
    b = start_restraint(ward.db, ward.nurse, order(second.id, clock() - timedelta(minutes=4)))
    c = start_restraint(ward.db, ward.nurse, order(third.id, clock()))

    listed = open_restraints(ward.db, ward.tech, ward.ward.id)
    assert [(e.id, e.patient_name) for e in listed] == [
        (a.id, first.display_name),
        (b.id, second.display_name),
        (c.id, third.display_name),
    ]

    update_restraint(ward.db, ward.nurse, a.id, {"ended_at": clock()})
    void_record(ward.db, ward.nurse, RecordKind.restraint, b.id, "Entered for the wrong patient")
    assert [e.id for e in open_restraints(ward.db, ward.tech, ward.ward.id)] == [c.id]
    with pytest.raises(Conflict, match="corrected; update the newest version"):
        update_restraint(ward.db, ward.nurse, b.id, {"ended_at": clock()})


def test_two_nurses_recording_different_ends_at_once_cannot_both_win(ward, clock):
    started = clock()
    episode = start_restraint(ward.db, ward.nurse, order(ward.patients[0].id, started))
    clock.advance(minutes=30)
    start = threading.Barrier(2)
    outcomes = []

    def end(actor, minutes):
        start.wait()
        try:
            done = update_restraint(
                ward.db, actor, episode.id, {"ended_at": started + timedelta(minutes=minutes)}
            )
            outcomes.append(done.ended_at)
        except Conflict:
            outcomes.append("refused")

    threads = [
        threading.Thread(target=end, args=args) for args in ((ward.nurse, 20), (ward.charge, 25))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes, key=str).count("refused") == 1
    (winner,) = [o for o in outcomes if o != "refused"]
    with ward.db.reading() as session:
        assert session.get(RestraintEpisode, episode.id).ended_at == winner


def test_an_episode_ordered_or_started_before_the_admission_is_refused(ward, clock):
    patient = ward.patients[0]  # admitted 10 min ago
    earlier = clock() - timedelta(minutes=15)
    with pytest.raises(InvalidInput, match=r"Order time is before .* was admitted"):
        start_restraint(ward.db, ward.nurse, order(patient.id, clock(), ordered_at=earlier))
    with pytest.raises(InvalidInput, match=r"Start time is before .* was admitted"):
        start_restraint(ward.db, ward.nurse, order(patient.id, clock(), started_at=earlier))
    assert count(ward.db, RestraintEpisode) == 0
