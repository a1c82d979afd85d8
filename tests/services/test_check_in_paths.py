"""A check's usual case is saved by a lean path of Core statements (`_save_usual_check`);
anything else goes to the general path every record takes (`create_record`). These tests hold
the two to the same answers: twin patients get the same script of checks, one through
`record_check_in` and one through the general path alone, and every outcome must match.
"""

from collections.abc import Callable
from datetime import timedelta

import pytest

from app.services.access import Actor
from app.services.check_ins import CHECK_IN, record_check_in
from app.services.corrections import void_record
from app.services.errors import ServiceError
from app.services.levels import change_level
from app.services.requests import create_record
from app.services.wards import discharge_patient
from models.codes import RecordKind
from tests.factories import Ward, check_form, key
from tests.trace import traced


class Twin:
    """One of the two patients, with the way its checks are saved and its forms' keys."""

    def __init__(self, ward: Ward, save: Callable, patient) -> None:
        self.ward, self.save, self.patient = ward, save, patient
        self.keys: list[str] = []
        self.last_id: int | None = None

    def check(self, actor: Actor, observed_at, *, reuse_key: bool = False, **fields):
        """The outcome as comparable values: the saved check, or the refusal's kind and words."""
        client_key = self.keys[-1] if reuse_key else key()
        self.keys.append(client_key)
        try:
            saved = self.save(
                self.ward.db,
                actor,
                check_form(self.patient.id, observed_at, **{"client_key": client_key, **fields}),
            )
        except ServiceError as refusal:
            words = str(refusal).replace(self.patient.display_name, "the patient")
            return type(refusal).__name__, words
        self.last_id = saved.id
        return saved.model_dump(exclude={"id", "patient_id"})


def general_path(db, actor, data):
    return create_record(db, actor, CHECK_IN, data)


@pytest.fixture
def twins(ward: Ward) -> tuple[Twin, Twin]:
    return (
        Twin(ward, record_check_in, ward.patients[0]),
        Twin(ward, general_path, ward.patients[1]),
    )


def test_the_lean_and_the_general_path_give_the_same_answers(ward, clock, db, twins) -> None:
    other_ward = Ward.create(db, patients=0)
    outcomes: list[tuple] = []

    def both(label: str, actor: Actor, at, **fields) -> None:
        lean, general = (twin.check(actor, at, **fields) for twin in twins)
        outcomes.append((label, lean))
        assert lean == general, label

    both("first check", ward.tech, clock())
    clock.advance(minutes=16)
    both("on time", ward.tech, clock())
    both("a nurse, 30 s later: a duplicate", ward.nurse, clock() + timedelta(seconds=30))
    both("61 s later: not a duplicate", ward.tech, clock() + timedelta(seconds=61))
    clock.advance(minutes=30)
    both("late, no reason", ward.tech, clock())
    both("late, with its reason", ward.tech, clock(), late_reason="staff_emergency")
    both(
        "the same form again: a replay",
        ward.tech,
        clock(),
        reuse_key=True,
        late_reason="staff_emergency",
    )
    both("its key with other details", ward.tech, clock(), reuse_key=True, mood=2)
    both("before admission", ward.tech, clock() - timedelta(days=2))
    both("an admin", ward.admin, clock() + timedelta(minutes=2))
    both("another ward's technician", other_ward.tech, clock() + timedelta(minutes=2))

    for twin in twins:  # voided, the newest check no longer counts as the one before
        void_record(db, ward.nurse, RecordKind.check_in, twin.last_id, "Entered for the wrong bed")
    both("30 s after a voided check", ward.tech, clock() + timedelta(seconds=30))

    clock.advance(minutes=1)
    for twin in twins:
        change_level(
            db,
            ward.nurse,
            {
                "patient_id": twin.patient.id,
                "level": "q5",
                "effective_at": clock(),
                "ordered_by": "Dr. Synthetic",
                "reason": "Agitated after a phone call",
                "client_key": key(),
            },
        )
    clock.advance(minutes=8)
    both("past a q5 order's 7.5 minutes", ward.tech, clock())
    both("the same, with its reason", ward.tech, clock(), late_reason="patient_unavailable")

    for twin in twins:
        discharge_patient(db, ward.charge, twin.patient.id)
    clock.advance(minutes=5)
    both("a discharged patient", ward.tech, clock())

    # The script reaches every answer: saved on time and late, a replay, and each refusal.
    saved = [outcome for _, outcome in outcomes if isinstance(outcome, dict)]
    refused = {outcome[0] for _, outcome in outcomes if isinstance(outcome, tuple)}
    assert {check["late"] for check in saved} == {False, True}
    assert any(check["replayed"] for check in saved)
    assert refused == {"Conflict", "InvalidInput", "NotAllowed"}

    # The lean path writes on the driver itself: its rows must be stored as SQLAlchemy stores
    # them (SQLite keeps times as text, and a different format would sort wrongly).
    lean_rows, general_rows = (stored_checks(db, twin.patient.id) for twin in twins)
    assert len(lean_rows) == len(general_rows) >= 4
    assert lean_rows == general_rows
    lean_audit, general_audit = (stored_audit(db, twin.patient.id) for twin in twins)
    assert lean_audit == general_audit


def stored_checks(db, patient_id: int) -> list[tuple]:
    """The patient's checks as the database holds them, without what differs between twins."""
    with db.writer.connect() as connection:
        rows = connection.exec_driver_sql(
            f"SELECT * FROM check_in WHERE patient_id = {int(patient_id)} ORDER BY id"
        ).mappings()
        differ = {"id", "patient_id", "client_key", "request_hash"}
        return [tuple((k, v) for k, v in row.items() if k not in differ) for row in rows]


def stored_audit(db, patient_id: int) -> list[tuple]:
    """The patient's audit rows as stored, without ids and hashes (they differ by chain place)."""
    with db.writer.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT at, staff_id, username, action, ward_id, record_kind, detail "
            f"FROM audit_event WHERE patient_id = {int(patient_id)} ORDER BY id"
        )
        return [tuple(row) for row in rows]


def test_the_usual_check_is_one_read_and_three_writes(ward, clock, db) -> None:
    with traced(db.writer) as sent:
        saved = record_check_in(db, ward.tech, check_form(ward.patients[0].id, clock()))

    assert not saved.replayed
    if db.dialect == "sqlite":
        assert sent.statements() == [
            "BEGIN IMMEDIATE",
            "SELECT patient.ward_id, patient.admitted_at,",
            "INSERT INTO check_in",
            "INSERT INTO audit_event",
            "UPDATE audit_chain_head SET",
            "COMMIT",
        ]
    else:
        statements = [message for message in sent.messages() if message in ("Execute", "Query")]
        # BEGIN and its plan setting, the patient's lock and the facts; the insert (its id goes
        # into the audit row); the audit row, the chain head and COMMIT. (A pooled connection
        # is also pinged before use; this one is new.)
        assert len(statements) == 8, sent.messages()
        assert sent.waits() == 3, sent.messages()
