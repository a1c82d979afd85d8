from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select

from app.services.check_ins import record_check_in
from app.services.corrections import amend_record, void_record
from app.services.errors import InvalidInput, NotAllowed
from app.services.groups import record_attendance, start_group_session
from app.services.incidents import record_incident, start_restraint
from app.services.levels import change_level
from app.services.sleep import record_sleep_report
from app.services.timeline import EntryStatus, timeline_for
from app.services.treatment import record_treatment_event
from app.services.wards import discharge_patient
from models import (
    AuditEvent,
    CheckIn,
    GroupAttendance,
    GroupSession,
    Incident,
    LevelChange,
    RestraintEpisode,
    SleepReport,
    TreatmentEvent,
)
from models.codes import AuditAction, RecordKind
from tests.factories import Ward, check_form, key
from tests.trace import traced


def views(db, patient_id) -> int:
    with db.reading() as session:
        return session.exec(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == AuditAction.view, AuditEvent.patient_id == patient_id)
        ).one()


def one_of_each(ward, clock):
    """A patient with one record of every kind, a minute apart, oldest first (admission 17:50)."""
    patient = ward.patients[0]
    base = clock() - timedelta(minutes=9)  # 17:51 UTC
    at = [base + timedelta(minutes=n) for n in range(7)]
    record_sleep_report(
        ward.db,
        ward.tech,
        {
            "patient_id": patient.id,
            "night_of": "2026-11-19",
            "reported_at": at[0],
            "hours_slept": 6.5,
            "quality": "fair",
            "client_key": key(),
        },
    )
    record_treatment_event(
        ward.db,
        ward.nurse,
        {
            "patient_id": patient.id,
            "kind": "medication_started",
            "effective_at": at[1],
            "name": "Sertraline 50 mg",
            "client_key": key(),
        },
    )
    group = start_group_session(
        ward.db,
        ward.tech,
        {
            "ward_id": ward.ward.id,
            "group_type": "cbt_dbt_skills",
            "started_at": at[2],
            "client_key": key(),
        },
    )
    record_attendance(
        ward.db,
        ward.tech,
        {
            "session_id": group.id,
            "patient_id": patient.id,
            "attendance": "attended",
            "participation_level": "active",
            "client_key": key(),
        },
    )
    record_check_in(ward.db, ward.tech, check_form(patient.id, at[3], mood=6, anxiety=3))
    record_incident(
        ward.db,
        ward.tech,
        {
            "patient_id": patient.id,
            "occurred_at": at[4],
            "incident_type": "verbal_aggression",
            "location": "day_room",
            "moas_verbal": 2,
            "moas_property": 2,
            "client_key": key(),
        },
    )
    start_restraint(
        ward.db,
        ward.nurse,
        {
            "patient_id": patient.id,
            "kind": "seclusion",
            "ordered_at": at[5],
            "ordered_by": "Dr Synthetic",
            "started_at": at[5],
            "client_key": key(),
        },
    )
    change_level(
        ward.db,
        ward.nurse,
        {
            "patient_id": patient.id,
            "level": "one_to_one_eyesight",
            "effective_at": at[6],
            "ordered_by": "Dr Synthetic",
            "reason": "Aggression in the day room",
            "client_key": key(),
        },
    )
    return patient


def test_every_kind_appears_newest_first_in_ward_words(ward, clock):
    patient = one_of_each(ward, clock)

    page = timeline_for(ward.db, ward.tech, patient.id)

    assert [entry.kind for entry in page.entries] == [
        RecordKind.level_change,
        RecordKind.restraint,
        RecordKind.incident,
        RecordKind.check_in,
        RecordKind.group_attendance,
        RecordKind.treatment,
        RecordKind.sleep_report,
        RecordKind.level_change,  # the admission order, 17:50
    ]
    titles = {entry.kind: entry.title for entry in page.entries[:-1]}
    assert titles[RecordKind.check_in] == "Day room · watching TV · calm"
    assert titles[RecordKind.incident] == "Incident · verbal aggression · MOAS 6"
    assert titles[RecordKind.level_change] == "Level: 1:1 eyesight"
    assert titles[RecordKind.group_attendance] == (
        "CBT/DBT skills group · attended · active participation"
    )
    assert titles[RecordKind.sleep_report] == "Sleep report · 6.5 h · fair"
    assert titles[RecordKind.restraint] == "Seclusion · ongoing"
    assert titles[RecordKind.treatment] == "Medication started · Sertraline 50 mg"
    seen = page.entries[3]
    assert (seen.mood, seen.anxiety, seen.late, seen.missed) == (6, 3, False, False)
    assert seen.staff_name.startswith("Test technician")
    assert all(entry.status == EntryStatus.current for entry in page.entries)
    assert page.next_cursor is None


