"""The ward view for the unit manager: were checks made on time, shift by shift, and how often
did it come to incidents, restraint and seclusion over a chosen range."""

from collections import Counter
from datetime import date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func, or_, text
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from app.services.access import Actor, Permission, authorize
from app.services.audit import write_audit_alone
from app.services.errors import InvalidInput
from app.services.records import current
from app.services.timeline import words

# The CASE tree that buckets check times into ranges, shared with the trend charts.
from app.services.trends import _bucket
from app.services.ward_time import day_bounds, local_date, shift_at
from app.storage.database import Database
from models import CheckIn, Incident, Patient, RestraintEpisode, Ward
from models.codes import AuditAction, LateReason, RestraintKind

MAX_DAYS = 400


class CheckCompliance(BaseModel):
    """Checks made on time, late and missed, with the reasons given for late or missed ones."""

    on_time: int = 0
    late: int = 0
    missed: int = 0
    reasons: dict[str, int] = {}

    @property
    def made(self) -> int:
        return self.on_time + self.late

    @property
    def recorded(self) -> int:
        return self.on_time + self.late + self.missed

    @property
    def on_time_rate(self) -> float | None:
        """On-time checks as a share of every check recorded (made or missed)."""
        return self.on_time / self.recorded if self.recorded else None

    def add(self, other: "CheckCompliance") -> None:
        self.on_time += other.on_time
        self.late += other.late
        self.missed += other.missed
        self.reasons = dict((Counter(self.reasons) + Counter(other.reasons)).most_common())


class ShiftCompliance(BaseModel):
    name: str
    # The ward-local date the shift starts on.
    day: date
    start: datetime
    end: datetime
    in_progress: bool
    checks: CheckCompliance


class ShiftTotals(BaseModel):
    """All shifts of one name (Day, Evening, Night) over the range."""

    name: str
    shifts: int
    checks: CheckCompliance


class WeekIncidents(BaseModel):
    """Incidents in one Monday-to-Sunday week, cut to the range at either end."""

    week_of: date
    first_day: date
    last_day: date
    incidents: int = 0
    moas_total: int = 0
    by_type: dict[str, int] = {}


class RestraintTotals(BaseModel):
    kind: RestraintKind
    episodes: int = 0
    hours: float = 0.0


class EpisodeBrief(BaseModel):
    id: int
    patient_id: int
    patient_name: str
    room: str
    kind: RestraintKind
    started_at: datetime
    ended_at: datetime | None
    # Hours inside the range (an ongoing episode counts up to now).
    hours: float
    # Whether the face-to-face evaluation was done by its deadline; None while not yet due.
    face_to_face_on_time: bool | None


class Compliance(BaseModel):
    ward_id: int
    ward_name: str
    time_zone: str
    start: date
    end: date
    shifts: list[ShiftCompliance]
    by_shift: list[ShiftTotals]
    checks: CheckCompliance
    weeks: list[WeekIncidents]
    restraints: list[RestraintTotals]
    episodes: list[EpisodeBrief]


def _check_range(start: date, end: date) -> None:
    if end < start:
        raise InvalidInput(["The end date must be on or after the start date."])
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput([f"Choose at most {MAX_DAYS} days."])


def _shifts(ward: Ward, start: date, end: date, now: datetime) -> list[ShiftCompliance]:
    """The shifts that begin on `start`..`end` (ward-local) and have begun by now."""
    low, high = day_bounds(ward, start)[0], day_bounds(ward, end)[1]
    shifts = []
    moment = low
    while moment < min(high, now):
        shift = shift_at(ward, moment)
        if shift.start >= low and shift.start <= now:
            shifts.append(
                ShiftCompliance(
                    name=shift.name,
                    day=local_date(ward, shift.start),
                    start=shift.start,
                    end=shift.end,
                    in_progress=shift.start <= now < shift.end,
                    checks=CheckCompliance(),
                )
            )
        moment = shift.end
    return shifts


def _count_checks(session: Session, ward_id: int, shifts: list[ShiftCompliance]) -> None:
    """Late, missed and on-time checks per shift and reason, counted in the database."""
    if not shifts:
        return
    bucket = _bucket([(shift.start, shift.end) for shift in shifts])
    rows = session.exec(
        sa_select(bucket, CheckIn.missed, CheckIn.late, CheckIn.late_reason, func.count())
        .where(
            CheckIn.ward_id == ward_id,
            CheckIn.observed_at >= shifts[0].start,
            CheckIn.observed_at < shifts[-1].end,
            current(CheckIn),
        )
        .group_by(text("1"), CheckIn.missed, CheckIn.late, CheckIn.late_reason)
    )
    reasons: list[Counter] = [Counter() for _ in shifts]
    for index, missed, late, reason, count in rows:
        if index is None:
            continue
        checks = shifts[index].checks
        if missed:
            checks.missed += count
        elif late:
            checks.late += count
        else:
            checks.on_time += count
        if (missed or late) and reason:
            reasons[index][words(LateReason(reason))] += count
    for shift, counted in zip(shifts, reasons, strict=True):
        shift.checks.reasons = dict(counted.most_common())


