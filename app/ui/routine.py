"""The one-tap routine button of a rounds row, as a state machine without Flet.

One tap starts one intent: a fresh form key and the moment seen. Every retry of that intent
(a late-check reason, a dropped connection) reuses both, so the service saves it at most once;
taps while it is saving or just saved are ignored, so a double tap never makes two checks.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from app.services.check_ins import CheckInRead
from app.services.errors import InvalidInput, ServiceError
from models.codes import LateReason

# How long "Saved" offers Undo.
UNDO_SECONDS = 5.0
# A failed save may be retried with the same key this long; after that it is a new check.
RETRY_SECONDS = 60.0


class RoutineState(StrEnum):
    ready = "ready"
    saving = "saving"
    needs_reason = "needs_reason"  # the check is late: the service asked why
    saved = "saved"  # "Saved" with Undo, for UNDO_SECONDS
    undoing = "undoing"
    failed = "failed"  # the save did not answer: a tap retries the same intent


@dataclass(frozen=True)
class RoutineIntent:
    """One tap's request: what `record_routine_check` is called with."""

    patient_id: int
    client_key: str
    observed_at: datetime
    late_reason: LateReason | None = None

    def as_request(self) -> dict:
        return {
            "patient_id": self.patient_id,
            "observed_at": self.observed_at,
            "client_key": self.client_key,
            "late_reason": self.late_reason,
        }


def asks_for_late_reason(refusal: ServiceError) -> bool:
    """Whether a refusal is the service asking why a check is late."""
    return isinstance(refusal, InvalidInput) and any(
        "reason for the delay" in problem for problem in refusal.problems
    )


class RoutineCheck:
    """The routine button of one patient's row."""

    def __init__(self, patient_id: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.patient_id = patient_id
        self.clock = clock
        self.state = RoutineState.ready
        self.intent: RoutineIntent | None = None
        self.saved_check: CheckInRead | None = None
        self.changed_at = clock()
        self.message = ""

    def _enter(self, state: RoutineState, message: str = "") -> None:
        self.state = state
        self.message = message
        self.changed_at = self.clock()

    @property
    def busy(self) -> bool:
        return self.state in (RoutineState.saving, RoutineState.undoing)

    def tap(self, now: datetime) -> RoutineIntent | None:
        """The button was tapped: the intent to save, or None when the tap is to be ignored."""
        self.expire()
        retry = self.state == RoutineState.failed and self.intent is not None
        if retry and self.clock() - self.changed_at <= RETRY_SECONDS:
            self._enter(RoutineState.saving)
            return self.intent
        if self.state not in (RoutineState.ready, RoutineState.failed):
            return None
        self.intent = RoutineIntent(self.patient_id, uuid.uuid4().hex, now)
        self.saved_check = None
        self._enter(RoutineState.saving)
        return self.intent

    def choose_reason(self, reason: LateReason) -> RoutineIntent | None:
        """A late-check reason was chosen: the same intent again, with the reason."""
        if self.state != RoutineState.needs_reason or self.intent is None:
            return None
        self.intent = replace(self.intent, late_reason=reason)
        self._enter(RoutineState.saving)
        return self.intent

    def cancel_reason(self) -> None:
        if self.state == RoutineState.needs_reason:
            self.intent = None
            self._enter(RoutineState.ready)

    def saved(self, check: CheckInRead) -> None:
        """The service answered: the check is stored."""
        self.saved_check = check
        self._enter(RoutineState.saved, "Saved")

    def refused(self, refusal: ServiceError) -> None:
        """The service said no: ask for a late reason, or show why and start over."""
        if asks_for_late_reason(refusal) and self.intent and self.intent.late_reason is None:
            self._enter(RoutineState.needs_reason, refusal.message)
            return
        self.intent = None
        self._enter(RoutineState.ready, refusal.message)

    def failed(self, message: str) -> None:
        """No answer (an unexpected error): keep the intent, so a retry cannot duplicate."""
        self._enter(RoutineState.failed, message)

    def undo(self) -> int | None:
        """Undo was tapped: the check to void, or None when there is nothing to undo."""
        if self.state != RoutineState.saved or self.saved_check is None:
            return None
        self._enter(RoutineState.undoing)
        return self.saved_check.id

    def undone(self) -> None:
        self.saved_check = None
        self.intent = None
        self._enter(RoutineState.ready, "Undone")

    def undo_refused(self, message: str) -> None:
        self.intent = None
        self._enter(RoutineState.ready, message)

    def seconds_left_to_undo(self) -> float:
        if self.state != RoutineState.saved:
            return 0.0
        return max(0.0, UNDO_SECONDS - (self.clock() - self.changed_at))

    def expire(self) -> bool:
        """End the Undo offer once its time is up; True when something changed."""
        if self.state == RoutineState.saved and self.seconds_left_to_undo() <= 0:
            self.intent = None
            self._enter(RoutineState.ready)
            return True
        return False
