"""Is the therapy working? Per-day mood, anxiety, sleep, groups and incidents, with the
treatment and level changes to mark on the same chart."""

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import TextClause, and_, bindparam, case, func, or_, text
from sqlalchemy import select as sa_select
from sqlmodel import Session, select
from sqlmodel.sql.sqltypes import UTCDateTime

from app.services.access import Actor, Permission, authorize_patient
from app.services.audit import write_audit_alone
from app.services.errors import InvalidInput
from app.services.records import current
from app.services.timeline import words
from app.services.ward_time import day_bounds, night_bounds
from app.storage.database import Database
from models import (
    CheckIn,
    GroupAttendance,
    GroupSession,
    Incident,
    LevelChange,
    SleepReport,
    TreatmentEvent,
    Ward,
)
from models.codes import (
    Attendance,
    AuditAction,
    ObservationLevel,
    ParticipationLevel,
    RecordKind,
    SleepQuality,
    Status,
)

# Fewer night checks than this say too little about a night to estimate its sleep.
MIN_NIGHT_CHECKS = 3
# A chart of more than about a year is not what this view is for; it also bounds the work.
MAX_DAYS = 400


@dataclass(frozen=True)
class SleepEstimate:
    """Sleep estimated from one night's round checks.

    hours = (checks with status asleep / checks made that night) x the night window's length,
    the window from `ward_time.night_bounds` (so 10 h, not 9 h, on the night clocks go back).
    Missed checks say nothing about sleep and are not counted. `hours` is None when fewer than
    MIN_NIGHT_CHECKS checks were made.
    """

    night_of: date
    checks: int
    asleep: int
    window_hours: float

    @property
    def hours(self) -> float | None:
        if self.checks < MIN_NIGHT_CHECKS:
            return None
        return round(self.asleep / self.checks * self.window_hours, 2)


def estimate_sleep(ward: Ward, night_of: date, statuses: Iterable[str | None]) -> SleepEstimate:
    """Estimate a night's sleep from the statuses of the checks made in its window."""
    start, end = night_bounds(ward, night_of)
    checks = asleep = 0
    for status in statuses:
        if status is None:
            continue
        checks += 1
        asleep += status == Status.asleep
    return SleepEstimate(night_of, checks, asleep, (end - start).total_seconds() / 3600)


class Summary(BaseModel):
    """A day's self-ratings (0-10)."""

    mean: float
    low: int
    high: int
    count: int


class DayTrend(BaseModel):
    """One ward-local day. Sleep is for the night that begins on the evening of `day`
    (the same night a morning sleep report names by `night_of`)."""

    day: date
    mood: Summary | None = None
    anxiety: Summary | None = None
    night_checks: int = 0
    night_asleep: int = 0
    sleep_estimated_hours: float | None = None
    sleep_reported_hours: float | None = None
    sleep_quality: SleepQuality | None = None
    # Offered: attendance recorded for the patient, except sessions that were cancelled.
    groups_offered: int = 0
    groups_present: int = 0
    groups_participated: int = 0
    # Participating (active, variable, only responsive) / present; None when never present.
    participation_rate: float | None = None
    incidents: int = 0
    moas_max: int | None = None
    moas_total: int = 0


class Marker(BaseModel):
    """A treatment or level change to draw on the chart as a vertical line."""

    kind: RecordKind
    id: int
    at: datetime
    day: date
    label: str


class Trends(BaseModel):
    patient_id: int
    start: date
    end: date
    time_zone: str
    days: list[DayTrend]
    markers: list[Marker]


class _Calendar:
    """A date range's ward-local days and nights as UTC bounds (23 or 25 h at DST changes)."""

    def __init__(self, ward: Ward, start: date, end: date) -> None:
        self.days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        self.day_bounds = [day_bounds(ward, day) for day in self.days]
        self.day_starts = [lo for lo, _ in self.day_bounds]
        self.end = self.day_bounds[-1][1]
        self.nights = [night_bounds(ward, day) for day in self.days]

    def day_index(self, moment: datetime) -> int | None:
        index = bisect_right(self.day_starts, moment) - 1
        return index if index >= 0 and moment < self.end else None


def _check_range(start: date, end: date) -> None:
    if end < start:
        raise InvalidInput(["The end date must be on or after the start date."])
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput([f"Choose at most {MAX_DAYS} days."])


