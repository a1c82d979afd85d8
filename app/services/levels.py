"""Observation levels: the order in effect at any moment, and changing it."""

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, select

from app.services.access import Actor, Permission
from app.services.records import current
from app.services.requests import (
    RecordForm,
    create_record,
    refuse_before_admission,
    request_hash,
)
from app.storage.database import Database
from models import LevelChange, LevelChangeCreate, Patient, Staff
from models.codes import AuditAction, ObservationLevel, RecordKind


class LevelRead(BaseModel):
    id: int
    patient_id: int
    level: ObservationLevel
    effective_at: datetime
    ordered_by: str
    reason: str
    recorded_by: int
    recorded_at: datetime

    @property
    def label(self) -> str:
        return self.level.label


def read_level(row: LevelChange) -> LevelRead:
    return LevelRead.model_validate(row, from_attributes=True)


def level_at(session: Session, patient_id: int, moment: datetime) -> LevelRead | None:
    """The observation level order in effect for a patient at a moment."""
    row = session.exec(
        select(LevelChange)
        .where(
            LevelChange.patient_id == patient_id,
            LevelChange.effective_at <= moment,
            current(LevelChange),
        )
        .order_by(LevelChange.effective_at.desc(), LevelChange.id.desc())
        .limit(1)
    ).first()
    return read_level(row) if row else None


def _build_level_change(
    session: Session, *, staff: Staff, patient: Patient, data: LevelChangeCreate, now: datetime
) -> LevelChange:
    # The admission order starts the history; an order before it would never be in effect.
    refuse_before_admission(session, patient, effective_at=data.effective_at)
    row = LevelChange(
        patient_id=patient.id,
        level=data.level,
        effective_at=data.effective_at,
        ordered_by=data.ordered_by,
        reason=data.reason,
        recorded_by=staff.id,
        recorded_at=now,
        client_key=data.client_key,
        request_hash=request_hash(data),
    )
    session.add(row)
    session.flush()
    return row


LEVEL_CHANGE = RecordForm(
    model=LevelChangeCreate,
    table=LevelChange,
    kind=RecordKind.level_change,
    permission=Permission.change_level,
    build=_build_level_change,
    read=lambda session, row, replayed: read_level(row),
    detail=lambda data: data.level.value,
    action=AuditAction.level_change,
)


def change_level(db: Database, actor: Actor, data: LevelChangeCreate | dict) -> LevelRead:
    """Record a new observation level order (or "observations stopped", with its reason)."""
    return create_record(db, actor, LEVEL_CHANGE, data)