def _by_shift(shifts: list[ShiftCompliance], ward: Ward) -> list[ShiftTotals]:
    totals: dict[str, ShiftTotals] = {}
    for shift in shifts:
        row = totals.setdefault(
            shift.name, ShiftTotals(name=shift.name, shifts=0, checks=CheckCompliance())
        )
        row.shifts += 1
        row.checks.add(shift.checks)
    order = {shift.name: shift.start.astimezone(ward.zone).hour for shift in shifts}
    return sorted(totals.values(), key=lambda row: order[row.name])


def _weeks(
    session: Session, ward: Ward, start: date, end: date, low: datetime, high: datetime
) -> list[WeekIncidents]:
    weeks: list[WeekIncidents] = []
    monday = start - timedelta(days=start.weekday())
    while monday <= end:
        weeks.append(
            WeekIncidents(
                week_of=monday,
                first_day=max(monday, start),
                last_day=min(monday + timedelta(days=6), end),
            )
        )
        monday += timedelta(days=7)
    rows = session.exec(
        select(Incident.occurred_at, Incident.incident_type, Incident.moas_total).where(
            Incident.ward_id == ward.id,
            Incident.occurred_at >= low,
            Incident.occurred_at < high,
            current(Incident),
        )
    )
    kinds: list[Counter] = [Counter() for _ in weeks]
    first_monday = weeks[0].week_of
    for occurred_at, incident_type, moas in rows:
        index = (local_date(ward, occurred_at) - first_monday).days // 7
        weeks[index].incidents += 1
        weeks[index].moas_total += moas
        kinds[index][words(incident_type)] += 1
    for week, counted in zip(weeks, kinds, strict=True):
        week.by_type = dict(counted.most_common())
    return weeks


def _episodes(
    session: Session, ward_id: int, low: datetime, high: datetime, now: datetime
) -> list[EpisodeBrief]:
    """Restraint and seclusion episodes that overlap the range, with their hours inside it."""
    rows = session.exec(
        select(RestraintEpisode, Patient)
        .join(Patient, Patient.id == RestraintEpisode.patient_id)
        .where(
            RestraintEpisode.ward_id == ward_id,
            RestraintEpisode.started_at < high,
            or_(RestraintEpisode.ended_at.is_(None), RestraintEpisode.ended_at > low),
            current(RestraintEpisode),
        )
        .order_by(RestraintEpisode.started_at, RestraintEpisode.id)
    )
    episodes = []
    for episode, patient in rows:
        stop = min(episode.ended_at or now, high)
        hours = max((stop - max(episode.started_at, low)).total_seconds(), 0) / 3600
        if episode.face_to_face_at is not None:
            on_time = episode.face_to_face_at <= episode.face_to_face_due_at
        else:
            on_time = False if now > episode.face_to_face_due_at else None
        episodes.append(
            EpisodeBrief(
                id=episode.id,
                patient_id=patient.id,
                patient_name=patient.display_name,
                room=patient.room,
                kind=episode.kind,
                started_at=episode.started_at,
                ended_at=episode.ended_at,
                hours=round(hours, 2),
                face_to_face_on_time=on_time,
            )
        )
    return episodes


def _restraint_totals(episodes: list[EpisodeBrief]) -> list[RestraintTotals]:
    totals = {kind: RestraintTotals(kind=kind) for kind in RestraintKind}
    for episode in episodes:
        row = totals[episode.kind]
        row.episodes += 1
        row.hours = round(row.hours + episode.hours, 2)
    return list(totals.values())


def ward_compliance(
    db: Database, actor: Actor, ward_id: int, *, start: date, end: date
) -> Compliance:
    """Check compliance per shift, incidents per week and restraint/seclusion over the ward-local
    dates `start`..`end` (inclusive). Audited once (a view of the ward) after the read."""
    _check_range(start, end)
    now = db.clock()
    with db.reading() as session:
        staff = authorize(session, actor, Permission.view_handoff, ward_id=ward_id)
        ward = session.get(Ward, ward_id)
        low, high = day_bounds(ward, start)[0], day_bounds(ward, end)[1]
        shifts = _shifts(ward, start, end, now)
        _count_checks(session, ward.id, shifts)
        weeks = _weeks(session, ward, start, end, low, high)
        episodes = _episodes(session, ward.id, low, min(high, now), now)
    checks = CheckCompliance()
    for shift in shifts:
        checks.add(shift.checks)
    write_audit_alone(
        db,
        at=now,
        action=AuditAction.view,
        staff_id=staff.id,
        ward_id=ward_id,
        detail=f"compliance {start.isoformat()}..{end.isoformat()}",
    )
    return Compliance(
        ward_id=ward.id,
        ward_name=ward.name,
        time_zone=ward.time_zone,
        start=start,
        end=end,
        shifts=shifts,
        by_shift=_by_shift(shifts, ward),
        checks=checks,
        weeks=weeks,
        restraints=_restraint_totals(episodes),
        episodes=episodes,
    )
