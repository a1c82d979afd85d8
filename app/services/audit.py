"""The one place audit rows are written, and the check that the chain is whole."""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, bindparam, insert, text, update
from sqlmodel import Session, select

from app.storage.database import Database
from app.storage.driver import DriverStatements, writing_on_driver
from models import AuditChainHead, AuditEvent
from models.codes import AuditAction, RecordKind

GENESIS_HASH = "0" * 64

# The database triggers (migration 0003) that refuse changing or deleting stored records.
_NEVER_CHANGED = [
    "audit_event",
    "break_glass_grant",
    "check_in",
    "correction",
    "group_attendance",
    "group_session",
    "incident",
    "level_change",
    "sleep_report",
    "treatment_event",
]
APPEND_ONLY_GUARDS = sorted(
    [f"{table}_no_{event}" for table in _NEVER_CHANGED for event in ("update", "delete")]
    + [
        # Filled once: only its later facts may go from empty to a value.
        "restraint_episode_no_update",
        "restraint_episode_no_delete",
        # The chain head is updated by every audit write, but never removed.
        "audit_chain_head_no_delete",
    ]
)


def _digest(key: bytes, previous_hash: str, event: AuditEvent | SimpleNamespace) -> str:
    fields = [
        str(event.id),
        event.at.isoformat(),
        str(event.staff_id),
        event.username,
        event.action,
        str(event.ward_id),
        str(event.patient_id),
        str(event.record_kind),
        str(event.record_id),
        event.detail,
    ]
    message = previous_hash + "\x1f" + "\x1f".join(fields)
    return hmac.new(key, message.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def write_audit(session: Session | Connection, **fields: Any) -> int:
    """Append one audit row in the caller's transaction, chained to the newest one; its id.

    `fields` are `chained_event`'s. Locking the chain head orders concurrent writers on
    PostgreSQL; on SQLite the write transaction's BEGIN IMMEDIATE already does. Every write is
    audited, so this runs as three Core statements rather than through the ORM's unit of work,
    in an ORM session or on a Core connection.
    """
    if isinstance(session, Session):
        session.flush()  # the ORM's pending rows (the audited record) go first
        connection = session.connection()
    else:
        connection = session
    event, move = chained_event(connection.execute(_CHAIN_HEAD).one(), **fields)
    connection.execute(ADD_EVENT, event)
    connection.execute(MOVE_HEAD, move)
    return event["id"]


def write_audit_alone(db: Database, **fields: Any) -> int:
    """One audit row in a write transaction of its own, as every audited read ends; its id.

    `fields` are `chained_event`'s. Run straight on the driver (app/storage/driver.py): the row
    costs a fraction of the read it records, and on PostgreSQL two waits for the server
    instead of five.
    """
    with writing_on_driver(db.writer, _AUDIT_ALONE) as driver:
        head = driver.one("chain_head", driver.run("chain_head", {}))
        event, move = chained_event(
            (head["id"], head["last_event_id"], head["last_hash"]), key=db.keys.audit, **fields
        )
        driver.run("add_event", event)
        driver.run("move_head", move)
    return event["id"]


def chained_event(
    head: tuple[int, int | None, str],
    *,
    key: bytes,
    at: datetime,
    action: AuditAction,
    staff_id: int | None,
    username: str = "",
    ward_id: int | None = None,
    patient_id: int | None = None,
    record_kind: RecordKind | None = None,
    record_id: int | None = None,
    detail: str = "",
) -> tuple[dict, dict]:
    """The audit row that follows the chain head `head` (its CHAIN_HEAD columns), hashed, and
    the head's new values: the parameters of ADD_EVENT and MOVE_HEAD."""
    head_id, last_event_id, last_hash = head
    event = {
        "id": (last_event_id or 0) + 1,
        "at": at,
        "staff_id": staff_id,
        "username": _storable(username[:64]),
        "action": action.value,
        "ward_id": ward_id,
        "patient_id": patient_id,
        "record_kind": record_kind.value if record_kind else None,
        "record_id": record_id,
        "detail": _storable(detail[:1000]),
        "previous_hash": last_hash,
    }
    event["hash"] = _digest(key, last_hash, SimpleNamespace(**event))
    return event, {"head_id": head_id, "event_id": event["id"], "event_hash": event["hash"]}


CHAIN_HEAD = (AuditChainHead.id, AuditChainHead.last_event_id, AuditChainHead.last_hash)
_CHAIN_HEAD = select(*CHAIN_HEAD).with_for_update()
ADD_EVENT = insert(AuditEvent.__table__)
_HEAD_TABLE = AuditChainHead.__table__
MOVE_HEAD = (
    update(_HEAD_TABLE)
    .where(_HEAD_TABLE.c.id == bindparam("head_id"))
    .values(last_event_id=bindparam("event_id"), last_hash=bindparam("event_hash"))
)

_AUDIT_ALONE = DriverStatements(chain_head=_CHAIN_HEAD, add_event=ADD_EVENT, move_head=MOVE_HEAD)


def _storable(text: str) -> str:
    """Text either engine can store: NUL and lone surrogates (from a raw request, never from a
    validated form) become U+FFFD, so the audit row is written rather than the action lost."""
    return "".join(
        "\ufffd" if character == "\x00" or "\ud800" <= character <= "\udfff" else character
        for character in text
    )


@dataclass(frozen=True)
class ChainCheck:
    """The result of checking the audit chain: `first_bad_id` is None when it is whole."""

    rows_checked: int
    first_bad_id: int | None
    problem: str = ""


def verify_chain(session: Session, *, key: bytes) -> ChainCheck:
    """Recompute every hash in order; name the first altered, inserted or missing row."""
    previous_hash = GENESIS_HASH
    expected_id = 1
    count = 0
    for event in session.exec(select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000):
        count += 1
        if event.id != expected_id:
            return ChainCheck(count, expected_id, f"row {expected_id} is missing")
        if event.previous_hash != previous_hash or event.hash != _digest(key, previous_hash, event):
            return ChainCheck(count, event.id, f"row {event.id} was altered")
        previous_hash = event.hash
        expected_id += 1
    head = session.exec(select(AuditChainHead)).one()
    if head.last_hash != previous_hash:
        return ChainCheck(count, expected_id, "rows after the last one are missing")
    return ChainCheck(count, None)


def missing_guards(session: Session) -> list[str]:
    """The append-only triggers this database lacks (or has disabled); empty when all hold."""
    if session.get_bind().dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    else:
        query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D'"
    present = set(session.execute(text(query)).scalars())
    return [name for name in APPEND_ONLY_GUARDS if name not in present]
