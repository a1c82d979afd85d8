from datetime import timedelta

import pytest

from app.services.drafts import close_draft, open_drafts, save_draft
from app.services.errors import InvalidInput, NotAllowed
from tests.factories import Ward, key


def draft(ward: Ward, client_key: str, **fields):
    return save_draft(
        ward.db,
        ward.tech,
        client_key=client_key,
        form="check_in",
        patient_id=ward.patients[0].id,
        fields=fields,
    )


def test_a_saved_draft_is_offered_back_to_its_author(ward, clock):
    form_key = key()
    draft(ward, form_key, location="day_room", note="Asked for water")

    [offered] = open_drafts(ward.db, ward.tech)

    assert offered.client_key == form_key
    assert offered.form == "check_in"
    assert offered.patient_id == ward.patients[0].id
    assert offered.fields == {"location": "day_room", "note": "Asked for water"}
    assert offered.updated_at == clock()


def test_saving_again_updates_the_same_draft(ward, clock):
    form_key = key()
    draft(ward, form_key, location="day_room")
    clock.advance(seconds=20)
    draft(ward, form_key, location="dining", mood=4)

    [offered] = open_drafts(ward.db, ward.tech)
    assert offered.fields == {"location": "dining", "mood": 4}
    assert offered.updated_at == clock()


def test_other_staff_never_see_a_draft(ward):
    draft(ward, key(), note="private")
    assert open_drafts(ward.db, ward.nurse) == []


def test_closed_drafts_are_not_offered_and_stay_closed(ward):
    form_key = key()
    draft(ward, form_key, location="day_room")
    close_draft(ward.db, ward.tech, form_key)
    assert open_drafts(ward.db, ward.tech) == []

    # A debounced save arriving after the form was saved must not reopen it.
    again = draft(ward, form_key, location="dining")
    assert again.closed_at is not None
    assert open_drafts(ward.db, ward.tech) == []


def test_closing_a_draft_that_was_never_kept_is_harmless(ward):
    close_draft(ward.db, ward.tech, key())
    assert open_drafts(ward.db, ward.tech) == []


@pytest.mark.parametrize("form_key", ["lone \ud800 surrogate", "nul\x00in-the-key", "short", ""])
def test_closing_under_a_key_no_form_could_have_is_refused(ward, form_key):
    with pytest.raises(InvalidInput, match="Form key"):
        close_draft(ward.db, ward.tech, form_key)


def test_drafts_are_newest_first_and_old_ones_lapse(ward, clock):
    old, new = key(), key()
    draft(ward, old, note="first")
    clock.advance(minutes=5)
    draft(ward, new, note="second")
    assert [d.client_key for d in open_drafts(ward.db, ward.tech)] == [new, old]

    clock.advance(hours=11, minutes=58)
    assert [d.client_key for d in open_drafts(ward.db, ward.tech)] == [new]
    assert len(open_drafts(ward.db, ward.tech, lifetime=None)) == 2
    clock.advance(minutes=5)
    assert open_drafts(ward.db, ward.tech) == []


def test_a_draft_for_a_patient_on_another_ward_is_refused(ward, db):
    other = Ward.create(db, patients=1)
    with pytest.raises(NotAllowed):
        save_draft(
            db,
            ward.tech,
            client_key=key(),
            form="check_in",
            patient_id=other.patients[0].id,
            fields={"note": "x"},
        )
    assert open_drafts(db, ward.tech) == []


def test_an_admin_keeps_no_patient_drafts(ward):
    with pytest.raises(NotAllowed):
        save_draft(
            ward.db,
            ward.admin,
            client_key=key(),
            form="check_in",
            patient_id=ward.patients[0].id,
            fields={},
        )


@pytest.mark.parametrize(
    ("client_key", "form", "fields"),
    [
        ("short", "check_in", {}),
        (key(), "Check In!", {}),
        (key(), "check_in", {"note": "x" * 30_000}),
    ],
)
def test_malformed_drafts_are_refused(ward, client_key, form, fields):
    with pytest.raises(InvalidInput):
        save_draft(
            ward.db, ward.tech, client_key=client_key, form=form, patient_id=None, fields=fields
        )


def test_a_draft_without_a_patient_is_kept(ward, clock):
    form_key = key()
    save_draft(ward.db, ward.tech, client_key=form_key, form="group", patient_id=None, fields={})
    clock.advance(seconds=1)
    assert [d.client_key for d in open_drafts(ward.db, ward.tech)] == [form_key]
    assert open_drafts(ward.db, ward.tech)[0].updated_at == clock() - timedelta(seconds=1)
