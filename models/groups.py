"""Group sessions and each patient's attendance and participation."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field

from models.base import ClientRequest, Recorded, max_length, one_of
from models.codes import Attendance, GroupType, ParticipationLevel, ParticipationQuality
from models.fields import ClientKey, Note, PastUtcDatetime, RecordId, ShortText


class GroupSession(Recorded, ClientRequest, table=True):
    __tablename__ = "group_session"
    __table_args__ = (
        one_of("group_type", GroupType),
        max_length("title", 120),
        Index("ix_group_session_ward_started", "ward_id", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ward_id: int = Field(foreign_key="ward.id")
    group_type: str = Field(max_length=30)
    title: str = Field(default="", max_length=120)
    started_at: datetime


class GroupSessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ward_id: RecordId
    group_type: GroupType
    title: ShortText = ""
    started_at: PastUtcDatetime
    client_key: ClientKey


class GroupAttendance(Recorded, ClientRequest, table=True):
    __tablename__ = "group_attendance"
    __table_args__ = (
        one_of("attendance", Attendance),
        one_of("participation_level", ParticipationLevel, nullable=True),
        one_of("participation_quality", ParticipationQuality, nullable=True),
        max_length("note", 1000),
        CheckConstraint(
            "attendance IN ('attended', 'late_arrival', 'left_early') "
            "OR (participation_level IS NULL AND participation_quality IS NULL)",
            name="participation_when_present",
        ),
        Index("ix_group_attendance_patient", "patient_id", "session_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="group_session.id", index=True)
    patient_id: int = Field(foreign_key="patient.id")
    attendance: str = Field(max_length=20)
    participation_level: str | None = Field(default=None, max_length=20)
    participation_quality: str | None = Field(default=None, max_length=20)
    note: str = Field(default="", max_length=1000)


class GroupAttendanceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: RecordId
    patient_id: RecordId
    attendance: Attendance
    participation_level: ParticipationLevel | None = None
    participation_quality: ParticipationQuality | None = None
    note: Note = ""
    client_key: ClientKey

    @model_validator(mode="after")
    def _participation_only_when_present(self) -> "GroupAttendanceCreate":
        if not self.attendance.was_present and (
            self.participation_level is not None or self.participation_quality is not None
        ):
            raise ValueError("Participation can only be rated for a patient who attended")
        return self
