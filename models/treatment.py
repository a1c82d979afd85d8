"""Treatment events: the changes whose effect the team wants to see."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Index
from sqlmodel import Field

from models.base import ClientRequest, Recorded, one_of
from models.codes import TreatmentKind
from models.fields import ClientKey, Note, PastUtcDatetime, RecordId, RequiredShortText, ShortText


class TreatmentEvent(Recorded, ClientRequest, table=True):
    __tablename__ = "treatment_event"
    __table_args__ = (
        one_of("kind", TreatmentKind),
        Index("ix_treatment_event_patient_effective", "patient_id", "effective_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    kind: str = Field(max_length=30)
    effective_at: datetime
    # What changed, e.g. a medication or therapy name, and the dose or schedule.
    name: str = Field(max_length=120)
    detail: str = Field(default="", max_length=1000)
    ordered_by: str = Field(default="", max_length=120)


class TreatmentEventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: RecordId
    kind: TreatmentKind
    effective_at: PastUtcDatetime
    name: RequiredShortText
    detail: Note = ""
    ordered_by: ShortText = ""
    client_key: ClientKey
