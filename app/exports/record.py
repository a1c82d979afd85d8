"""What an export of one patient holds: gathered once by the service, written by each format."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from app.services.check_ins import CheckInRead
from app.services.effect import Comparison
from app.services.groups import AttendanceRead
from app.services.incidents import IncidentRead, RestraintRead
from app.services.levels import LevelRead
from app.services.sleep import SleepReportRead
from app.services.timeline import TimelineEntry
from app.services.treatment import TreatmentRead
from app.services.trends import DayTrend, Marker
from app.services.wards import PatientRead
from models.codes import GroupType

# The redisclosure notice for records of a substance-use program (42 CFR Part 2), in our words.
PART2_NOTICE = (
    "42 CFR Part 2 notice: this record contains information from a substance use disorder "
    "program that is protected by federal confidentiality rules (42 CFR Part 2). The rules "
    "forbid you to disclose it again to anyone unless the patient has given written consent "
    "that allows it or the rules themselves permit it; a general authorization to release "
    "medical information does not suffice. The rules also forbid using it to investigate or "
    "prosecute the patient for a crime."
)
PART2_SHORT = "Protected by 42 CFR Part 2: no redisclosure without the patient's written consent."


class AttendanceRow(BaseModel):
    """A group attendance with the session it belongs to."""

    attendance: AttendanceRead
    group_type: GroupType
    group: str
    started_at: datetime


class NightEstimate(BaseModel):
    """Sleep estimated from one night's checks (the night that begins on `night_of`)."""

    night_of: date
    start: datetime
    end: datetime
    hours: float
    checks: int
    asleep: int


class PatientRecord(BaseModel):
    """One patient's record over ward-local dates `start`..`end`, current records only except
    `entries`, which keeps corrected ones marked, as the timeline shows them."""

    patient: PatientRead
    ward_name: str
    time_zone: str
    start: date
    end: date
    window_start: datetime
    window_end: datetime
    generated_at: datetime
    generated_by: str
    days: list[DayTrend]
    markers: list[Marker]
    nights: list[NightEstimate]
    # Each night's window (the night that begins on the date), from the night before `start`.
    night_windows: dict[date, tuple[datetime, datetime]]
    comparison: Comparison | None
    entries: list[TimelineEntry]
    check_ins: list[CheckInRead]
    sleep_reports: list[SleepReportRead]
    attendances: list[AttendanceRow]
    incidents: list[IncidentRead]
    restraints: list[RestraintRead]
    treatments: list[TreatmentRead]
    levels: list[LevelRead]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def local(self, moment: datetime, pattern: str = "%a %d %b %Y %H:%M") -> str:
        """A stored UTC time as the ward's wall clock."""
        return moment.astimezone(self.zone).strftime(pattern)

    @property
    def protected(self) -> bool:
        """Whether 42 CFR Part 2 applies: the patient is in a substance-use program."""
        return self.patient.substance_use_program

    def at_night(self, moment: datetime) -> bool:
        """Whether a moment falls in one of the range's night windows."""
        return any(start <= moment < end for start, end in self.night_windows.values())
