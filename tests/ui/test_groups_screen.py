"""The groups form's state: from a started group to one batch saved all at once."""

import pytest

from app.services.errors import InvalidInput
from app.services.groups import group_session, record_attendance_batch, start_group_session
from app.ui.screens.groups import GroupForm, GroupStart
from models.codes import Attendance, GroupType, ParticipationLevel, ParticipationQuality


@pytest.fixture
def group(ward):
    start = GroupStart(group_type=GroupType.process_group, title="")
    return start_group_session(ward.db, ward.tech, start.as_request(ward.ward.id, ward.db.clock()))


def test_starting_needs_a_kind_of_group(ward):
    start = GroupStart()
    assert start.missing() == ["Choose the kind of group."]
    start.group_type = GroupType.exercise
    assert start.missing() == []


def test_every_admitted_patient_is_on_the_form_unmarked(ward, group):
    form = GroupForm.open(group)
    assert form.name == "Process group"
    assert [mark.patient_id for mark in form.marks] == [p.id for p in ward.patients]
    assert form.entries() == []
    assert form.summary() == "3 not marked"


def test_the_whole_form_is_saved_in_one_batch_and_locked(ward, group):
    first, second, third = ward.patients
    form = GroupForm.open(group)
    form.mark(first.id, Attendance.attended)
    form.set_level(first.id, ParticipationLevel.active)
    form.set_quality(first.id, ParticipationQuality.sharing)
    form.mark(second.id, Attendance.refused)
    assert form.summary() == "1 attended · 1 refused · 1 not marked"
    assert form.unmarked() == [third.display_name]

    saved = record_attendance_batch(ward.db, ward.tech, group.id, form.entries())
    form.apply_saved(saved)

    reread = group_session(ward.db, ward.tech, group.id)
    marked = {row.patient_id: row.attendance for row in reread.roster}
    assert marked[first.id].attendance == Attendance.attended
    assert marked[first.id].participation_level == ParticipationLevel.active
    assert marked[first.id].participation_quality == ParticipationQuality.sharing
    assert marked[second.id].attendance == Attendance.refused
    assert marked[second.id].participation_level is None
    assert marked[third.id] is None
    assert form.entries() == []  # nothing left to send
    with pytest.raises(ValueError):
        form.mark(first.id, Attendance.excused)  # a saved row is changed by amending it


def test_a_retried_save_stores_nothing_twice(ward, group):
    form = GroupForm.open(group)
    form.mark_the_rest(Attendance.attended)
    entries = form.entries()
    first = record_attendance_batch(ward.db, ward.tech, group.id, entries)
    # The answer was lost (Wi-Fi dropped); the same form is saved again.
    again = record_attendance_batch(ward.db, ward.tech, group.id, form.entries())
    assert [read.id for read in again] == [read.id for read in first]
    assert all(read.replayed for read in again)


def test_a_form_opened_later_shows_who_is_already_saved(ward, group):
    form = GroupForm.open(group)
    form.mark(ward.patients[0].id, Attendance.excused)
    record_attendance_batch(ward.db, ward.tech, group.id, form.entries())

    reopened = GroupForm.open(group_session(ward.db, ward.tech, group.id))
    assert [mark.saved for mark in reopened.marks] == [True, False, False]
    assert reopened.marks[0].attendance == Attendance.excused
    assert reopened.mark_the_rest(Attendance.did_not_attend) == 2
    assert [entry["patient_id"] for entry in reopened.entries()] == [
        patient.id for patient in ward.patients[1:]
    ]


def test_participation_is_cleared_when_the_patient_turns_out_absent(ward, group):
    patient = ward.patients[0]
    form = GroupForm.open(group)
    form.mark(patient.id, Attendance.late_arrival)
    form.set_level(patient.id, ParticipationLevel.minimal)
    form.mark(patient.id, Attendance.left_early)
    assert form.row(patient.id).level == ParticipationLevel.minimal  # still present
    form.mark(patient.id, Attendance.did_not_attend)
    assert form.row(patient.id).level is None
    with pytest.raises(ValueError):
        form.set_quality(patient.id, ParticipationQuality.expected)
    # What the form sends passes the service's own rule.
    record_attendance_batch(ward.db, ward.tech, group.id, form.entries())


def test_an_empty_form_is_refused_by_the_service(ward, group):
    with pytest.raises(InvalidInput):
        record_attendance_batch(ward.db, ward.tech, group.id, GroupForm.open(group).entries())


def test_each_opened_form_has_its_own_keys(group):
    one, two = GroupForm.open(group), GroupForm.open(group)
    assert one.marks[0].client_key != two.marks[0].client_key
    assert GroupStart().client_key != GroupStart().client_key