def _bucket(bounds: list[tuple[datetime, datetime]]) -> TextClause:
    """Which of the sorted, disjoint UTC ranges a check falls in (its index), NULL if none.

    A balanced tree of CASEs, so each row costs about log2(ranges) comparisons over one index
    range scan. Measured faster on both engines than joining a table of ranges (PostgreSQL
    will not seek the index per range) or a UNION of one aggregate per range; written as SQL
    text because building hundreds of nested expression objects took longer than the query.
    """
    # Segment j covers [points[j - 1], points[j]) and is labelled labels[j].
    points: list[datetime] = []
    labels: list[int | None] = [None]
    for index, (lo, hi) in enumerate(bounds):
        if points and points[-1] == lo:
            labels[-1] = index
        else:
            points.append(lo)
            labels.append(index)
        points.append(hi)
        labels.append(None)

    def tree(first: int, last: int) -> str:
        if first == last:
            return "NULL" if labels[first] is None else str(int(labels[first]))
        middle = (first + last + 1) // 2
        return (
            f"CASE WHEN check_in.observed_at < :edge{middle - 1} "
            f"THEN {tree(first, middle - 1)} ELSE {tree(middle, last)} END"
        )

    return text(tree(0, len(labels) - 1)).bindparams(
        *(bindparam(f"edge{n}", point, type_=UTCDateTime()) for n, point in enumerate(points))
    )


def _in_range(patient_id: int, bounds: list[tuple[datetime, datetime]]):
    return and_(
        CheckIn.patient_id == patient_id,
        CheckIn.observed_at >= bounds[0][0],
        CheckIn.observed_at < bounds[-1][1],
        current(CheckIn),
    )


def _summary(count: int, total: int | None, low: int | None, high: int | None) -> Summary | None:
    if not count:
        return None
    return Summary(mean=round(total / count, 2), low=low, high=high, count=count)


def _add_ratings(
    session: Session, patient_id: int, calendar: _Calendar, days: list[DayTrend]
) -> None:
    """Self-rated mood and anxiety per ward-local day, aggregated in the database."""
    rows = session.exec(
        sa_select(
            _bucket(calendar.day_bounds),
            func.count(CheckIn.mood),
            func.sum(CheckIn.mood),
            func.min(CheckIn.mood),
            func.max(CheckIn.mood),
            func.count(CheckIn.anxiety),
            func.sum(CheckIn.anxiety),
            func.min(CheckIn.anxiety),
            func.max(CheckIn.anxiety),
        )
        .where(
            _in_range(patient_id, calendar.day_bounds),
            or_(CheckIn.mood.is_not(None), CheckIn.anxiety.is_not(None)),
        )
        .group_by(text("1"))
    )
    for index, *numbers in rows:
        days[index].mood = _summary(*numbers[:4])
        days[index].anxiety = _summary(*numbers[4:])


def _add_night_checks(
    session: Session, patient_id: int, calendar: _Calendar, days: list[DayTrend]
) -> None:
    """Each night's checks made and checks asleep, counted in the database, and the estimate."""
    counted = dict.fromkeys(range(len(days)), (0, 0))
    for index, checks, asleep in session.exec(
        sa_select(
            _bucket(calendar.nights),
            # Missed checks have no status: they say nothing about sleep.
            func.count(CheckIn.status),
            func.count(case((CheckIn.status == Status.asleep.value, 1))),
        )
        .where(_in_range(patient_id, calendar.nights))
        .group_by(text("1"))
    ):
        if index is None:
            continue
        counted[index] = (checks, asleep)
    for index, day in enumerate(days):
        lo, hi = calendar.nights[index]
        estimate = SleepEstimate(day.day, *counted[index], (hi - lo).total_seconds() / 3600)
        day.night_checks, day.night_asleep = estimate.checks, estimate.asleep
        day.sleep_estimated_hours = estimate.hours


def _add_sleep_reports(
    session: Session, patient_id: int, start: date, days: list[DayTrend]
) -> None:
    rows = session.exec(
        select(SleepReport.night_of, SleepReport.hours_slept, SleepReport.quality)
        .where(
            SleepReport.patient_id == patient_id,
            SleepReport.night_of >= start,
            SleepReport.night_of <= days[-1].day,
            current(SleepReport),
        )
        # Should a night have two current reports, the later one counts.
        .order_by(SleepReport.reported_at, SleepReport.id)
    )
    for night_of, hours, quality in rows:
        day = days[(night_of - start).days]
        day.sleep_reported_hours = hours
        day.sleep_quality = quality


