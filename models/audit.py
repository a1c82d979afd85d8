"""The audit trail: append-only, each row chained to the one before by a keyed hash."""

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from models.base import one_of
from models.codes import AuditAction
from models.fields import utc_now


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        one_of("action", AuditAction),
        Index("ix_audit_event_at", "at"),
        Index("ix_audit_event_patient_at", "patient_id", "at"),
        Index("ix_audit_event_staff_at", "staff_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utc_now)
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    # The name typed at a failed sign-in, which may match no account.
    username: str = Field(default="", max_length=64)
    action: str = Field(max_length=20)
    ward_id: int | None = None
    patient_id: int | None = None
    record_kind: str | None = Field(default=None, max_length=20)
    record_id: int | None = None
    detail: str = Field(default="", max_length=1000)
    previous_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class AuditChainHead(SQLModel, table=True):
    """A single row naming the newest audit row; locking it orders concurrent writers."""

    __tablename__ = "audit_chain_head"

    id: int = Field(default=1, primary_key=True)
    last_event_id: int | None = None
    last_hash: str = Field(max_length=64)
