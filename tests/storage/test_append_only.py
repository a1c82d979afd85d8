"""The database itself refuses changing or deleting clinical records and the audit trail.

Rows are made through the services; the attacks are raw SQL, as any client of the database
could send them. A refusal is an IntegrityError on both engines.
"""

from datetime import timedelta

import pytest
from sqlalchemy import Boolean, DateTime, Integer, text
from sqlalchemy.exc import IntegrityError

from app.services.audit import APPEND_ONLY_GUARDS, missing_guards, verify_chain
from app.services.break_glass import open_break_glass
from app.services.check_ins import record_check_in
from app.services.corrections import void_record
from app.services.groups import record_attendance, start_group_session
from app.services.incidents import record_incident, start_restraint, update_restraint
from app.services.levels import change_level
from app.services.sleep import record_sleep_report
from app.services.treatment import record_treatment_event
from models import RestraintEpisode
from models.codes import RecordKind
from tests.factories import Ward, key

# Text and number columns each table has, to try changing.
CHANGES = {
    "audit_event": "detail = 'nothing to see'",
    "break_glass_grant": "reason = 'a better reason'",
    "check_in": "note = 'rewritten'",
    "correction": "reason = 'rewritten'",
    "group_attendance": "note = 'rewritten'",
    "group_session": "title = 'rewritten'",
    "incident": "moas_verbal = 0, moas_total = 0",
    "level_change": "reason = 'rewritten'",
    "sleep_report": "hours_slept = 9",
    "treatment_event": "detail = 'rewritten'",
    "restraint_episode": "release_criteria = 'rewritten'",
}


@pytest.fixture
def records(ward, clock) -> Ward:
    """One row of every guarded kind, made the way the ward makes them."""
    db, patient = ward.db, ward.patients[0]
    seen = clock() - timedelta(minutes=1)
    check = record_check_in(
        db,
        ward.tech,
        {
            "patient_id": patient.id,
            "observed_at": seen,
            "location": "day_room",
            "status": "reading",
            "client_key": key(),
        },
    )
    void_record(db, ward.nurse, RecordKind.check_in, check.id, "Entered for the wrong patient")
    record_sleep_report(
        db,
        ward.tech,
        {
            "patient_id": patient.id,
            "night_of": (clock() - timedelta(days=1)).date(),
            "reported_at": seen,
            "hours_slept": 6,
            "quality": "fair",
            "client_key": key(),
        },
    )
    group = start_group_session(
        db,
        ward.tech,
        {
            "ward_id": ward.ward.id,
            "group_type": "psychoeducation",
            "started_at": seen,
            "client_key": key(),
        },
    )
    record_attendance(
        db,
        ward.tech,
        {
            "session_id": group.id,
            "patient_id": patient.id,
            "attendance": "refused",
            "client_key": key(),
        },
    )
    incident = record_incident(
        db,
        ward.tech,
        {
            "patient_id": patient.id,
            "occurred_at": seen,
            "incident_type": "verbal_aggression",
            "location": "hallway",
            "moas_verbal": 2,
            "client_key": key(),
        },
    )
    start_restraint(
        db,
        ward.nurse,
        {
            "patient_id": patient.id,
            "incident_id": incident.id,
            "kind": "seclusion",
            "ordered_at": seen,
            "ordered_by": "Dr. Synthetic",
            "started_at": seen,
            "client_key": key(),
        },
    )
    record_treatment_event(
        db,
        ward.nurse,
        {
            "patient_id": patient.id,
            "kind": "medication_started",
            "effective_at": seen,
            "name": "Synthetic medication",
            "client_key": key(),
        },
    )
    change_level(
        db,
        ward.nurse,
        {
            "patient_id": patient.id,
            "level": "q5",
            "effective_at": seen,
            "ordered_by": "Dr. Synthetic",
            "reason": "Agitated after the phone call",
            "client_key": key(),
        },
    )
    other = Ward.create(db, patients=1)
    open_break_glass(
        db,
        ward.nurse,
        {
            "mrn": other.patients[0].mrn,
            "reason": "Transferred tonight; checking the last 24 hours",
            "client_key": key(),
        },
    )
    return ward


def refused(db, statement: str) -> str:
    with pytest.raises(IntegrityError) as refusal, db.writing() as session:
        session.execute(text(statement))
    return str(refusal.value.orig)


