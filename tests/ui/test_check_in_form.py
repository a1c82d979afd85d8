from datetime import UTC, datetime, timedelta

import pytest

from app.services.drafts import DraftRead
from app.services.errors import InvalidInput
from app.ui.check_in_form import FORM, CheckInForm
from models.codes import Affect, Behaviour, LateReason, Location, Status
from tests.ui.test_routine import check

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


def test_a_new_form_is_prefilled_from_the_last_check_but_not_the_patients_answers():
    last = check().model_copy(
        update={"behaviours": [Behaviour.anxious], "affect": Affect.anxious, "mood": 3}
    )
    form = CheckInForm.open(5, NOW, last)
    assert (form.location, form.status) == (Location.day_room, Status.resting)
    assert form.behaviours == {Behaviour.anxious}
    assert form.affect == Affect.anxious
    assert form.mood is None and form.anxiety is None  # not asked, which is not 0
    assert not form.touched
    assert form.observed_at == NOW


def test_each_opened_form_has_its_own_key():
    assert CheckInForm.open(5, NOW, None).client_key != CheckInForm.open(5, NOW, None).client_key


def test_the_form_maps_to_a_valid_check_in():
    form = CheckInForm.open(5, NOW - timedelta(minutes=1), None)
    form.set("location", Location.dining)
    form.set("status", Status.eating)
    form.toggle_behaviour(Behaviour.restless)
    form.set("mood", 0)
    form.set("note", "  Ate half  ")
    made = form.to_create(NOW)
    assert made.patient_id == 5
    assert made.client_key == form.client_key
    assert (made.location, made.status, made.behaviours) == (
        Location.dining,
        Status.eating,
        [Behaviour.restless],
    )
    assert (made.mood, made.anxiety, made.note) == (0, None, "Ate half")


def test_an_incomplete_form_says_what_is_missing():
    form = CheckInForm.open(5, NOW, None)
    assert form.missing() == [
        "Choose where the patient is.",
        "Choose what the patient is doing.",
    ]
    with pytest.raises(InvalidInput):
        form.to_create(NOW)


def test_calm_and_distress_codes_exclude_each_other():
    form = CheckInForm.open(5, NOW, None)
    form.toggle_behaviour(Behaviour.calm)
    form.toggle_behaviour(Behaviour.anxious)
    assert form.behaviours == {Behaviour.anxious}
    form.toggle_behaviour(Behaviour.restless)
    form.toggle_behaviour(Behaviour.calm)
    assert form.behaviours == {Behaviour.calm}
    form.toggle_behaviour(Behaviour.calm)
    assert form.behaviours == set()


def test_a_draft_brings_the_form_back_under_the_same_key():
    form = CheckInForm.open(5, NOW, check())
    form.set("mood", 4)
    form.set("late_reason", LateReason.patient_refused)
    form.toggle_behaviour(Behaviour.withdrawn)
    form.set("note", "Stayed in room")
    draft = DraftRead(
        id=1,
        client_key=form.client_key,
        form=FORM,
        patient_id=5,
        fields=form.to_draft(),
        updated_at=NOW,
        closed_at=None,
    )
    back = CheckInForm.from_draft(draft)
    assert back.as_request() == form.as_request()


def test_a_draft_with_unknown_codes_asks_again():
    draft = DraftRead(
        id=1,
        client_key="abcdef0123456789",
        form=FORM,
        patient_id=5,
        fields={"observed_at": NOW.isoformat(), "location": "roof", "mood": 11},
        updated_at=NOW,
        closed_at=None,
    )
    back = CheckInForm.from_draft(draft)
    assert back.location is None and back.mood is None


def test_a_missed_check_records_only_its_reason():
    form = CheckInForm.open(5, NOW - timedelta(minutes=1), check())
    form.set("missed", True)
    assert form.missing() == ["Choose why the patient was not seen."]
    form.set("late_reason", LateReason.off_unit)
    made = form.to_create(NOW)
    assert made.missed and made.late_reason == LateReason.off_unit
    # The pre-filled observations were not made this time: none is recorded.
    assert (made.location, made.status, made.behaviours, made.affect) == (None, None, [], None)
    form.set("missed", False)
    assert form.to_create(NOW).location == Location.day_room
