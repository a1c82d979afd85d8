"""Recording treatment changes, the dates a team marks on a patient's trend charts."""

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session

from app.services.access import Actor, Permission, authorize_patient
from app.services.audit import write_audit
from app.services.requests import find_replay, request_hash, save_once, validated
from app.storage.database import Database
from models import Patient, Staff, TreatmentEvent, TreatmentEventCreate
from models.codes import AuditAction, RecordKind, TreatmentKind


class TreatmentRead(BaseModel):
    id: int
    patient_id: int
    kind: TreatmentKind
    effective_at: datetime
    name: str
    detail: str
    ordered_by: str
    recorded_by: int
    recorded_at: datetime
    # True when this call found the event already saved under the same form key.
    replayed: bool = False


def read_treatment(row: TreatmentEvent, *, replayed: bool = False) -> TreatmentRead:
    read = TreatmentRead.model_validate(row, from_attributes=True)
    return read.model_copy(update={"replayed": replayed})


def _build_treatment_event(
    session: Session,
    *,
    staff: Staff,
    patient: Patient,
    data: TreatmentEventCreate,
    now: datetime,
    replacing: int | None = None,
) -> TreatmentEvent:
    row = TreatmentEvent(
        patient_id=patient.id,
        kind=data.kind,
        effective_at=data.effective_at,
        name=data.name,
        detail=data.detail,
        ordered_by=data.ordered_by,
        recorded_by=staff.id,
        recorded_at=now,
        client_key=data.client_key,
        request_hash=request_hash(data),
    )
    session.add(row)
    session.flush()
    return row


def record_treatment_event(
    db: Database, actor: Actor, data: TreatmentEventCreate | dict
) -> TreatmentRead:
    """Save a medication or therapy change; a replay under the same form key returns the first."""
    now = db.clock()
    data = validated(TreatmentEventCreate, data, now=now)

    def save(session: Session) -> TreatmentRead:
        staff, patient = authorize_patient(
            session, actor, Permission.record_treatment, data.patient_id
        )
        replay = find_replay(session, TreatmentEvent, data)
        if replay is not None:
            return read_treatment(replay, replayed=True)
        row = _build_treatment_event(session, staff=staff, patient=patient, data=data, now=now)
        write_audit(
            session,
            key=db.keys.audit,
            at=now,
            action=AuditAction.create,
            staff_id=staff.id,
            ward_id=patient.ward_id,
            patient_id=patient.id,
            record_kind=RecordKind.treatment,
            record_id=row.id,
            detail=data.kind.value,
        )
        return read_treatment(row)

    return save_once(db, save)
