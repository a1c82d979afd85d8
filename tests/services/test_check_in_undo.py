import pytest
from sqlmodel import select

from app.services.check_ins import (
    UNDO_REASON,
    last_ward_change,
    record_routine_check,
    undo_check_in,
)
from app.services.errors import NotAllowed
from app.services.rounds import rounds_for
from models import AuditEvent, Correction
from tests.factories import Ward, key


def routine(ward: Ward, patient_index: int = 0, actor=None):
    return record_routine_check(
        ward.db,
        actor or ward.tech,
        {
            "patient_id": ward.patients[patient_index].id,
            "observed_at": ward.db.clock(),
            "client_key": key(),
        },
    )


def last_check_id(ward: Ward, patient_id: int) -> int | None:
    row = next(
        r for r in rounds_for(ward.db, ward.tech, ward.ward.id).rows if r.patient_id == patient_id
    )
    return row.last_check.id if row.last_check else None


def test_a_technician_undoes_their_own_check_right_after_entry(ward, clock):
    saved = routine(ward)
    clock.advance(seconds=30)

    correction_id = undo_check_in(ward.db, ward.tech, saved.id)

    assert last_check_id(ward, saved.patient_id) is None
    with ward.db.reading() as session:
        correction = session.get(Correction, correction_id)
        assert (correction.action, correction.reason) == ("void", UNDO_REASON)
        audit = session.exec(
            select(AuditEvent).where(AuditEvent.action == "void", AuditEvent.record_id == saved.id)
        ).one()
        assert audit.staff_id == ward.tech.staff_id


def test_undoing_twice_returns_the_first_void(ward):
    saved = routine(ward)
    assert undo_check_in(ward.db, ward.tech, saved.id) == undo_check_in(
        ward.db, ward.tech, saved.id
    )


def test_undo_is_refused_after_two_minutes(ward, clock):
    saved = routine(ward)
    clock.advance(minutes=2, seconds=1)
    with pytest.raises(NotAllowed, match="Too late"):
        undo_check_in(ward.db, ward.tech, saved.id)
    assert last_check_id(ward, saved.patient_id) == saved.id


def test_nobody_undoes_another_persons_check(ward):
    saved = routine(ward)
    with pytest.raises(NotAllowed):
        undo_check_in(ward.db, ward.nurse, saved.id)
    assert last_check_id(ward, saved.patient_id) == saved.id


def test_a_check_may_be_entered_again_after_undo(ward, clock):
    saved = routine(ward)
    undo_check_in(ward.db, ward.tech, saved.id)
    clock.advance(seconds=5)
    again = routine(ward)
    assert last_check_id(ward, saved.patient_id) == again.id


def test_last_ward_change_moves_with_checks_on_that_ward_only(ward, db, clock):
    other = Ward.create(db, patients=1)
    before = last_ward_change(db, ward.tech, ward.ward.id)
    assert last_ward_change(db, ward.tech, ward.ward.id, after=before) == before

    record_routine_check(
        db,
        other.tech,
        {"patient_id": other.patients[0].id, "observed_at": clock(), "client_key": key()},
    )
    assert last_ward_change(db, ward.tech, ward.ward.id, after=before) == before

    saved = routine(ward)
    moved = last_ward_change(db, ward.tech, ward.ward.id, after=before)
    assert moved > before
    clock.advance(seconds=10)
    undo_check_in(db, ward.tech, saved.id)
    assert last_ward_change(db, ward.tech, ward.ward.id, after=moved) > moved


def test_last_ward_change_needs_the_ward(ward, db):
    other = Ward.create(db, patients=0)
    with pytest.raises(NotAllowed):
        last_ward_change(db, ward.tech, other.ward.id)


def test_undo_window_is_measured_from_recording(ward, clock):
    saved = routine(ward)
    clock.advance(minutes=1, seconds=59)
    undo_check_in(ward.db, ward.tech, saved.id)
    assert last_check_id(ward, saved.patient_id) is None
