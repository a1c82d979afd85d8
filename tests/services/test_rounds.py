from datetime import timedelta

import pytest

from app.services.check_ins import record_check_in
from app.services.errors import NotAllowed
from app.services.levels import change_level
from app.services.rounds import DueState, rounds_for
from models import RestraintEpisode
from models.codes import ObservationLevel
from tests.factories import key


def seen(ward, patient, at):
    return record_check_in(
        ward.db,
        ward.tech,
        {
            "patient_id": patient.id,
            "observed_at": at,
            "location": "day_room",
            "status": "resting",
            "client_key": key(),
        },
    )


def test_overdue_patients_come_first_with_minutes_overdue(ward, clock):
    first, second, third = ward.patients  # q15, admitted 10 min ago
    seen(ward, first, clock())
    seen(ward, second, clock() + timedelta(minutes=1))
    clock.advance(minutes=10)
    seen(ward, third, clock())
    clock.advance(minutes=20)  # first: 30 min since check, late after 22.5

    rounds = rounds_for(ward.db, ward.tech, ward.ward.id)

    assert [row.patient_id for row in rounds.rows] == [first.id, second.id, third.id]
    top = rounds.rows[0]
    assert top.state == DueState.overdue
    assert top.minutes_overdue == 7
    assert top.escalation == 2  # past 0 and 5 minutes: charge nurse
    assert rounds.rows[2].state == DueState.due  # 20 min since: due, still on time
    assert rounds.overdue_count == 2
    assert top.last_check.location == "day_room"


def test_upcoming_until_one_interval_has_passed(ward, clock):
    patient = ward.patients[0]
    seen(ward, patient, clock())
    clock.advance(minutes=14)
    row = next(
        r for r in rounds_for(ward.db, ward.tech, ward.ward.id).rows if r.patient_id == patient.id
    )
    assert row.state == DueState.upcoming
    assert row.due_at == clock() + timedelta(minutes=1)


def test_stopped_observations_are_not_due(ward, clock):
    patient = ward.patients[0]
    change_level(
        ward.db,
        ward.nurse,
        {
            "patient_id": patient.id,
            "level": ObservationLevel.stopped,
            "effective_at": clock(),
            "ordered_by": "Dr. Synthetic",
            "reason": "Transferred to medical unit",
            "client_key": key(),
        },
    )
    clock.advance(hours=3)
    row = next(
        r for r in rounds_for(ward.db, ward.tech, ward.ward.id).rows if r.patient_id == patient.id
    )
    assert row.state == DueState.not_observed
    assert row.level.level == ObservationLevel.stopped


def test_open_restraint_deadlines_are_listed(ward, clock):
    patient = ward.patients[0]
    with ward.db.writing() as session:
        session.add(
            RestraintEpisode(
                patient_id=patient.id,
                ward_id=ward.ward.id,
                kind="seclusion",
                ordered_at=clock(),
                ordered_by="Dr. Synthetic",
                started_at=clock(),
                age_at_order=36,
                order_expires_at=clock() + timedelta(hours=4),
                face_to_face_due_at=clock() + timedelta(hours=1),
                guardian_notice_due_at=clock() + timedelta(hours=24),
                recorded_by=ward.nurse.staff_id,
                client_key=key(),
                request_hash="x",
            )
        )
    clock.advance(minutes=70)
    row = next(
        r for r in rounds_for(ward.db, ward.tech, ward.ward.id).rows if r.patient_id == patient.id
    )
    assert [(d.what, d.passed) for d in row.deadlines] == [
        ("Face-to-face evaluation", True),
        ("Order expires", False),
        ("Guardian notice", False),
    ]


def test_rounds_of_another_ward_are_refused(ward, db):
    from tests.factories import Ward

    other = Ward.create(db)
    with pytest.raises(NotAllowed):
        rounds_for(db, other.tech, ward.ward.id)
    with pytest.raises(NotAllowed):
        rounds_for(db, ward.admin, ward.ward.id)
