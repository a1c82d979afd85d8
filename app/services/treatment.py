"""Recording treatment changes, the dates a team marks on a patient's trend charts."""

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session

from app.services.access import Actor, Permission
from app.services.requests import RecordForm, create_record, request_hash
from app.storage.database import Database
from models import Patient, Staff, TreatmentEvent, TreatmentEventCreate
from models.codes import RecordKind, TreatmentKind


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


TREATMENT_EVENT = RecordForm(
    model=TreatmentEventCreate,
    table=TreatmentEvent,
    kind=RecordKind.treatment,
    permission=Permission.record_treatment,
    build=_build_treatment_event,
    read=lambda session, row, replayed: read_treatment(row, replayed=replayed),
    detail=lambda data: data.kind.value,
)


def record_treatment_event(
    db: Database, actor: Actor, data: TreatmentEventCreate | dict
) -> TreatmentRead:
    """Save a medication or therapy change; a replay under the same form key returns the first."""
    return create_record(db, actor, TREATMENT_EVENT, data)
