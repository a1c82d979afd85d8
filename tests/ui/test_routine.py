from datetime import UTC, datetime

import pytest

from app.services.check_ins import CheckInRead
from app.services.errors import Conflict, InvalidInput
from app.ui.routine import UNDO_SECONDS, RoutineCheck, RoutineState, asks_for_late_reason
from models.codes import LateReason, Location, Status

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
LATE = InvalidInput(["This check is 25 min past due: choose a reason for the delay."])


class Seconds:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def check(check_id: int = 11) -> CheckInRead:
    return CheckInRead(
        id=check_id,
        patient_id=3,
        staff_id=1,
        staff_name="Demo Tech",
        observed_at=NOW,
        recorded_at=NOW,
        location=Location.day_room,
        status=Status.resting,
        behaviours=[],
        affect=None,
        mood=None,
        anxiety=None,
        note="",
        missed=False,
        late=False,
        late_reason=None,
    )


@pytest.fixture
def seconds() -> Seconds:
    return Seconds()


@pytest.fixture
def button(seconds) -> RoutineCheck:
    return RoutineCheck(3, clock=seconds)


def test_one_tap_makes_one_intent_with_a_fresh_key(button):
    intent = button.tap(NOW)
    assert intent is not None
    assert intent.as_request() == {
        "patient_id": 3,
        "observed_at": NOW,
        "client_key": intent.client_key,
        "late_reason": None,
    }
    assert len(intent.client_key) == 32
    assert button.state == RoutineState.saving


def test_a_double_tap_is_ignored_while_saving_and_after_saved(button):
    assert button.tap(NOW) is not None
    assert button.tap(NOW) is None
    button.saved(check())
    assert button.tap(NOW) is None
    assert button.state == RoutineState.saved
    assert button.message == "Saved"


def test_saved_offers_undo_for_five_seconds(button, seconds):
    button.tap(NOW)
    button.saved(check())
    seconds.now += UNDO_SECONDS - 0.1
    assert not button.expire()
    assert button.seconds_left_to_undo() == pytest.approx(0.1)
    seconds.now += 0.2
    assert button.expire()
    assert button.state == RoutineState.ready
    assert button.undo() is None


def test_undo_names_the_saved_check_once(button):
    button.tap(NOW)
    button.saved(check(42))
    assert button.undo() == 42
    assert button.undo() is None  # a double tap on Undo
    button.undone()
    assert button.state == RoutineState.ready
    assert button.message == "Undone"


def test_the_next_tap_after_saving_is_a_new_intent(button, seconds):
    first = button.tap(NOW)
    button.saved(check())
    seconds.now += UNDO_SECONDS + 1
    second = button.tap(NOW)
    assert second is not None and second.client_key != first.client_key


def test_a_late_check_asks_for_a_reason_and_retries_the_same_intent(button):
    first = button.tap(NOW)
    button.refused(LATE)
    assert button.state == RoutineState.needs_reason
    assert button.tap(NOW) is None  # the reason chips are showing

    retry = button.choose_reason(LateReason.patient_refused)
    assert retry.client_key == first.client_key
    assert retry.observed_at == first.observed_at
    assert retry.late_reason == LateReason.patient_refused


def test_other_refusals_are_shown_and_start_over(button):
    first = button.tap(NOW)
    button.refused(Conflict("Alex T. was already checked at 11:58 by Sam."))
    assert button.state == RoutineState.ready
    assert "already checked" in button.message
    assert button.tap(NOW).client_key != first.client_key


def test_a_failure_without_answer_retries_the_same_key(button, seconds):
    first = button.tap(NOW)
    button.failed("Could not reach the server")
    assert button.tap(NOW).client_key == first.client_key
    button.failed("again")
    seconds.now += 61
    assert button.tap(NOW).client_key != first.client_key


def test_cancelling_the_reason_drops_the_intent(button):
    button.tap(NOW)
    button.refused(LATE)
    button.cancel_reason()
    assert button.state == RoutineState.ready
    assert button.choose_reason(LateReason.other) is None


def test_only_the_late_message_asks_for_a_reason():
    assert asks_for_late_reason(LATE)
    assert not asks_for_late_reason(InvalidInput(["Mood must be from 0 to 10."]))
    assert not asks_for_late_reason(Conflict("reason for the delay"))