def test_pages_follow_on_without_gaps_or_repeats(ward, clock):
    patient = one_of_each(ward, clock)
    everything = timeline_for(ward.db, ward.tech, patient.id).entries

    pages, cursor = [], None
    while True:
        page = timeline_for(ward.db, ward.tech, patient.id, cursor=cursor, limit=3)
        pages.append(page.entries)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [len(entries) for entries in pages] == [3, 3, 2]
    flat = [(entry.kind, entry.id) for entries in pages for entry in entries]
    assert flat == [(entry.kind, entry.id) for entry in everything]


TABLE_ROWS = {
    RecordKind.check_in: lambda p, w, s, at, n: CheckIn(
        patient_id=p, ward_id=w, observed_at=at, location="own_room", status="asleep", **n
    ),
    RecordKind.sleep_report: lambda p, w, s, at, n: SleepReport(
        patient_id=p, night_of=at.date(), reported_at=at, hours_slept=7, quality="good", **n
    ),
    RecordKind.incident: lambda p, w, s, at, n: Incident(
        patient_id=p, ward_id=w, occurred_at=at, incident_type="fall", location="hallway", **n
    ),
    RecordKind.restraint: lambda p, w, s, at, n: RestraintEpisode(
        patient_id=p,
        ward_id=w,
        kind="seclusion",
        ordered_at=at,
        ordered_by="Dr Synthetic",
        started_at=at,
        age_at_order=36,
        order_expires_at=at + timedelta(hours=4),
        face_to_face_due_at=at + timedelta(hours=1),
        guardian_notice_due_at=at + timedelta(hours=24),
        **n,
    ),
    RecordKind.treatment: lambda p, w, s, at, n: TreatmentEvent(
        patient_id=p, kind="therapy_started", effective_at=at, name="DBT", **n
    ),
    RecordKind.level_change: lambda p, w, s, at, n: LevelChange(
        patient_id=p, level="q15", effective_at=at, ordered_by="Dr Synthetic", reason="Review", **n
    ),
}


def insert_rows(ward, patient_id, rows: list[tuple[RecordKind, datetime]]) -> None:
    """Store rows straight into their tables, in the order given (ids follow that order)."""
    with ward.db.writing() as session:
        staff_id = ward.tech.staff_id
        for kind, at in rows:
            stamp = {
                "recorded_by": staff_id,
                "recorded_at": at,
                "client_key": key(),
                "request_hash": "test",
            }
            if kind == RecordKind.group_attendance:
                group = GroupSession(
                    ward_id=ward.ward.id, group_type="exercise", started_at=at, **stamp
                )
                session.add(group)
                session.flush()
                row = GroupAttendance(
                    session_id=group.id,
                    patient_id=patient_id,
                    attendance="refused",
                    **{**stamp, "client_key": key()},
                )
            else:
                row = TABLE_ROWS[kind](patient_id, ward.ward.id, staff_id, at, stamp)
            session.add(row)
            session.flush()


BASE = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(list(RecordKind)), st.integers(min_value=0, max_value=5)),
        max_size=25,
    ),
    limit=st.integers(min_value=1, max_value=7),
)
def test_paging_returns_every_entry_once_in_order_whatever_the_insert_order(ward, rows, limit):
    # A fresh patient per example; few distinct minutes, so many entries share a time.
    patient = ward.admit(admitted_at=BASE - timedelta(days=1))
    rows = [(kind, BASE + timedelta(minutes=minute)) for kind, minute in rows]
    insert_rows(ward, patient.id, rows)
    everything = timeline_for(ward.db, ward.tech, patient.id, start=BASE, limit=200).entries
    expected = sorted(
        ((entry.at, entry.kind.value, entry.id) for entry in everything),
        key=lambda item: (-item[0].timestamp(), item[1], -item[2]),
    )
    assert [(e.at, e.kind.value, e.id) for e in everything] == expected
    assert len(everything) == len(rows)

    paged, cursor = [], None
    for _ in range(len(rows) + 2):
        page = timeline_for(ward.db, ward.tech, patient.id, start=BASE, cursor=cursor, limit=limit)
        assert len(page.entries) <= limit
        paged += [(entry.kind, entry.id) for entry in page.entries]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert paged == [(entry.kind, entry.id) for entry in everything]


def test_kind_and_date_filters(ward, clock):
    patient = one_of_each(ward, clock)
    base = clock() - timedelta(minutes=9)

    incidents = timeline_for(
        ward.db, ward.tech, patient.id, kinds={RecordKind.incident, RecordKind.check_in}
    )
    assert [entry.kind for entry in incidents.entries] == [
        RecordKind.incident,
        RecordKind.check_in,
    ]

    # Start inclusive, end exclusive: 17:52 (treatment) up to but not including 17:55.
    window = timeline_for(
        ward.db,
        ward.tech,
        patient.id,
        start=base + timedelta(minutes=1),
        end=base + timedelta(minutes=4),
    )
    assert [entry.kind for entry in window.entries] == [
        RecordKind.check_in,
        RecordKind.group_attendance,
        RecordKind.treatment,
    ]
    assert timeline_for(ward.db, ward.tech, patient.id, kinds=set()).entries == []


