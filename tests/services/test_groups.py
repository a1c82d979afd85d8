import threading
from datetime import timedelta

import pytest
from sqlmodel import func, select

from app.services.access import Actor
from app.services.accounts import CONSOLE, create_staff
from app.services.errors import Conflict, InvalidInput, NotAllowed
from app.services.groups import (
    group_session,
    record_attendance,
    record_attendance_batch,
    start_group_session,
)
from app.services.wards import discharge_patient
from models import AuditEvent, GroupAttendance, GroupSession
from tests.factories import PASSWORD, Ward, key


def count(db, table) -> int:
    with db.reading() as session:
        return session.exec(select(func.count()).select_from(table)).one()


def start(ward, clock, actor=None, **fields):
    return start_group_session(
        ward.db,
        actor or ward.tech,
        {
            "ward_id": ward.ward.id,
            "group_type": "cbt_dbt_skills",
            "title": "Distress tolerance",
            "started_at": clock() - timedelta(minutes=5),
            "client_key": key(),
            **fields,
        },
    )


def mark(session_id, patient_id, attendance="attended", **fields):
    entry = {
        "session_id": session_id,
        "patient_id": patient_id,
        "attendance": attendance,
        "client_key": key(),
        **fields,
    }
    if attendance == "attended":
        entry.setdefault("participation_level", "active")
    return entry


def test_a_started_group_lists_the_wards_patients_unmarked_and_is_audited(ward, clock):
    audits = count(ward.db, AuditEvent)
    group = start(ward, clock)
    assert group.group_type == "cbt_dbt_skills" and group.title == "Distress tolerance"
    assert [row.patient_id for row in group.roster] == [p.id for p in ward.patients]
    assert all(row.attendance is None for row in group.roster)
    assert count(ward.db, AuditEvent) == audits + 1


def test_starting_a_group_replays_by_form_key(ward, clock):
    data = {
        "ward_id": ward.ward.id,
        "group_type": "exercise",
        "started_at": clock(),
        "client_key": key(),
    }
    first = start_group_session(ward.db, ward.tech, data)
    again = start_group_session(ward.db, ward.tech, data)
    assert again.id == first.id and again.replayed
    with pytest.raises(Conflict):
        start_group_session(ward.db, ward.tech, {**data, "group_type": "art_music"})
    assert count(ward.db, GroupSession) == 1


def test_groups_of_another_ward_are_out_of_reach(ward, db, clock):
    other = Ward.create(db)
    with pytest.raises(NotAllowed, match="not on your wards"):
        start(ward, clock, actor=other.tech)
    with pytest.raises(NotAllowed, match="role"):
        start(ward, clock, actor=ward.admin)
    group = start(ward, clock)
    with pytest.raises(NotAllowed):
        group_session(db, other.tech, group.id)
    with pytest.raises(NotAllowed):
        record_attendance(db, other.tech, mark(group.id, ward.patients[0].id))
    with pytest.raises(NotAllowed):
        record_attendance_batch(db, other.tech, group.id, [mark(group.id, ward.patients[0].id)])
    with pytest.raises(NotAllowed, match="not on your wards"):
        group_session(db, ward.tech, 999_999)
    assert count(db, GroupAttendance) == 0


def test_attendance_is_shown_on_the_roster_and_audited(ward, clock):
    group = start(ward, clock)
    patient = ward.patients[1]
    audits = count(ward.db, AuditEvent)

    saved = record_attendance(
        ward.db, ward.tech, mark(group.id, patient.id, participation_quality="sharing")
    )

    assert (saved.attendance, saved.participation_level) == ("attended", "active")
    roster = {
        row.patient_id: row.attendance for row in group_session(ward.db, ward.tech, group.id).roster
    }
    assert roster[patient.id].id == saved.id
    assert roster[ward.patients[0].id] is None
    assert count(ward.db, AuditEvent) == audits + 1


