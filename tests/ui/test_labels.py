from datetime import UTC, datetime, timedelta

import pytest

from app.services.rounds import Deadline
from app.ui.labels import (
    AFFECTS,
    BEHAVIOURS,
    LATE_REASONS,
    LOCATIONS,
    PRECAUTIONS,
    STATUSES,
    Urgency,
    ago,
    clock_time,
    deadline_line,
    due_view,
    last_check_line,
    span,
)
from models.codes import Affect, Behaviour, LateReason, Location, Precaution, Status
from tests.ui.test_routine import check

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("labels", "codes"),
    [
        (LOCATIONS, Location),
        (STATUSES, Status),
        (BEHAVIOURS, Behaviour),
        (AFFECTS, Affect),
        (LATE_REASONS, LateReason),
        (PRECAUTIONS, Precaution),
    ],
)
def test_every_code_has_a_label_in_the_wards_words(labels, codes):
    assert set(labels) == set(codes)
    assert all(label and label[0].isupper() and "_" not in label for label in labels.values())


def test_asleep_is_recorded_as_what_was_seen():
    assert STATUSES[Status.asleep] == "Quiet, breathing observed"


@pytest.mark.parametrize(
    ("minutes", "text"),
    [(0, "0 min"), (12, "12 min"), (60, "1 h"), (72, "1 h 12 min"), (60 * 50, "2 d 2 h")],
)
def test_spans_read_at_a_glance(minutes, text):
    assert span(timedelta(minutes=minutes)) == text


def test_last_check_at_a_glance():
    seen = check().model_copy(update={"observed_at": NOW - timedelta(minutes=12)})
    assert last_check_line(seen, NOW) == "Day room · resting · 12 min ago by Demo Tech"
    asleep = seen.model_copy(update={"location": Location.own_room, "status": Status.asleep})
    assert last_check_line(asleep, NOW).startswith("Own room · quiet, breathing observed")
    assert last_check_line(None, NOW) == "No check yet"
    assert ago(NOW - timedelta(seconds=30), NOW) == "just now"


def test_a_missed_check_says_why():
    missed = check().model_copy(
        update={"missed": True, "late_reason": LateReason.off_unit, "location": None}
    )
    assert last_check_line(missed, NOW).startswith("Missed · off unit · just now")


def test_due_line_counts_down_then_up():
    due_at, late_at = NOW, NOW + timedelta(minutes=7, seconds=30)
    assert due_view(due_at, late_at, NOW - timedelta(minutes=3)).text == "Next check in 3 min"
    assert due_view(due_at, late_at, NOW).urgency == Urgency.due
    over = due_view(due_at, late_at, late_at + timedelta(minutes=4, seconds=10))
    assert (over.text, over.urgency) == ("4 min overdue", Urgency.overdue)
    assert due_view(None, None, NOW).text == "Observations stopped"


def test_restraint_deadlines_count_down_and_say_when_passed():
    deadline = Deadline(
        episode_id=1,
        what="Face-to-face evaluation",
        due_at=NOW + timedelta(minutes=34),
        passed=False,
    )
    assert deadline_line(deadline, NOW) == ("Face-to-face evaluation due in 34 min", False)
    text, passed = deadline_line(deadline, NOW + timedelta(minutes=40))
    assert passed and text == "Face-to-face evaluation due: 6 min past"


def test_clock_time_is_ward_local():
    assert clock_time(NOW, "America/Chicago") == "12:00"


def test_the_routine_button_says_what_it_will_record():
    from app.ui.labels import routine_preview

    seen = check().model_copy(update={"location": Location.dining, "status": Status.eating})
    assert routine_preview(seen, night=False) == "Dining room · eating"
    assert routine_preview(None, night=False) == "Day room · resting"
    assert routine_preview(seen, night=True) == "Own room · quiet, breathing observed"
