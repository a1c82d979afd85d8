"""Corrections: a record is voided or amended with a reason; the original stays stored."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import one_of
from models.codes import CorrectionAction, RecordKind
from models.fields import RequiredNote, utc_now


class Correction(SQLModel, table=True):
    """One correction of one record. An amendment points at its replacement, of the same kind."""

    __tablename__ = "correction"
    __table_args__ = (
        one_of("record_kind", RecordKind),
        one_of("action", CorrectionAction),
        # A record is corrected once; a replacement may itself be corrected later.
        UniqueConstraint("record_kind", "record_id"),
        # Which correction a record is the replacement of (timeline pages ask for each entry).
        Index("ix_correction_replacement", "record_kind", "replacement_id"),
        CheckConstraint(
            "(action = 'amend') = (replacement_id IS NOT NULL)", name="amend_has_replacement"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_kind: str = Field(max_length=20)
    record_id: int
    action: str = Field(max_length=10)
    reason: str = Field(max_length=1000)
    replacement_id: int | None = None
    corrected_by: int = Field(foreign_key="staff.id")
    corrected_at: datetime = Field(default_factory=utc_now)


class CorrectionReason(BaseModel):
    """Why a record is being voided or amended."""

    model_config = ConfigDict(extra="forbid")

    reason: RequiredNote
