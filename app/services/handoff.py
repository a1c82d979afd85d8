"""Shift handoff: what happened this shift to each patient, in a form read in a minute."""

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import and_
from sqlalchemy import select as sa_select
from sqlmodel import Session, or_, select

from app.services.access import Actor, Permission, authorize
from app.services.audit import write_audit_alone
from app.services.check_ins import ON_TIME_FACTOR
from app.services.errors import InvalidInput
from app.services.levels import LevelRead, read_level
from app.services.records import current
from app.services.rounds import latest_per_patient, levels_at
from app.services.timeline import group_name, words
from app.services.trends import estimate_sleep
from app.services.ward_time import local_date, night_bounds, shift_at
from app.storage.database import Database
from models import (
    CheckIn,
    GroupAttendance,
    GroupSession,
    Incident,
    LevelChange,
    Patient,
    RestraintEpisode,
    SleepReport,
    Staff,
    Ward,
)
from models.codes import (
    Attendance,
    AuditAction,
    IncidentType,
    LateReason,
    RestraintKind,
    SleepQuality,
)

# Less sleep than this, reported or estimated, is worth handing over.
POOR_SLEEP_HOURS = 5.0
# How far back "last mood" looks: an older rating says little about the patient now.
MOOD_LOOKBACK = timedelta(hours=24)
MISSED_GROUP = (Attendance.refused, Attendance.did_not_attend)


class CheckCounts(BaseModel):
    done: int = 0
    late: int = 0
    missed: int = 0
    # Reasons given for late or missed checks, in the ward's words, with how often.
    reasons: dict[str, int] = {}


class IncidentBrief(BaseModel):
    id: int
    at: datetime
    incident_type: IncidentType
    moas_total: int


class RestraintBrief(BaseModel):
    id: int
    kind: RestraintKind
    started_at: datetime
    ended_at: datetime | None

    @property
    def open(self) -> bool:
        return self.ended_at is None


class GroupBrief(BaseModel):
    attendance_id: int
    at: datetime
    group: str
    attendance: Attendance


class SleepConcern(BaseModel):
    """A poor night: from the patient's own report, or estimated from night checks."""

    night_of: date
    source: Literal["reported", "estimated"]
    hours: float | None
    quality: SleepQuality | None = None


class CheckNote(BaseModel):
    at: datetime
    note: str
    staff_name: str


class MoodBrief(BaseModel):
    at: datetime
    mood: int | None
    anxiety: int | None


class HandoffPatient(BaseModel):
    patient_id: int
    display_name: str
    room: str
    bed: str
    admitted_at: datetime
    admitted_in_window: bool
    level: LevelRead | None
    # Level orders that took effect in the window, the admission order included.
    level_changes: list[LevelRead]
    checks: CheckCounts
    no_checks: bool  # observed, but nothing recorded in a window long enough to need a check
    incidents: list[IncidentBrief]
    restraints: list[RestraintBrief]
    groups_missed: list[GroupBrief]
    poor_sleep: list[SleepConcern]
    last_mood: MoodBrief | None
    notes: list[CheckNote]
    headline: str


class HandoffTotals(BaseModel):
    patients: int = 0
    checks_done: int = 0
    checks_late: int = 0
    checks_missed: int = 0
    incidents: int = 0
    restraints: int = 0
    restraints_open: int = 0
    groups_missed: int = 0
    poor_sleep: int = 0
    level_changes: int = 0


class Handoff(BaseModel):
    ward_id: int
    ward_name: str
    shift_name: str | None
    start: datetime
    end: datetime
    patients: list[HandoffPatient]
    totals: HandoffTotals


def _plural(count: int, thing: str) -> str:
    return f"{count} {thing}{'' if count == 1 else 's'}"