def test_attendance_replays_and_a_second_different_marking_asks_for_an_amendment(ward, clock):
    group = start(ward, clock)
    patient = ward.patients[0]
    data = mark(group.id, patient.id, "refused")
    first = record_attendance(ward.db, ward.tech, data)
    assert record_attendance(ward.db, ward.tech, data).id == first.id
    with pytest.raises(Conflict, match="already saved with different details"):
        record_attendance(ward.db, ward.tech, {**data, "attendance": "excused"})
    # The same marking from a resubmitted form (new key) is the same attendance.
    same = record_attendance(ward.db, ward.nurse, mark(group.id, patient.id, "refused"))
    assert same.id == first.id and same.replayed
    with pytest.raises(Conflict, match="Amend it"):
        record_attendance(ward.db, ward.tech, mark(group.id, patient.id, "excused"))
    assert count(ward.db, GroupAttendance) == 1


def test_participation_is_rated_only_for_patients_who_attended(ward, clock):
    group = start(ward, clock)
    with pytest.raises(InvalidInput, match="only be rated for a patient who attended"):
        record_attendance(
            ward.db,
            ward.tech,
            mark(group.id, ward.patients[0].id, "refused", participation_level="minimal"),
        )
    assert count(ward.db, GroupAttendance) == 0


def test_a_patient_of_another_ward_cannot_join_this_wards_group(ward, db, clock):
    other = Ward.create(db)
    both = create_staff(
        db,
        CONSOLE,
        {
            "username": "float-tech",
            "display_name": "Float technician",
            "role": "technician",
            "password": PASSWORD,
            "ward_ids": [ward.ward.id, other.ward.id],
        },
    )
    group = start(ward, clock)
    with pytest.raises(InvalidInput, match="not on this group's ward"):
        record_attendance(db, Actor(both.id, both.username), mark(group.id, other.patients[0].id))
    assert count(db, GroupAttendance) == 0


def test_discharged_patients_leave_the_roster_and_are_read_only(ward, clock):
    group = start(ward, clock)
    marked, unmarked = ward.patients[0], ward.patients[1]
    record_attendance(ward.db, ward.tech, mark(group.id, marked.id))
    discharge_patient(ward.db, ward.charge, marked.id)
    discharge_patient(ward.db, ward.charge, unmarked.id)

    roster = [row.patient_id for row in group_session(ward.db, ward.tech, group.id).roster]

    assert marked.id in roster  # what they did in the group stays visible
    assert unmarked.id not in roster
    with pytest.raises(NotAllowed, match="read-only"):
        record_attendance(ward.db, ward.tech, mark(group.id, unmarked.id))


def test_the_group_form_saves_every_patient_in_one_go(ward, clock):
    group = start(ward, clock)
    audits = count(ward.db, AuditEvent)
    entries = [
        mark(group.id, ward.patients[0].id),
        mark(group.id, ward.patients[1].id, "late_arrival", participation_level="minimal"),
        mark(group.id, ward.patients[2].id, "refused"),
    ]

    saved = record_attendance_batch(ward.db, ward.tech, group.id, entries)

    assert [a.attendance for a in saved] == ["attended", "late_arrival", "refused"]
    assert count(ward.db, GroupAttendance) == 3
    assert count(ward.db, AuditEvent) == audits + 3
    # Sent again (reconnect): the same rows come back, nothing new is written.
    again = record_attendance_batch(ward.db, ward.tech, group.id, entries)
    assert [a.id for a in again] == [a.id for a in saved]
    assert all(a.replayed for a in again)
    assert count(ward.db, GroupAttendance) == 3
    assert count(ward.db, AuditEvent) == audits + 3


def test_entries_need_not_repeat_the_group(ward, clock):
    group = start(ward, clock)
    entry = mark(group.id, ward.patients[0].id)
    del entry["session_id"]
    (saved,) = record_attendance_batch(ward.db, ward.tech, group.id, [entry])
    assert saved.session_id == group.id


def test_a_refused_entry_saves_nothing_and_names_the_patient(ward, clock):
    group = start(ward, clock)
    first, second, third = ward.patients
    before = (count(ward.db, GroupAttendance), count(ward.db, AuditEvent))
    entries = [
        mark(group.id, first.id),
        mark(group.id, second.id, "did_not_attend", participation_level="active"),
        mark(group.id, third.id, "refused"),
    ]
    with pytest.raises(InvalidInput) as refused:
        record_attendance_batch(ward.db, ward.tech, group.id, entries)
    assert refused.value.problems == [
        f"{second.display_name}: Participation can only be rated for a patient who attended."
    ]
    assert (count(ward.db, GroupAttendance), count(ward.db, AuditEvent)) == before