def test_voided_and_amended_records_stay_on_the_timeline_marked(ward, clock):
    patient = ward.patients[0]
    first = record_check_in(
        ward.db, ward.tech, check_form(patient.id, clock() - timedelta(minutes=5))
    )
    second = record_check_in(ward.db, ward.tech, check_form(patient.id, clock(), mood=2))
    clock.advance(minutes=3)
    void_record(ward.db, ward.nurse, RecordKind.check_in, first.id, "Entered for the wrong patient")
    amended = amend_record(
        ward.db,
        ward.nurse,
        RecordKind.check_in,
        second.id,
        check_form(patient.id, clock() - timedelta(minutes=3), mood=7),
        "Mood was 7, not 2",
    )

    entries = timeline_for(ward.db, ward.tech, patient.id, kinds={RecordKind.check_in}).entries
    by_id = {entry.id: entry for entry in entries}
    assert set(by_id) == {first.id, second.id, amended.replacement_id}

    voided = by_id[first.id]
    assert voided.status == EntryStatus.voided
    assert voided.correction.reason == "Entered for the wrong patient"
    assert voided.correction.corrected_by.startswith("Test nurse")
    assert voided.correction.corrected_at == clock()

    original = by_id[second.id]
    assert original.status == EntryStatus.amended
    assert original.mood == 2
    assert original.correction.replacement_id == amended.replacement_id
    assert original.correction.reason == "Mood was 7, not 2"

    replacement = by_id[amended.replacement_id]
    assert replacement.status == EntryStatus.current
    assert replacement.mood == 7
    assert replacement.amends == f"amends #{second.id}"


def test_other_wards_staff_and_admins_cannot_read_the_timeline(ward, db):
    patient = ward.patients[0]
    other = Ward.create(db)
    with pytest.raises(NotAllowed, match="not on your wards"):
        timeline_for(db, other.tech, patient.id)
    with pytest.raises(NotAllowed, match="role"):
        timeline_for(db, ward.admin, patient.id)
    with pytest.raises(NotAllowed):
        timeline_for(db, ward.tech, 999_999)
    assert views(db, patient.id) == 0


def test_a_discharged_patients_timeline_stays_readable(ward, clock):
    patient = ward.patients[0]
    record_check_in(ward.db, ward.tech, check_form(patient.id, clock()))
    discharge_patient(ward.db, ward.charge, patient.id)
    page = timeline_for(ward.db, ward.tech, patient.id)
    assert RecordKind.check_in in {entry.kind for entry in page.entries}


def test_each_view_writes_one_audit_row(ward, clock):
    patient = one_of_each(ward, clock)
    before = views(ward.db, patient.id)
    page = timeline_for(ward.db, ward.nurse, patient.id, limit=5)
    timeline_for(ward.db, ward.nurse, patient.id, limit=5, cursor=page.next_cursor)
    assert views(ward.db, patient.id) == before + 2
    with ward.db.reading() as session:
        row = session.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (row.staff_id, row.ward_id, row.detail) == (
        ward.nurse.staff_id,
        ward.ward.id,
        "timeline",
    )


def test_a_tampered_cursor_or_page_size_is_refused(ward):
    patient = ward.patients[0]
    with pytest.raises(InvalidInput, match="out of date"):
        timeline_for(ward.db, ward.tech, patient.id, cursor="not-a-cursor")
    with pytest.raises(InvalidInput):
        timeline_for(ward.db, ward.tech, patient.id, limit=0)
    with pytest.raises(InvalidInput, match="time zone"):
        timeline_for(ward.db, ward.tech, patient.id, start=datetime(2026, 11, 1))


def test_every_group_type_has_a_name_without_a_doubled_word():
    from app.services.timeline import group_name
    from models.codes import GroupType

    for group_type in GroupType:
        name = group_name(group_type.value)
        assert "group group" not in name and name.strip() == name and name


def test_a_page_is_read_in_one_statement_per_kind_on_the_page(ward, clock, db):
    """The page's positions, then each kind's records with their writers and corrections;
    the ward comes with the authorization and is not read again. On PostgreSQL the records of
    all kinds travel together, in one round trip."""
    one_of_each(ward, clock)
    with traced(db.reader) as sent:
        page = timeline_for(db, ward.charge, ward.patients[0].id)
    assert {entry.kind for entry in page.entries} == set(RecordKind)
    if db.dialect == "sqlite":
        statements = sent.statements(2)
        assert statements[:3] == [
            "BEGIN",
            "SELECT staff.id,",  # the account, the patient, their ward and the assignment
            "SELECT anon_1.kind,",  # the page's positions
        ]
        # Then one statement per kind, each from its own table, and the end of the snapshot.
        tables = {line.removeprefix("SELECT ").split(".")[0] for line in statements[3:-1]}
        assert len(statements[3:-1]) == len(tables) == len(RecordKind)
        assert statements[-1] == "COMMIT"
    else:
        # BEGIN; the authorization; the positions; the records of every kind; COMMIT; then
        # the audit row's transaction: the pooled connection's ping and two waits of its own.
        assert sent.waits() == 8, sent.messages()