def headline(patient: HandoffPatient) -> str:
    """One line, most serious first, e.g. "incident (MOAS 6) · 2 late checks · refused
    process group"; "Nothing to report" when the shift was quiet."""
    parts = ["admitted this shift"] if patient.admitted_in_window else []
    for episode in patient.restraints:
        parts.append(f"{words(episode.kind)} {'ongoing' if episode.open else 'ended'}")
    if patient.incidents:
        worst = max(incident.moas_total for incident in patient.incidents)
        if len(patient.incidents) == 1:
            parts.append(f"incident (MOAS {worst})")
        else:
            parts.append(f"{len(patient.incidents)} incidents (MOAS up to {worst})")
    # The admission order is announced by "admitted this shift", not as a change of level.
    changes = [c for c in patient.level_changes if c.effective_at > patient.admitted_at]
    if changes:
        parts.append(f"level now {changes[-1].label}")
    if patient.no_checks:
        parts.append("no checks recorded")
    if patient.checks.missed:
        parts.append(_plural(patient.checks.missed, "missed check"))
    if patient.checks.late:
        parts.append(_plural(patient.checks.late, "late check"))
    parts += [f"{words(group.attendance)} {group.group}" for group in patient.groups_missed]
    for concern in patient.poor_sleep:
        if concern.source == "reported":
            quality = f", {concern.quality}" if concern.quality else ""
            parts.append(f"poor sleep ({concern.hours:g} h reported{quality})")
        else:
            parts.append(f"poor sleep (about {concern.hours:.1f} h on checks)")
    return " · ".join(parts) if parts else "Nothing to report"


def _window(
    ward: Ward, now: datetime, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime, str | None]:
    """The window asked for, the shift around `start` (or now) by default, and its shift name."""
    for name, moment in (("Start", start), ("End", end)):
        if moment is not None and moment.utcoffset() is None:
            raise InvalidInput([f"{name} must include a time zone."])
    shift = shift_at(ward, start or now)
    start = start or shift.start
    end = end or shift.end
    if end <= start:
        raise InvalidInput(["The end must be after the start."])
    name = shift.name if (start, end) == (shift.start, shift.end) else None
    return start, end, name


Night = tuple[date, tuple[datetime, datetime]]


def _nights_ending_in(ward: Ward, start: datetime, end: datetime) -> Iterator[Night]:
    """The nights whose window ends inside (start, end]: a night shift hands over its night."""
    day = local_date(ward, start) - timedelta(days=1)
    last = local_date(ward, end)
    while day <= last:
        bounds = night_bounds(ward, day)
        if start < bounds[1] <= end:
            yield day, bounds
        day += timedelta(days=1)


def _last_moods(session: Session, ids: list[int], end: datetime) -> dict[int, MoodBrief]:
    """Each patient's latest self-rating before `end`: one index seek per patient, one round
    trip."""
    latest = (
        sa_select(CheckIn.id)
        .where(
            CheckIn.patient_id == Patient.id,
            CheckIn.observed_at < end,
            CheckIn.observed_at >= end - MOOD_LOOKBACK,
            or_(CheckIn.mood.is_not(None), CheckIn.anxiety.is_not(None)),
            current(CheckIn),
        )
        .order_by(CheckIn.observed_at.desc(), CheckIn.id.desc())
        .limit(1)
        .correlate(Patient)
        .scalar_subquery()
    )
    found = latest_per_patient(latest, ids)
    rows = session.exec(
        select(CheckIn.patient_id, CheckIn.observed_at, CheckIn.mood, CheckIn.anxiety).join(
            found, CheckIn.id == found.c.found_id
        )
    ).all()
    return {
        row.patient_id: MoodBrief(at=row.observed_at, mood=row.mood, anxiety=row.anxiety)
        for row in rows
    }


def _in_window(column, start: datetime, end: datetime):
    return and_(column >= start, column < end)


@dataclass
class _ShiftRecords:
    """What the ward recorded in the window, per patient id."""

    level_changes: dict[int, list[LevelRead]]
    # Rows of the check columns a handoff reads (see `_shift_records`).
    checks: dict[int, list]
    staff_names: dict[int, str]
    incidents: dict[int, list[IncidentBrief]]
    restraints: dict[int, list[RestraintBrief]]
    groups_missed: dict[int, list[GroupBrief]]
    reported_sleep: dict[int, list[SleepConcern]]
    moods: dict[int, MoodBrief]
    # Patients without a level order in effect are left out.
    levels: dict[int, LevelRead]


def _grouped(rows, make) -> dict[int, list]:
    grouped: dict[int, list] = defaultdict(list)
    for row in rows:
        patient_id, item = make(row)
        grouped[patient_id].append(item)
    return grouped


