from sqlalchemy import text

from app.services.audit import verify_chain
from app.services.check_ins import record_check_in
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


def test_an_altered_audit_row_is_named(ward, clock):
    make_some_history(ward, clock)
    with ward.db.writing() as session:
        session.execute(text("UPDATE audit_event SET detail = 'nothing to see' WHERE id = 5"))
    with ward.db.reading() as session:
        result = verify_chain(session, key=ward.db.keys.audit)
    assert result.first_bad_id == 5


def test_a_deleted_audit_row_is_named(ward, clock):
    make_some_history(ward, clock)
    with ward.db.writing() as session:
        session.execute(text("DELETE FROM audit_event WHERE id = 7"))
    with ward.db.reading() as session:
        result = verify_chain(session, key=ward.db.keys.audit)
    assert result.first_bad_id == 7
    assert "missing" in result.problem


def test_the_chain_does_not_verify_with_another_key(ward, clock):
    make_some_history(ward, clock)
    with ward.db.reading() as session:
        assert verify_chain(session, key=b"another key").first_bad_id == 1
