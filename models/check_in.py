"""One round check: where the patient was, what they were doing, how they seemed."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import JSON, CheckConstraint, Column, Index
from sqlmodel import Field

from models.base import ClientRequest, Recorded, max_length, one_of, within
from models.codes import Affect, Behaviour, LateReason, Location, Status
from models.fields import ClientKey, Flag, Note, PastUtcDatetime, RecordId, Score

NOTE_LIMIT = 1000


class CheckIn(Recorded, ClientRequest, table=True):
    __tablename__ = "check_in"
    __table_args__ = (
        one_of("location", Location, nullable=True),
        one_of("status", Status, nullable=True),
        one_of("affect", Affect, nullable=True),
        one_of("late_reason", LateReason, nullable=True),
        within("mood", 0, 10),
        within("anxiety", 0, 10),
        max_length("note", NOTE_LIMIT),
        # A check that was made says where the patient was and what they were doing.
        CheckConstraint(
            "missed OR (location IS NOT NULL AND status IS NOT NULL)", name="seen_or_missed"
        ),
        CheckConstraint("NOT missed OR late_reason IS NOT NULL", name="missed_has_reason"),
        Index("ix_check_in_patient_observed", "patient_id", "observed_at"),
        Index("ix_check_in_ward_observed", "ward_id", "observed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    # The patient's ward when checked, so a ward's rounds never join through patients.
    ward_id: int = Field(foreign_key="ward.id")
    observed_at: datetime
    location: str | None = Field(default=None, max_length=30)
    status: str | None = Field(default=None, max_length=30)
    behaviours: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    affect: str | None = Field(default=None, max_length=30)
    mood: int | None = None
    anxiety: int | None = None
    note: str = Field(default="", max_length=NOTE_LIMIT)
    missed: bool = False
    late: bool = False
    late_reason: str | None = Field(default=None, max_length=30)


class CheckInCreate(BaseModel):
    """A check as the technician enters it. Services decide whether it is late."""

    model_config = ConfigDict(extra="forbid")

    patient_id: RecordId
    observed_at: PastUtcDatetime
    location: Location | None = None
    status: Status | None = None
    behaviours: list[Behaviour] = PydanticField(default_factory=list, max_length=len(Behaviour))
    affect: Affect | None = None
    mood: Score | None = None
    anxiety: Score | None = None
    note: Note = ""
    missed: Flag = False
    late_reason: LateReason | None = None
    client_key: ClientKey

    @field_validator("behaviours")
    @classmethod
    def _distinct(cls, value: list[Behaviour]) -> list[Behaviour]:
        return sorted(set(value))

    @model_validator(mode="after")
    def _seen_or_missed(self) -> "CheckInCreate":
        if self.missed:
            if self.late_reason is None:
                raise ValueError("A missed check needs a reason")
        elif self.location is None or self.status is None:
            raise ValueError("Choose where the patient is and what they are doing")
        return self


class RoutineCheckCreate(BaseModel):
    """The one-tap check: the service fills it from the patient's most likely routine check."""

    model_config = ConfigDict(extra="forbid")

    patient_id: RecordId
    observed_at: PastUtcDatetime
    client_key: ClientKey
    late_reason: LateReason | None = None
