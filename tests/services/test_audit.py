from sqlalchemy import text
from sqlmodel import select

from app.services.audit import missing_guards, verify_chain
from app.services.check_ins import record_check_in
from models import AuditEvent
from tests.factories import key


def make_some_history(ward, clock):
    for patient in ward.patients:
        record_check_in(
            ward.db,
            ward.tech,
            {
                "patient_id": patient.id,
                "observed_at": clock(),
                "location": "own_room",
                "status": "reading",
                "client_key": key(),
            },
        )


def test_audit_chain_verifies_when_untouched(ward, clock):
    make_some_history(ward, clock)
    with ward.db.reading() as session:
        result = verify_chain(session, key=ward.db.keys.audit)
    assert result.first_bad_id is None
    assert result.rows_checked > 10


def tamper(session, statement: str, trigger: str) -> None:
    """Run `statement` past an append-only trigger, as an attacker with DDL rights could,
    then put the trigger back (the PostgreSQL test database is shared between tests)."""
    if session.get_bind().dialect.name == "sqlite":
        create = session.execute(
            text("SELECT sql FROM sqlite_master WHERE name = :name"), {"name": trigger}
        ).scalar_one()
        session.execute(text(f"DROP TRIGGER {trigger}"))
        session.execute(text(statement))
        session.execute(text(create))
    else:
        session.execute(text(f"ALTER TABLE audit_event DISABLE TRIGGER {trigger}"))
        session.execute(text(statement))
        session.execute(text(f"ALTER TABLE audit_event ENABLE TRIGGER {trigger}"))
    assert missing_guards(session) == []


def test_an_altered_audit_row_is_named(ward, clock):
    make_some_history(ward, clock)
    with ward.db.writing() as session:
        tamper(
            session,
            "UPDATE audit_event SET detail = 'nothing to see' WHERE id = 5",
            "audit_event_no_update",
        )
    with ward.db.reading() as session:
        result = verify_chain(session, key=ward.db.keys.audit)
    assert result.first_bad_id == 5


def test_a_deleted_audit_row_is_named(ward, clock):
    make_some_history(ward, clock)
    with ward.db.writing() as session:
        tamper(session, "DELETE FROM audit_event WHERE id = 7", "audit_event_no_delete")
    with ward.db.reading() as session:
        result = verify_chain(session, key=ward.db.keys.audit)
    assert result.first_bad_id == 7
    assert "missing" in result.problem


def test_the_chain_does_not_verify_with_another_key(ward, clock):
    make_some_history(ward, clock)
    with ward.db.reading() as session:
        assert verify_chain(session, key=b"another key").first_bad_id == 1


def test_text_no_database_can_store_is_kept_as_replacement_characters(ward):
    """A raw request (not a validated form) may carry NUL or a lone surrogate: the action is
    still audited, with those characters replaced, and the chain verifies."""
    from app.services.accounts import record_lock

    record_lock(ward.db, ward.tech, reason="idle\x00 \ud800 lock")
    with ward.db.reading() as session:
        last = session.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert last.detail == "idle\ufffd \ufffd lock"
        assert verify_chain(session, key=ward.db.keys.audit).first_bad_id is None