def count(db, table: str) -> int:
    with db.reading() as session:
        return session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_every_guard_is_in_place(db):
    with db.reading() as session:
        assert missing_guards(session) == []
    assert len(APPEND_ONLY_GUARDS) == 23


@pytest.mark.parametrize("table", sorted(CHANGES))
def test_stored_rows_cannot_be_deleted(records, table):
    before = count(records.db, table)
    assert before >= 1
    assert "append-only" in refused(records.db, f"DELETE FROM {table}")
    assert count(records.db, table) == before


@pytest.mark.parametrize("table", sorted(set(CHANGES) - {"restraint_episode"}))
def test_stored_rows_cannot_be_changed(records, table):
    assert "append-only" in refused(records.db, f"UPDATE {table} SET {CHANGES[table]}")
    with records.db.reading() as session:
        assert verify_chain(session, key=records.db.keys.audit).first_bad_id is None


def test_the_chain_head_moves_with_every_audit_row_but_cannot_be_deleted(records):
    with records.db.reading() as session:
        assert verify_chain(session, key=records.db.keys.audit).first_bad_id is None
    assert "append-only" in refused(records.db, "DELETE FROM audit_chain_head")
    assert count(records.db, "audit_chain_head") == 1


def changed(column, dialect: str) -> str:
    """An SQL expression for a different value of the column, of the same type and length."""
    name = column.name
    kind = getattr(column.type, "impl_instance", column.type)
    if isinstance(kind, Boolean):
        return f"NOT {name}"
    if isinstance(kind, Integer):
        return f"{name} + 1"
    if isinstance(kind, DateTime) and dialect != "sqlite":
        return f"{name} + interval '1 minute'"
    # Text, and SQLite's stored times: the first character swapped.
    return f"CASE WHEN {name} LIKE 'x%' THEN 'y' ELSE 'x' END || substr({name}, 2)"


FIXED = [
    column
    for column in RestraintEpisode.__table__.columns
    if column.name not in {"face_to_face_at", "guardian_notified_at", "ended_at", "debrief"}
]


@pytest.mark.parametrize("column", FIXED, ids=[column.name for column in FIXED])
def test_a_restraint_episodes_order_and_start_never_change(records, column):
    """Every column other than the four later facts, including any added later."""
    statement = (
        f"UPDATE restraint_episode SET {column.name} = {changed(column, records.db.dialect)}"
    )
    assert "restraint_episode" in refused(records.db, statement)


def test_a_restraint_episodes_later_facts_are_filled_once(records, clock):
    db, nurse = records.db, records.nurse
    with db.reading() as session:
        episode_id = session.execute(text("SELECT id FROM restraint_episode")).scalar_one()
    clock.advance(minutes=30)
    update_restraint(db, nurse, episode_id, {"face_to_face_at": clock()})
    clock.advance(minutes=30)
    update_restraint(db, nurse, episode_id, {"ended_at": clock(), "debrief": "Talked it over"})

    for change in (
        "face_to_face_at = NULL",
        "ended_at = NULL",
        "debrief = ''",
        "debrief = 'Rewritten debrief'",
    ):
        assert "restraint_episode" in refused(db, f"UPDATE restraint_episode SET {change}")
    # Still empty, so it may be filled once, even by hand.
    with db.writing() as session:
        session.execute(
            text("UPDATE restraint_episode SET guardian_notified_at = :at"), {"at": clock()}
        )
    assert "restraint_episode" in refused(
        db, "UPDATE restraint_episode SET guardian_notified_at = NULL"
    )
    with db.reading() as session:
        row = session.get(RestraintEpisode, episode_id)
    assert row.debrief == "Talked it over"
    assert None not in (row.face_to_face_at, row.ended_at, row.guardian_notified_at)


@pytest.mark.postgres
def test_truncate_is_not_stopped_by_row_triggers_so_test_fixtures_still_work(records):
    """PostgreSQL row triggers do not fire on TRUNCATE (the fixtures rely on it); a role that
    may truncate must not be the application's."""
    with records.db.writing() as session:
        session.execute(text("TRUNCATE audit_event, break_glass_grant CASCADE"))
        assert session.execute(text("SELECT count(*) FROM audit_event")).scalar_one() == 0
        session.rollback()
    assert count(records.db, "audit_event") > 0
