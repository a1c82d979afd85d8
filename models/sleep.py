"""The patient's own morning report of last night's sleep."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Index
from sqlmodel import Field

from models.base import ClientRequest, Recorded, max_length, one_of, within
from models.codes import SleepQuality
from models.fields import (
    Awakenings,
    ClientKey,
    Flag,
    HoursSlept,
    Note,
    PastUtcDatetime,
    PlausibleDate,
    RecordId,
)


class SleepReport(Recorded, ClientRequest, table=True):
    __tablename__ = "sleep_report"
    __table_args__ = (
        one_of("quality", SleepQuality),
        within("hours_slept", 0, 16, nullable=False),
        within("awakenings", 0, 30, nullable=False),
        max_length("note", 1000),
        Index("ix_sleep_report_patient_reported", "patient_id", "reported_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    # The date the night began, in the ward's zone.
    night_of: date
    reported_at: datetime
    hours_slept: float
    quality: str = Field(max_length=10)
    awakenings: int = 0
    nightmares: bool = False
    note: str = Field(default="", max_length=1000)


class SleepReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: RecordId
    night_of: PlausibleDate
    reported_at: PastUtcDatetime
    hours_slept: HoursSlept
    quality: SleepQuality
    awakenings: Awakenings = 0
    nightmares: Flag = False
    note: Note = ""
    client_key: ClientKey
