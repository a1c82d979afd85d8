from datetime import timedelta

import pytest

from app.config import Settings
from app.ui.session import WRONG_PINS_ALLOWED, Change, Phase, WardSession
from models import StaffRead
from models.codes import Role

TECH = StaffRead(
    id=7, username="tech", display_name="Demo Tech", role=Role.technician, active=True, ward_ids=[1]
)
SHIFT_TABLET = Settings(idle_lock_minutes=3, idle_sign_out_minutes=30, session_max_minutes=720)


class Seconds:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta).total_seconds()


@pytest.fixture
def seconds() -> Seconds:
    return Seconds()


@pytest.fixture
def session(seconds: Seconds) -> WardSession:
    made = WardSession.from_settings(SHIFT_TABLET, clock=seconds)
    made.sign_in(TECH)
    made.choose_ward(object())  # the ward itself does not matter to the timers
    return made


def test_defaults_come_from_settings(seconds):
    made = WardSession.from_settings(
        Settings(idle_lock_minutes=0.05, idle_sign_out_minutes=30, session_max_minutes=720),
        clock=seconds,
    )
    assert made.idle_lock == 3
    assert made.idle_sign_out == 1800
    assert made.longest == 720 * 60


def test_three_idle_minutes_lock_the_session(session, seconds):
    seconds.advance(minutes=2, seconds=59)
    assert session.tick() is None
    seconds.advance(seconds=1)
    assert session.tick() == Change.locked
    assert session.phase == Phase.locked
    assert session.staff == TECH  # the same user's session waits behind the PIN
    assert session.tick() is None  # locking happens once


def test_activity_postpones_the_lock(session, seconds):
    seconds.advance(minutes=2)
    session.touch()
    seconds.advance(minutes=2)
    assert session.tick() is None
    seconds.advance(minutes=1)
    assert session.tick() == Change.locked


def test_taps_on_the_lock_screen_do_not_count_as_activity(session, seconds):
    seconds.advance(minutes=3)
    session.tick()
    seconds.advance(minutes=26)
    session.touch()
    seconds.advance(minutes=1)
    assert session.tick() == Change.ended


def test_the_right_pin_unlocks_the_same_session(session, seconds):
    seconds.advance(minutes=3)
    session.tick()
    assert session.may_try_pin()
    session.pin_accepted()
    assert session.phase == Phase.active
    seconds.advance(minutes=2)
    assert session.tick() is None


def test_five_wrong_pins_end_the_session(session, seconds):
    seconds.advance(minutes=3)
    session.tick()
    for _ in range(WRONG_PINS_ALLOWED - 1):
        assert session.pin_refused() is False
    assert session.pins_left == 1
    assert session.pin_refused() is True
    assert session.phase == Phase.signed_out
    assert session.staff is None
    assert "wrong PIN" in session.ended_because


def test_thirty_idle_minutes_need_a_full_sign_in(session, seconds):
    seconds.advance(minutes=3)
    session.tick()
    seconds.advance(minutes=27)
    assert not session.may_try_pin()
    assert session.phase == Phase.signed_out
    assert "idle" in session.ended_because


def test_twelve_hours_end_even_a_busy_session(session, seconds):
    for _ in range(12 * 60 - 1):
        seconds.advance(minutes=1)
        session.touch()
        assert session.tick() is None
    seconds.advance(minutes=1)
    session.touch()
    assert session.tick() == Change.ended
    assert "12 hours" in session.ended_because


def test_a_new_sign_in_starts_every_timer_again(session, seconds):
    seconds.advance(minutes=3)
    session.tick()
    session.sign_out()
    assert session.tick() is None
    session.sign_in(TECH)
    assert session.phase == Phase.choosing_ward
    seconds.advance(minutes=2)
    assert session.tick() is None


def test_signed_out_sessions_have_no_timers(seconds):
    made = WardSession.from_settings(SHIFT_TABLET, clock=seconds)
    seconds.advance(hours=13)
    assert made.tick() is None
    assert not made.may_try_pin()