def _shift_records(
    session: Session,
    patients: list[Patient],
    start: datetime,
    end: datetime,
    checks_from: datetime,
    now: datetime,
) -> _ShiftRecords:
    """One query per kind of record for the whole ward, current records only."""
    ids = [patient.id for patient in patients]
    # Only the columns a handoff reads, as plain rows with the writer's name joined: a night
    # shift's checks for a whole ward are over a thousand rows, too many to load as objects.
    checks = _grouped(
        session.exec(
            select(
                CheckIn.id,
                CheckIn.patient_id,
                CheckIn.observed_at,
                CheckIn.status,
                CheckIn.note,
                CheckIn.missed,
                CheckIn.late,
                CheckIn.late_reason,
                CheckIn.recorded_by,
                Staff.display_name,
            )
            .outerjoin(Staff, Staff.id == CheckIn.recorded_by)
            .where(
                CheckIn.patient_id.in_(ids),
                _in_window(CheckIn.observed_at, checks_from, end),
                current(CheckIn),
            )
            .order_by(CheckIn.observed_at, CheckIn.id)
        ),
        lambda row: (row.patient_id, row),
    )
    staff_names = {
        row.recorded_by: row.display_name or "" for rows in checks.values() for row in rows
    }
    return _ShiftRecords(
        level_changes=_grouped(
            session.exec(
                select(LevelChange)
                .where(
                    LevelChange.patient_id.in_(ids),
                    _in_window(LevelChange.effective_at, start, end),
                    current(LevelChange),
                )
                .order_by(LevelChange.effective_at, LevelChange.id)
            ),
            lambda row: (row.patient_id, read_level(row)),
        ),
        checks=checks,
        staff_names=staff_names,
        incidents=_grouped(
            session.exec(
                select(Incident)
                .where(
                    Incident.patient_id.in_(ids),
                    _in_window(Incident.occurred_at, start, end),
                    current(Incident),
                )
                .order_by(Incident.occurred_at, Incident.id)
            ),
            lambda row: (
                row.patient_id,
                IncidentBrief(
                    id=row.id,
                    at=row.occurred_at,
                    incident_type=row.incident_type,
                    moas_total=row.moas_total,
                ),
            ),
        ),
        restraints=_grouped(
            session.exec(
                select(RestraintEpisode)
                .where(
                    RestraintEpisode.patient_id.in_(ids),
                    RestraintEpisode.started_at < end,
                    or_(RestraintEpisode.ended_at.is_(None), RestraintEpisode.ended_at >= start),
                    current(RestraintEpisode),
                )
                .order_by(RestraintEpisode.started_at, RestraintEpisode.id)
            ),
            lambda row: (
                row.patient_id,
                RestraintBrief(
                    id=row.id, kind=row.kind, started_at=row.started_at, ended_at=row.ended_at
                ),
            ),
        ),
        groups_missed=_grouped(
            session.exec(
                select(GroupAttendance, GroupSession)
                .join(GroupSession, GroupSession.id == GroupAttendance.session_id)
                .where(
                    GroupAttendance.patient_id.in_(ids),
                    GroupAttendance.attendance.in_([code.value for code in MISSED_GROUP]),
                    _in_window(GroupSession.started_at, start, end),
                    current(GroupAttendance),
                )
                .order_by(GroupSession.started_at, GroupAttendance.id)
            ),
            lambda pair: (
                pair[0].patient_id,
                GroupBrief(
                    attendance_id=pair[0].id,
                    at=pair[1].started_at,
                    group=group_name(pair[1].group_type, pair[1].title),
                    attendance=pair[0].attendance,
                ),
            ),
        ),
        reported_sleep=_grouped(
            session.exec(
                select(SleepReport)
                .where(
                    SleepReport.patient_id.in_(ids),
                    _in_window(SleepReport.reported_at, start, end),
                    or_(
                        SleepReport.quality == SleepQuality.poor.value,
                        SleepReport.hours_slept < POOR_SLEEP_HOURS,
                    ),
                    current(SleepReport),
                )
                .order_by(SleepReport.reported_at, SleepReport.id)
            ),
            lambda row: (
                row.patient_id,
                SleepConcern(
                    night_of=row.night_of,
                    source="reported",
                    hours=row.hours_slept,
                    quality=row.quality,
                ),
            ),
        ),
        moods=_last_moods(session, ids, min(end, now)),
        levels=levels_at(session, ids, min(end, now)),
    )


