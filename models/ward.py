"""Wards, patients and their observation level history."""

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, StrictInt, field_validator
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from models.base import ClientRequest, Recorded, max_length, one_of
from models.codes import ObservationLevel, Precaution
from models.fields import (
    ClientKey,
    Flag,
    Hour,
    PastDate,
    PastUtcDatetime,
    RecordId,
    RequiredNote,
    RequiredShortText,
    ShortText,
    check_text,
)


class Ward(SQLModel, table=True):
    __tablename__ = "ward"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=20, unique=True)
    name: str = Field(max_length=120)
    time_zone: str = Field(max_length=64)
    # Local hours; the night window runs from night_start_hour to night_end_hour next morning.
    night_start_hour: int = 22
    night_end_hour: int = 7
    # Local hours at which shifts start, earliest first (day, evening, night).
    shift_start_hours: list[int] = Field(
        default_factory=lambda: [7, 15, 23], sa_column=Column(JSON, nullable=False)
    )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class WardCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: RequiredShortText
    time_zone: str
    night_start_hour: Hour = 22
    night_end_hour: Hour = 7
    # Range and repeats are checked together below, so both get one message.
    shift_start_hours: list[StrictInt] = PydanticField(
        default_factory=lambda: [7, 15, 23], min_length=1, max_length=4
    )

    @field_validator("code")
    @classmethod
    def _required_code(cls, value: str) -> str:
        # As long as the ward.code column holds.
        value = check_text(value, 20)
        if not value:
            raise ValueError("is required")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(
                "is not a known time zone (use a name like America/Chicago)"
            ) from error
        return value

    @field_validator("shift_start_hours")
    @classmethod
    def _hours(cls, value: list[int]) -> list[int]:
        if any(not 0 <= hour <= 23 for hour in value) or len(set(value)) != len(value):
            raise ValueError("must be distinct hours from 0 to 23")
        return sorted(value)


class Patient(SQLModel, table=True):
    __tablename__ = "patient"
    __table_args__ = (max_length("mrn", 20),)

    id: int | None = Field(default=None, primary_key=True)
    ward_id: int = Field(foreign_key="ward.id", index=True)
    mrn: str = Field(max_length=20, unique=True)
    family_name: str = Field(max_length=120)
    given_name: str = Field(max_length=120)
    preferred_name: str = Field(default="", max_length=120)
    room: str = Field(max_length=20)
    bed: str = Field(default="", max_length=20)
    birth_date: date
    admitted_at: datetime
    discharged_at: datetime | None = None
    precautions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # 42 CFR Part 2: records of a substance-use program need consent before disclosure.
    substance_use_program: bool = False

    @property
    def display_name(self) -> str:
        return display_name(self.given_name, self.family_name, self.preferred_name)


def display_name(given: str, family: str, preferred: str = "") -> str:
    """How the ward addresses a patient: preferred name when there is one."""
    first = preferred or given
    return f"{first} {family}"


class PatientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ward_id: RecordId
    mrn: str
    family_name: RequiredShortText
    given_name: RequiredShortText
    preferred_name: ShortText = ""
    room: str
    bed: str = ""
    birth_date: PastDate
    admitted_at: PastUtcDatetime
    precautions: list[Precaution] = PydanticField(default_factory=list)
    substance_use_program: Flag = False

    @field_validator("mrn", "room")
    @classmethod
    def _required_code(cls, value: str) -> str:
        value = check_text(value, 20)
        if not value:
            raise ValueError("is required")
        return value

    @field_validator("bed")
    @classmethod
    def _bed(cls, value: str) -> str:
        return check_text(value, 20)

    @field_validator("precautions")
    @classmethod
    def _distinct(cls, value: list[Precaution]) -> list[Precaution]:
        return sorted(set(value))


class LevelChange(Recorded, ClientRequest, table=True):
    """An observation level order. The current level is the latest one in effect."""

    __tablename__ = "level_change"
    __table_args__ = (
        one_of("level", ObservationLevel),
        # The order in effect at a moment is the patient's latest before it: one seek.
        Index("ix_level_change_patient_effective", "patient_id", "effective_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    level: str = Field(max_length=30)
    effective_at: datetime
    ordered_by: str = Field(max_length=120)
    reason: str = Field(max_length=1000)


class LevelChangeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: RecordId
    level: ObservationLevel
    effective_at: PastUtcDatetime
    ordered_by: RequiredShortText
    reason: RequiredNote
    client_key: ClientKey
