from datetime import timedelta

import pytest
from sqlmodel import select

from app.services.access import Actor
from app.services.accounts import (
    CONSOLE,
    LOCK_DURATION,
    SIGN_IN_REFUSED,
    create_staff,
    deactivate,
    issue_pin,
    set_password,
    sign_in,
    verify_pin,
)
from app.services.errors import InvalidInput, NotAllowed, SignInFailed
from models import AuditEvent, Staff
from models.codes import AuditAction
from tests.factories import PASSWORD


def test_sign_in_with_the_right_password(ward):
    staff = sign_in(ward.db, "Technician-" + ward.ward.code, PASSWORD)
    assert staff.id == ward.tech.staff_id
    assert staff.ward_ids == [ward.ward.id]


def test_unknown_user_and_wrong_password_get_the_same_message(ward):
    with pytest.raises(SignInFailed) as unknown:
        sign_in(ward.db, "nobody", PASSWORD)
    with pytest.raises(SignInFailed) as wrong:
        sign_in(ward.db, ward.tech.username, "wrong password")
    assert unknown.value.message == wrong.value.message == SIGN_IN_REFUSED


def test_repeated_failures_lock_the_account_for_a_limited_time(ward, clock):
    for _ in range(5):
        with pytest.raises(SignInFailed):
            sign_in(ward.db, ward.tech.username, "wrong password")
    with pytest.raises(SignInFailed, match="Too many failed sign-ins"):
        sign_in(ward.db, ward.tech.username, PASSWORD)
    clock.advance(seconds=LOCK_DURATION.total_seconds() + 1)
    assert sign_in(ward.db, ward.tech.username, PASSWORD).id == ward.tech.staff_id
    with ward.db.reading() as session:
        failures = session.exec(
            select(AuditEvent).where(AuditEvent.action == AuditAction.sign_in_failed)
        ).all()
    assert len(failures) == 6
    assert "locked" in failures[4].detail


@pytest.mark.parametrize("password", ["short", "x" * 129])
def test_passwords_are_8_to_128_characters(ward, password):
    with pytest.raises(InvalidInput, match="8 to 128"):
        set_password(ward.db, CONSOLE, ward.tech.staff_id, password)


def test_long_unicode_passphrase_is_accepted(ward):
    passphrase = "Ölçü 山の上の月 — grüne Wiesen " * 3
    set_password(ward.db, ward.tech, ward.tech.staff_id, passphrase)
    assert sign_in(ward.db, ward.tech.username, passphrase).id == ward.tech.staff_id


def test_pin_is_six_random_digits_and_stored_only_as_a_keyed_verifier(ward):
    pin = issue_pin(ward.db, ward.tech, ward.tech.staff_id)
    assert len(pin) == 6 and pin.isdigit()
    with ward.db.reading() as session:
        staff = session.get(Staff, ward.tech.staff_id)
    assert pin not in staff.pin_verifier
    assert verify_pin(ward.db, ward.tech, pin)
    wrong = f"{(int(pin) + 1) % 1_000_000:06d}"
    assert not verify_pin(ward.db, ward.tech, wrong)
    # Another user's PIN opens nothing.
    issue_pin(ward.db, ward.nurse, ward.nurse.staff_id, pin="135790")
    assert not verify_pin(ward.db, ward.tech, "135790") or pin == "135790"


def test_technician_cannot_manage_accounts(ward):
    with pytest.raises(NotAllowed):
        create_staff(
            ward.db,
            ward.tech,
            {"username": "x1", "display_name": "X", "role": "admin", "password": PASSWORD},
        )
    with pytest.raises(NotAllowed):
        issue_pin(ward.db, ward.tech, ward.nurse.staff_id)


def test_deactivated_staff_can_neither_sign_in_nor_act(ward, clock):
    from app.services.rounds import rounds_for

    deactivate(ward.db, ward.admin, ward.tech.staff_id)
    with pytest.raises(SignInFailed):
        sign_in(ward.db, ward.tech.username, PASSWORD)
    with pytest.raises(NotAllowed, match="not active"):
        rounds_for(ward.db, Actor(ward.tech.staff_id), ward.ward.id)
    with ward.db.reading() as session:
        assert session.get(Staff, ward.tech.staff_id) is not None  # kept, never deleted
    clock.advance(minutes=timedelta(minutes=1).total_seconds() / 60)


def _audited(db, action: AuditAction) -> list[AuditEvent]:
    with db.reading() as session:
        return session.exec(select(AuditEvent).where(AuditEvent.action == action)).all()


@pytest.mark.parametrize("password", ["lone \ud800 surrogate", "\udc80\udcff" * 4])
def test_a_password_with_a_lone_surrogate_is_a_wrong_password(ward, password):
    with pytest.raises(SignInFailed) as refused:
        sign_in(ward.db, ward.tech.username, password)
    assert refused.value.message == SIGN_IN_REFUSED
    [failure] = _audited(ward.db, AuditAction.sign_in_failed)
    assert failure.staff_id == ward.tech.staff_id and failure.detail == "wrong password"
    with ward.db.reading() as session:
        assert session.get(Staff, ward.tech.staff_id).failed_sign_ins == 1


@pytest.mark.parametrize(
    "pin", ["12\ud80034", "\udfff" * 6, "\uff11\uff12\uff13\uff14\uff15\uff16", ""]
)
def test_a_pin_that_is_not_six_digits_is_a_wrong_pin(ward, pin):
    issue_pin(ward.db, ward.tech, ward.tech.staff_id)
    assert verify_pin(ward.db, ward.tech, pin) is False
    [failure] = _audited(ward.db, AuditAction.unlock_failed)
    assert failure.staff_id == ward.tech.staff_id