def _patient_row(
    ward: Ward,
    patient: Patient,
    records: _ShiftRecords,
    nights: list[Night],
    start: datetime,
    end: datetime,
    now: datetime,
) -> HandoffPatient:
    own_checks = records.checks[patient.id]
    in_window = [row for row in own_checks if row.observed_at >= start]
    counts = CheckCounts(
        done=sum(not row.missed for row in in_window),
        late=sum(row.late and not row.missed for row in in_window),
        missed=sum(row.missed for row in in_window),
        reasons=dict(
            Counter(
                words(LateReason(row.late_reason))
                for row in in_window
                if (row.late or row.missed) and row.late_reason
            )
        ),
    )
    poor_sleep = list(records.reported_sleep[patient.id])
    for night_of, (night_start, night_end) in nights:
        estimate = estimate_sleep(
            ward,
            night_of,
            (row.status for row in own_checks if night_start <= row.observed_at < night_end),
        )
        if estimate.hours is not None and estimate.hours < POOR_SLEEP_HOURS:
            poor_sleep.append(
                SleepConcern(night_of=night_of, source="estimated", hours=estimate.hours)
            )
    level = records.levels.get(patient.id)
    interval = level.level.check_interval if level else None
    row = HandoffPatient(
        patient_id=patient.id,
        display_name=patient.display_name,
        room=patient.room,
        bed=patient.bed,
        admitted_at=patient.admitted_at,
        admitted_in_window=start <= patient.admitted_at < end,
        level=level,
        level_changes=records.level_changes[patient.id],
        checks=counts,
        no_checks=interval is not None
        and not in_window
        and min(end, now) - max(start, patient.admitted_at) >= interval * ON_TIME_FACTOR,
        incidents=records.incidents[patient.id],
        restraints=records.restraints[patient.id],
        groups_missed=records.groups_missed[patient.id],
        poor_sleep=poor_sleep,
        last_mood=records.moods.get(patient.id),
        notes=[
            CheckNote(
                at=check.observed_at,
                note=check.note,
                staff_name=records.staff_names.get(check.recorded_by, ""),
            )
            for check in in_window
            if check.note
        ],
        headline="",
    )
    row.headline = headline(row)
    return row


def _totals(rows: list[HandoffPatient]) -> HandoffTotals:
    return HandoffTotals(
        patients=len(rows),
        checks_done=sum(row.checks.done for row in rows),
        checks_late=sum(row.checks.late for row in rows),
        checks_missed=sum(row.checks.missed for row in rows),
        incidents=sum(len(row.incidents) for row in rows),
        restraints=sum(len(row.restraints) for row in rows),
        restraints_open=sum(episode.open for row in rows for episode in row.restraints),
        groups_missed=sum(len(row.groups_missed) for row in rows),
        poor_sleep=sum(bool(row.poor_sleep) for row in rows),
        level_changes=sum(len(row.level_changes) for row in rows),
    )


def handoff_for(
    db: Database,
    actor: Actor,
    ward_id: int,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Handoff:
    """The ward's shift handoff, admitted patients by room, for the current shift by default
    (a `start` alone means the shift it falls in). Audited once (a view of the ward, detail
    "handoff") after the read snapshot closes."""
    now = db.clock()
    with db.reading() as session:
        staff = authorize(session, actor, Permission.view_handoff, ward_id=ward_id)
        ward = session.get(Ward, ward_id)
        start, end, shift_name = _window(ward, now, start, end)
        patients = list(
            session.exec(
                select(Patient)
                .where(Patient.ward_id == ward_id, Patient.discharged_at.is_(None))
                .order_by(Patient.room, Patient.bed)
            ).all()
        )
        nights = list(_nights_ending_in(ward, start, end))
        # A night's sleep estimate needs its checks from before the window began too.
        checks_from = min([start] + [bounds[0] for _, bounds in nights])
        records = _shift_records(session, patients, start, end, checks_from, now)
    rows = [_patient_row(ward, patient, records, nights, start, end, now) for patient in patients]
    write_audit_alone(
        db,
        at=now,
        action=AuditAction.view,
        staff_id=staff.id,
        ward_id=ward_id,
        detail="handoff",
    )
    return Handoff(
        ward_id=ward_id,
        ward_name=ward.name,
        shift_name=shift_name,
        start=start,
        end=end,
        patients=rows,
        totals=_totals(rows),
    )
