"""The shared-tablet session rules: idle lock, PIN re-entry, idle sign-out, longest session.

No Flet here: the app shell asks `tick()` once a second and acts on what it returns; tests drive
the same object with a fake clock. CLINICAL.md: lock after a few idle minutes; re-enter with a
6-digit PIN only into the same user's still-valid session; 5 wrong PINs end it; full sign-in
after 30 min idle or 12 h.
"""

import time
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum

from app.config import Settings
from app.services.wards import WardRead
from models import StaffRead

WRONG_PINS_ALLOWED = 5


class Phase(StrEnum):
    signed_out = "signed_out"
    choosing_ward = "choosing_ward"
    active = "active"
    locked = "locked"


class Change(StrEnum):
    """What a tick decided."""

    locked = "locked"  # idle too long: show the PIN pad
    ended = "ended"  # idle far too long, or the session is too old: full sign-in


class WardSession:
    """One browser session's sign-in state and timers, measured on `clock` (seconds)."""

    def __init__(
        self,
        *,
        idle_lock: timedelta,
        idle_sign_out: timedelta,
        longest: timedelta,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_lock = idle_lock.total_seconds()
        self.idle_sign_out = idle_sign_out.total_seconds()
        self.longest = longest.total_seconds()
        self.clock = clock
        self.phase = Phase.signed_out
        self.staff: StaffRead | None = None
        self.ward: WardRead | None = None
        self.wrong_pins = 0
        self.signed_in_at = 0.0
        self.last_activity = 0.0
        # Why the last session ended, for the sign-in screen to say.
        self.ended_because = ""

    @classmethod
    def from_settings(
        cls, settings: Settings, clock: Callable[[], float] = time.monotonic
    ) -> "WardSession":
        return cls(
            idle_lock=timedelta(minutes=settings.idle_lock_minutes),
            idle_sign_out=timedelta(minutes=settings.idle_sign_out_minutes),
            longest=timedelta(minutes=settings.session_max_minutes),
            clock=clock,
        )

    @property
    def signed_in(self) -> bool:
        return self.phase in (Phase.choosing_ward, Phase.active, Phase.locked)

    def sign_in(self, staff: StaffRead) -> None:
        """A full sign-in: every timer starts again."""
        now = self.clock()
        self.staff = staff
        self.ward = None
        self.phase = Phase.choosing_ward
        self.wrong_pins = 0
        self.signed_in_at = now
        self.last_activity = now
        self.ended_because = ""

    def choose_ward(self, ward: WardRead) -> None:
        if self.phase not in (Phase.choosing_ward, Phase.active):
            raise RuntimeError(f"cannot choose a ward while {self.phase}")
        self.ward = ward
        self.phase = Phase.active
        self.touch()

    def change_ward(self) -> None:
        """Go back to choosing a ward (staff on several wards), keeping the sign-in."""
        if self.phase == Phase.active:
            self.phase = Phase.choosing_ward
            self.touch()

    def touch(self) -> None:
        """The user did something. A locked screen's taps do not count: only the PIN does."""
        if self.phase in (Phase.active, Phase.choosing_ward):
            self.last_activity = self.clock()

    def idle_for(self) -> float:
        return self.clock() - self.last_activity

    def expired(self) -> bool:
        """Whether only a full sign-in may continue (idle sign-out or the longest session)."""
        now = self.clock()
        return (
            now - self.last_activity >= self.idle_sign_out
            or now - self.signed_in_at >= self.longest
        )

    def tick(self) -> Change | None:
        """Apply the timers; what changed, if anything."""
        if not self.signed_in:
            return None
        if self.expired():
            self.sign_out(
                "Signed out after 12 hours. Please sign in again."
                if self.clock() - self.signed_in_at >= self.longest
                else "Signed out after a long time idle. Please sign in again."
            )
            return Change.ended
        if self.phase in (Phase.active, Phase.choosing_ward) and self.idle_for() >= self.idle_lock:
            self.phase = Phase.locked
            self.wrong_pins = 0
            return Change.locked
        return None

    def lock(self) -> None:
        """Lock now (the user asked to)."""
        if self.phase in (Phase.active, Phase.choosing_ward):
            self.phase = Phase.locked
            self.wrong_pins = 0

    def may_try_pin(self) -> bool:
        """Whether a PIN may still unlock this session (checked before asking the server)."""
        if self.phase != Phase.locked:
            return False
        if self.expired():
            self.tick()
            return False
        return True

    def pin_accepted(self) -> None:
        if self.phase != Phase.locked:
            raise RuntimeError("the session is not locked")
        self.phase = Phase.active if self.ward is not None else Phase.choosing_ward
        self.wrong_pins = 0
        self.last_activity = self.clock()

    def pin_refused(self) -> bool:
        """Count a wrong PIN; True when that was the last try and the session has ended."""
        self.wrong_pins += 1
        if self.wrong_pins >= WRONG_PINS_ALLOWED:
            self.sign_out("Too many wrong PINs. Please sign in again.")
            return True
        return False

    @property
    def pins_left(self) -> int:
        return WRONG_PINS_ALLOWED - self.wrong_pins

    def sign_out(self, because: str = "") -> None:
        self.phase = Phase.signed_out
        self.staff = None
        self.ward = None
        self.wrong_pins = 0
        self.ended_because = because