def _add_groups(
    session: Session, patient_id: int, calendar: _Calendar, days: list[DayTrend]
) -> None:
    span_start = calendar.day_starts[0]
    rows = session.exec(
        select(
            GroupSession.started_at,
            GroupAttendance.attendance,
            GroupAttendance.participation_level,
        )
        .join(GroupSession, GroupSession.id == GroupAttendance.session_id)
        .where(
            GroupAttendance.patient_id == patient_id,
            GroupSession.started_at >= span_start,
            GroupSession.started_at < calendar.end,
            current(GroupAttendance),
        )
    )
    for started_at, attendance, level in rows:
        attendance = Attendance(attendance)
        if attendance == Attendance.cancelled:
            continue
        day = days[calendar.day_index(started_at)]
        day.groups_offered += 1
        if attendance.was_present:
            day.groups_present += 1
            if level is not None and ParticipationLevel(level).participated:
                day.groups_participated += 1
    for day in days:
        if day.groups_present:
            day.participation_rate = round(day.groups_participated / day.groups_present, 3)


def _add_incidents(
    session: Session, patient_id: int, calendar: _Calendar, days: list[DayTrend]
) -> None:
    rows = session.exec(
        select(Incident.occurred_at, Incident.moas_total).where(
            Incident.patient_id == patient_id,
            Incident.occurred_at >= calendar.day_starts[0],
            Incident.occurred_at < calendar.end,
            current(Incident),
        )
    )
    for occurred_at, moas in rows:
        day = days[calendar.day_index(occurred_at)]
        day.incidents += 1
        day.moas_total += moas
        day.moas_max = moas if day.moas_max is None else max(day.moas_max, moas)


def _markers(session: Session, ward: Ward, patient_id: int, calendar: _Calendar) -> list[Marker]:
    begin, finish = calendar.day_starts[0], calendar.end
    markers = [
        Marker(
            kind=RecordKind.treatment,
            id=row.id,
            at=row.effective_at,
            day=row.effective_at.astimezone(ward.zone).date(),
            label=f"{words(row.kind).capitalize()}: {row.name}",
        )
        for row in session.exec(
            select(TreatmentEvent).where(
                TreatmentEvent.patient_id == patient_id,
                TreatmentEvent.effective_at >= begin,
                TreatmentEvent.effective_at < finish,
                current(TreatmentEvent),
            )
        )
    ]
    markers += [
        Marker(
            kind=RecordKind.level_change,
            id=row.id,
            at=row.effective_at,
            day=row.effective_at.astimezone(ward.zone).date(),
            label=f"Level: {ObservationLevel(row.level).label}",
        )
        for row in session.exec(
            select(LevelChange).where(
                LevelChange.patient_id == patient_id,
                LevelChange.effective_at >= begin,
                LevelChange.effective_at < finish,
                current(LevelChange),
            )
        )
    ]
    return sorted(markers, key=lambda marker: (marker.at, marker.kind.value, marker.id))


def trends_for(db: Database, actor: Actor, patient_id: int, *, start: date, end: date) -> Trends:
    """Per-day trends over ward-local dates `start`..`end` (inclusive), every day present.

    Only current records count: voided and amended-away ones are left out. The read is
    audited with one view row, written after the read snapshot closes.
    """
    _check_range(start, end)
    with db.reading() as session:
        staff, patient = authorize_patient(
            session,
            actor,
            Permission.view_timeline,
            patient_id,
            allow_discharged=True,
            now=db.clock(),
        )
        ward = session.get(Ward, patient.ward_id)
        calendar = _Calendar(ward, start, end)
        days = [DayTrend(day=day) for day in calendar.days]
        _add_ratings(session, patient.id, calendar, days)
        _add_night_checks(session, patient.id, calendar, days)
        _add_sleep_reports(session, patient.id, start, days)
        _add_groups(session, patient.id, calendar, days)
        _add_incidents(session, patient.id, calendar, days)
        markers = _markers(session, ward, patient.id, calendar)
    write_audit_alone(
        db,
        at=db.clock(),
        action=AuditAction.view,
        staff_id=staff.id,
        ward_id=patient.ward_id,
        patient_id=patient.id,
        detail=f"trends {start.isoformat()}..{end.isoformat()}",
    )
    return Trends(
        patient_id=patient.id,
        start=start,
        end=end,
        time_zone=ward.time_zone,
        days=days,
        markers=markers,
    )