def test_a_conflict_late_in_the_form_rolls_back_the_earlier_entries(ward, clock):
    group = start(ward, clock)
    first, second, _ = ward.patients
    record_attendance(ward.db, ward.tech, mark(group.id, second.id, "refused"))
    before = (count(ward.db, GroupAttendance), count(ward.db, AuditEvent))
    with pytest.raises(Conflict, match=second.display_name):
        record_attendance_batch(
            ward.db,
            ward.tech,
            group.id,
            [mark(group.id, first.id), mark(group.id, second.id, "excused")],
        )
    assert (count(ward.db, GroupAttendance), count(ward.db, AuditEvent)) == before


def test_a_discharged_patient_on_the_form_rolls_back_the_others(ward, clock):
    group = start(ward, clock)
    first, second, _ = ward.patients
    discharge_patient(ward.db, ward.charge, second.id)
    with pytest.raises(NotAllowed, match="read-only"):
        record_attendance_batch(
            ward.db, ward.tech, group.id, [mark(group.id, first.id), mark(group.id, second.id)]
        )
    assert count(ward.db, GroupAttendance) == 0


def test_a_patient_marked_twice_on_one_form_is_refused(ward, clock):
    group = start(ward, clock)
    patient = ward.patients[0]
    with pytest.raises(InvalidInput, match="marked twice"):
        record_attendance_batch(
            ward.db,
            ward.tech,
            group.id,
            [mark(group.id, patient.id), mark(group.id, patient.id, "left_early")],
        )
    assert count(ward.db, GroupAttendance) == 0


def test_an_entry_for_another_group_or_an_empty_form_is_refused(ward, clock):
    group, other_group = start(ward, clock), start(ward, clock)
    stray = [mark(group.id, ward.patients[0].id), mark(other_group.id, ward.patients[1].id)]
    with pytest.raises(InvalidInput) as refused:
        record_attendance_batch(ward.db, ward.tech, group.id, stray)
    assert refused.value.problems == [
        f"{ward.patients[1].display_name}: This entry is for another group."
    ]
    with pytest.raises(InvalidInput, match="Row 1: Patient is required"):
        record_attendance_batch(ward.db, ward.tech, group.id, [{"attendance": "refused"}])
    with pytest.raises(InvalidInput, match="Mark at least one patient"):
        record_attendance_batch(ward.db, ward.tech, group.id, [])
    assert count(ward.db, GroupAttendance) == 0


def test_two_markings_of_one_patient_sent_at_once_make_one(ward, clock):
    group = start(ward, clock)
    patient = ward.patients[0]
    begin = threading.Barrier(2)
    outcomes = []

    def send(actor, attendance):
        begin.wait()
        try:
            saved = record_attendance(ward.db, actor, mark(group.id, patient.id, attendance))
            outcomes.append(saved.attendance)
        except Conflict:
            outcomes.append("conflict")

    threads = [
        threading.Thread(target=send, args=args)
        for args in ((ward.tech, "refused"), (ward.nurse, "excused"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("conflict") == 1
    assert count(ward.db, GroupAttendance) == 1


def test_a_patient_admitted_after_a_group_was_over_is_neither_listed_nor_marked(ward, clock):
    group = start(ward, clock, started_at=clock() - timedelta(hours=2))
    late_comer = ward.admit()  # admitted 10 min ago, long after the group's hour
    joined = ward.admit(admitted_at=clock() - timedelta(minutes=90))  # half an hour in
    listed = [row.patient_id for row in group_session(ward.db, ward.tech, group.id).roster]
    assert joined.id in listed and late_comer.id not in listed
    with pytest.raises(InvalidInput, match="was admitted at 20 Nov 11:50, after this group"):
        record_attendance(ward.db, ward.tech, mark(group.id, late_comer.id))
    assert count(ward.db, GroupAttendance) == 0
    saved = record_attendance(
        ward.db, ward.tech, mark(group.id, joined.id, "late_arrival", participation_level="active")
    )
    assert saved.attendance == "late_arrival"
