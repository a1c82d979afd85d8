"""Speed: Rounds beside the raw database, on a 40-bed ward with a year of history.

The data. One ward of 40 beds whose patients were admitted --days ago (a year) and checked at
their level ever since: 37 on q15, 1 on q5, 2 on routine q30, about 1.4 million checks. Around
them: a sleep report most mornings, two groups a day with every patient's attendance, a few
incidents a year each (some with seclusion, each followed by a day on q5), treatment changes,
and about one check in a thousand voided. Small tables go in through the ORM; checks, sleep
reports and attendances through the driver in bulk (sqlite3 executemany; COPY on PostgreSQL),
with one audit row for the whole load, as the demo ward does. The history ends at 06:50 ward
time, ten minutes before the night shift hands over, with every patient checked within their
interval. PostgreSQL is ANALYZEd after the load (autovacuum would do it within minutes);
SQLite is not, because the app never runs ANALYZE.

What is measured, each pair in one loop (taking turns at going first) so both sides see the
same cache, disk and load:
1. Saving a check through `record_check_in` (validation, authorization, idempotency, the
   duplicate and lateness rules, audit, commit) vs the raw driver writing the same rows (the
   check, its audit row, the audit chain head) in one transaction on its own connection, with
   the app's durability settings (SQLite: WAL, synchronous=FULL, BEGIN IMMEDIATE).
2. The first timeline page (50 entries) of a q15 patient with the whole history, through
   `timeline_for`, vs the same page in raw SQL: one indexed UNION ALL of each kind's newest
   positions, the page's rows with their writers' names, their corrections, and the view's
   audit row (the service audits every read, so the raw side writes the same row).
3. The 90-day trend series of that patient (`trends_for`), the rounds view of the 40 patients
   (`rounds_for`) and the night shift's handoff (`handoff_for`), against fixed targets.
Targets are met on the median (p50). With --server (the default without --quick), the rows of
bench/speed_server.py (the running server and a scripted round) are added when that file is
present; it is given the bench database's URL. PostgreSQL: --url, or ROUNDS_BENCH_DATABASE_URL,
or else a throwaway cluster.

    python -m bench.speed --db sqlite              # a year: ~1.46M checks, 1-2 minutes
    python -m bench.speed --db postgres --quick    # 30 days, under a minute
    python -m bench.speed --db postgres --url postgresql+psycopg://... --json speed.json
"""

import argparse
import importlib.util
import json
import os
import random
import sqlite3
import statistics
import sys
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import psycopg
from sqlalchemy import DateTime, insert, literal, select
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url

from app.services.audit import _digest, verify_chain, write_audit
from app.services.check_ins import record_check_in
from app.services.handoff import handoff_for
from app.services.rounds import rounds_for
from app.services.timeline import timeline_for
from app.services.trends import trends_for
from app.services.ward_time import local_date, local_to_utc, shift_at
from app.storage.database import Database
from bench import BenchWard, arguments, figures, fresh_database, make_ward, open_database
from models import (
    CheckIn,
    Correction,
    GroupSession,
    Incident,
    LevelChange,
    RestraintEpisode,
    TreatmentEvent,
    Ward,
)
from models.codes import (
    Affect,
    Attendance,
    AuditAction,
    Behaviour,
    GroupType,
    IncidentType,
    LateReason,
    Location,
    ObservationLevel,
    ParticipationLevel,
    ParticipationQuality,
    RecordKind,
    RestraintKind,
    SleepQuality,
    Status,
    TreatmentKind,
)
from models.fields import utc_now
from models.incidents import FACE_TO_FACE_WITHIN, GUARDIAN_NOTICE_WITHIN, moas_total, order_limit

BEDS = 40
LEVELS = [ObservationLevel.q5] + [ObservationLevel.q15] * 37 + [ObservationLevel.routine_q30] * 2
DAYS = 365
QUICK_DAYS = 30
# The patient whose timeline and trends are read: a year on q15.
READ_BED = 3
# The history ends when the night shift is about to hand over (shifts 7-15-23).
END_HOUR, END_MINUTE = 6, 50
TREND_DAYS = 90
PAGE = 50
# Every bench row stands in for a form: none was ever sent with this fingerprint.
REQUEST_HASH = "bench"
SEED = 20261127

# How many measured calls of each (after WARMUP unmeasured ones), full run and --quick.
COUNTS = {
    "save": (300, 60),
    "timeline": (200, 40),
    "trends": (60, 15),
    "rounds": (100, 25),
    "handoff": (60, 15),
}
WARMUP = 5

# A save's clock step: a q15 patient gets a row (service or raw) every 18 steps (4.5 min, never
# a duplicate) and its first within 17 steps of the start, so no save is ever late.
SAVE_STEP = timedelta(seconds=15)


# -- the ward's year ---------------------------------------------------------------------------


class BenchClock:
    """The service clock: the end of the history, moved on by hand while saving."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def history_end(zone_ward: Ward) -> datetime:
    """The last 06:50 on the ward's clock before the real now."""
    now = utc_now()
    day = local_date(zone_ward, now)
    for back in range(3):
        moment = local_to_utc(zone_ward, day - timedelta(days=back), END_HOUR) + timedelta(
            minutes=END_MINUTE
        )
        if moment < now:
            return moment
    raise AssertionError("an 06:50 falls within any three days")


CHECK_COLUMNS = (
    "patient_id", "ward_id", "observed_at", "location", "status", "behaviours", "affect",
    "mood", "anxiety", "note", "missed", "late", "late_reason", "recorded_by", "recorded_at",
    "client_key", "request_hash",
)  # fmt: skip
SLEEP_COLUMNS = (
    "patient_id", "night_of", "reported_at", "hours_slept", "quality", "awakenings",
    "nightmares", "note", "recorded_by", "recorded_at", "client_key", "request_hash",
)  # fmt: skip
ATTENDANCE_COLUMNS = (
    "session_id", "patient_id", "attendance", "participation_level", "participation_quality",
    "note", "recorded_by", "recorded_at", "client_key", "request_hash",
)  # fmt: skip

# Daytime: where people are and what they do, with weights.
DAY_ACTIVITIES = (
    ((Location.day_room, Status.watching_tv), 4),
    ((Location.day_room, Status.talking_with_peers), 3),
    ((Location.day_room, Status.reading), 1),
    ((Location.own_room, Status.resting), 3),
    ((Location.own_room, Status.reading), 1),
    ((Location.hallway, Status.pacing), 0.5),
    ((Location.dining, Status.eating), 1.5),
    ((Location.day_room, Status.on_phone), 0.5),
    ((Location.bathroom, Status.showering), 0.5),
)
DAY_CHOICES = [choice for choice, _ in DAY_ACTIVITIES]
BEHAVIOURS = [code.value for code in Behaviour if code != Behaviour.calm]
AFFECTS = [code.value for code in Affect]
GROUP_TYPES = [
    GroupType.community_meeting,
    GroupType.cbt_dbt_skills,
    GroupType.process_group,
    GroupType.psychoeducation,
    GroupType.recreation_ot,
    GroupType.exercise,
    GroupType.art_music,
]
MEDICATIONS = ["sertraline", "aripiprazole", "quetiapine", "lithium", "olanzapine", "bupropion"]


def _cumulative(weights: list[float]) -> list[float]:
    total, running = 0.0, []
    for weight in weights:
        total += weight
        running.append(total)
    return running


DAY_WEIGHTS = _cumulative([weight for _, weight in DAY_ACTIVITIES])


@dataclass
class Story:
    """One patient's year: level orders and the events that shape their checks."""

    bed: int
    patient_id: int
    level: ObservationLevel
    level_times: list[datetime] = field(default_factory=list)
    level_values: list[ObservationLevel] = field(default_factory=list)
    incidents: list[datetime] = field(default_factory=list)


class Year:
    """The ward's history between `start` and `end`, drawn patient by patient from seeds."""

    def __init__(
        self,
        ward: Ward,
        bench: BenchWard,
        *,
        start: datetime,
        end: datetime,
        stamp: Callable[[datetime], object],
        day_stamp: Callable[[date], object],
    ) -> None:
        self.ward = ward
        self.zone = ward.zone
        self.bench = bench
        self.start = start
        self.end = end
        # How the bulk path stores times and dates (SQLite: SQLAlchemy's text; PostgreSQL: as is).
        self.stamp = stamp
        self.day_stamp = day_stamp
        self.technician = bench.technicians[0].staff_id
        self.nurse = bench.charge.staff_id
        first, last = local_date(ward, start), local_date(ward, end)
        self.days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        self.days_long = round((end - start) / timedelta(days=1))
        self.stories = [
            self._story(bed, patient_id, level)
            for bed, (patient_id, level) in enumerate(
                zip(bench.patient_ids, LEVELS, strict=True), start=1
            )
        ]

    def rng(self, stream: str) -> random.Random:
        return random.Random(f"{SEED}:{stream}")

    def _story(self, bed: int, patient_id: int, level: ObservationLevel) -> Story:
        rng = self.rng(f"story:{bed}")
        story = Story(bed, patient_id, level)
        orders = [(self.start - timedelta(hours=1), level)]
        for day in self.days[1:-1]:
            # About three incidents a year each; a day on q5 follows.
            if rng.random() < 3 / 365:
                occurred = self.at_local(day, rng.randint(9, 20), rng.randint(0, 59))
                if occurred + timedelta(days=1, hours=1) < self.end:
                    story.incidents.append(occurred)
                    orders.append((occurred + timedelta(minutes=10), ObservationLevel.q5))
                    orders.append((occurred + timedelta(days=1), level))
        orders.sort(key=lambda order: order[0])
        story.level_times = [moment for moment, _ in orders]
        story.level_values = [value for _, value in orders]
        return story

    def at_local(self, day: date, hour: int, minute: int = 0) -> datetime:
        return local_to_utc(self.ward, day, hour) + timedelta(minutes=minute)

    # -- small tables, through the ORM

    def group_sessions(self) -> list[GroupSession]:
        sessions = []
        for day in self.days:
            for hour in (10, 14):
                started = self.at_local(day, hour)
                if started < self.start or started + timedelta(minutes=90) > self.end:
                    continue
                sessions.append(
                    GroupSession(
                        ward_id=self.ward.id,
                        group_type=GROUP_TYPES[len(sessions) % len(GROUP_TYPES)],
                        title="",
                        started_at=started,
                        recorded_by=self.technician,
                        recorded_at=started + timedelta(minutes=2),
                        client_key=f"speed:group:{len(sessions)}",
                        request_hash=REQUEST_HASH,
                    )
                )
        return sessions

    def small_rows(self, story: Story) -> list:
        """Level orders, incidents (with seclusion now and then) and treatment changes."""
        rng = self.rng(f"small:{story.bed}")
        rows: list = []
        for number, (effective, level) in enumerate(
            zip(story.level_times[1:], story.level_values[1:], strict=True)
        ):
            rows.append(
                LevelChange(
                    patient_id=story.patient_id,
                    level=level,
                    effective_at=effective,
                    ordered_by="Dr. Bench Attending",
                    reason="After an incident" if level == ObservationLevel.q5 else "Settled",
                    recorded_by=self.nurse,
                    recorded_at=effective + timedelta(minutes=3),
                    client_key=f"speed:level:{story.bed}:{number}",
                    request_hash=REQUEST_HASH,
                )
            )
        for number, occurred in enumerate(story.incidents):
            verbal, physical = rng.randint(1, 3), rng.randint(0, 2)
            incident = Incident(
                patient_id=story.patient_id,
                ward_id=self.ward.id,
                occurred_at=occurred,
                incident_type=rng.choice(list(IncidentType)),
                location=Location.day_room,
                antecedent="Disagreement over the television",
                behaviour="Shouted at a peer; calmed when offered a quiet space",
                measures=["verbal_de_escalation"],
                moas_verbal=verbal,
                moas_physical=physical,
                moas_total=moas_total(verbal, 0, 0, physical),
                recorded_by=self.technician,
                recorded_at=occurred + timedelta(minutes=30),
                client_key=f"speed:incident:{story.bed}:{number}",
                request_hash=REQUEST_HASH,
            )
            restraint = None
            if rng.random() < 0.2:
                started = occurred + timedelta(minutes=4)
                ordered = occurred + timedelta(minutes=10)
                restraint = RestraintEpisode(
                    patient_id=story.patient_id,
                    ward_id=self.ward.id,
                    kind=RestraintKind.seclusion,
                    ordered_at=ordered,
                    ordered_by="Dr. Bench Attending (telephone order)",
                    started_at=started,
                    age_at_order=40,
                    order_expires_at=ordered + order_limit(40),
                    face_to_face_due_at=started + FACE_TO_FACE_WITHIN,
                    guardian_notice_due_at=started + GUARDIAN_NOTICE_WITHIN,
                    release_criteria="Calm for 15 minutes",
                    face_to_face_at=started + timedelta(minutes=35),
                    ended_at=started + timedelta(minutes=45),
                    recorded_by=self.nurse,
                    recorded_at=started + timedelta(minutes=6),
                    client_key=f"speed:restraint:{story.bed}:{number}",
                    request_hash=REQUEST_HASH,
                )
            rows.append((incident, restraint))
        for number, day in enumerate(self.days[1:-1:45]):
            effective = self.at_local(day, 9, 30)
            rows.append(
                TreatmentEvent(
                    patient_id=story.patient_id,
                    kind=TreatmentKind.dose_changed,
                    effective_at=effective,
                    name=rng.choice(MEDICATIONS),
                    detail="Dose adjusted at the team meeting",
                    ordered_by="Dr. Bench Attending",
                    recorded_by=self.nurse,
                    recorded_at=effective + timedelta(minutes=10),
                    client_key=f"speed:treatment:{story.bed}:{number}",
                    request_hash=REQUEST_HASH,
                )
            )
        return rows

    # -- large tables, in bulk

    def checks(self, story: Story) -> Iterator[tuple]:
        """The patient's checks, in time order, as rows of CHECK_COLUMNS."""
        rng = self.rng(f"checks:{story.bed}")
        stamp, zone = self.stamp, self.zone
        times, values = story.level_times, story.level_values
        calm = json.dumps([Behaviour.calm.value])
        nothing = json.dumps([])
        last = self.end - timedelta(minutes=1)
        interval = story.level.check_interval
        moment = self.start + interval * rng.uniform(0.2, 0.8)
        previous = moment - interval
        number = 0
        rated_today, rating_day = 0, None
        while True:
            order = bisect_right(times, moment) - 1
            interval = values[order].check_interval
            number += 1
            # The due rule: late past 1.5 intervals since the last check or the order.
            late = moment - max(previous, times[order]) > interval * 1.5
            local = moment.astimezone(zone)
            hour = local.hour
            location = status = affect = mood = anxiety = late_reason = None
            behaviours, note, missed = calm, "", False
            draw = rng.random()
            if draw < 0.001:
                missed = True
                late_reason = LateReason.patient_refused.value
                behaviours, note = nothing, "Asked staff to leave the doorway"
            elif hour >= 22 or hour < 7:
                if draw < 0.88:
                    location, status, behaviours = "own_room", "asleep", nothing
                else:
                    location, status = "own_room", "awake_in_bed"
            else:
                (place, doing) = DAY_CHOICES[bisect_right(DAY_WEIGHTS, draw * DAY_WEIGHTS[-1])]
                location, status = place.value, doing.value
                if rng.random() < 0.2:
                    behaviours = json.dumps(sorted(rng.sample(BEHAVIOURS, rng.randint(1, 2))))
                if rng.random() < 0.3:
                    affect = rng.choice(AFFECTS)
                if rating_day != local.date():
                    rating_day, rated_today = local.date(), 0
                # Mood and anxiety about three times a day, whatever the level.
                if rated_today < 3 and rng.random() < interval / timedelta(hours=5):
                    rated_today += 1
                    mood, anxiety = rng.randint(2, 8), rng.randint(2, 8)
                if rng.random() < 0.003:
                    note = "Phone call with family"
            if late and late_reason is None:
                late_reason = LateReason.staff_emergency.value
            recorded = min(moment + timedelta(seconds=rng.randint(20, 150)), self.end)
            yield (
                story.patient_id,
                self.ward.id,
                stamp(moment),
                location,
                status,
                behaviours,
                affect,
                mood,
                anxiety,
                note,
                missed,
                late,
                late_reason,
                self.technician,
                stamp(recorded),
                f"speed:check:{story.bed}:{number}",
                REQUEST_HASH,
            )
            previous = moment
            factor = rng.uniform(1.6, 2.0) if rng.random() < 0.004 else rng.uniform(0.85, 1.15)
            following = moment + interval * factor
            if order + 1 < len(times) and times[order + 1] <= following:
                # A new order: the next check comes soon after it, at the new interval.
                following = times[order + 1] + values[order + 1].check_interval * rng.uniform(
                    0.2, 0.9
                )
            if following > last:
                if last - moment > interval:
                    # Nobody is overdue at handover: one more check a few minutes ago.
                    following = self.end - timedelta(seconds=rng.randint(60, 240))
                else:
                    return
            moment = following.replace(microsecond=0)

    def sleep_reports(self, story: Story) -> Iterator[tuple]:
        rng = self.rng(f"sleep:{story.bed}")
        for number, day in enumerate(self.days[:-1]):
            reported = self.at_local(day + timedelta(days=1), 7, 30 + rng.randint(0, 90))
            if reported < self.start or reported > self.end or rng.random() > 0.85:
                continue
            hours = round(min(12.0, max(0.0, rng.gauss(6.5, 1.2))) * 4) / 4
            quality = "good" if hours >= 6.5 else "fair" if hours >= 5 else "poor"
            yield (
                story.patient_id,
                self.day_stamp(day),
                self.stamp(reported),
                hours,
                SleepQuality(quality).value,
                rng.randint(0, 3),
                rng.random() < 0.05,
                "",
                self.technician,
                self.stamp(reported + timedelta(minutes=2)),
                f"speed:sleep:{story.bed}:{number}",
                REQUEST_HASH,
            )

    def attendances(self, story: Story, sessions: list[GroupSession]) -> Iterator[tuple]:
        rng = self.rng(f"groups:{story.bed}")
        participation = [code.value for code in ParticipationLevel]
        quality = [code.value for code in ParticipationQuality]
        for session in sessions:
            draw = rng.random()
            level = kind = None
            if draw < 0.7:
                attendance = Attendance.attended
                level, kind = rng.choice(participation), rng.choice(quality)
            elif draw < 0.85:
                attendance = Attendance.refused
            else:
                attendance = Attendance.did_not_attend
            yield (
                session.id,
                story.patient_id,
                attendance.value,
                level,
                kind,
                "",
                self.technician,
                self.stamp(session.started_at + timedelta(minutes=75)),
                f"speed:attendance:{session.id}:{story.bed}",
                REQUEST_HASH,
            )


# -- loading ------------------------------------------------------------------------------------

_SQLITE = sqlite_dialect.dialect()
_SQLITE_TIME = DateTime().dialect_impl(_SQLITE).bind_processor(_SQLITE)


def sqlite_stamp(moment: datetime) -> str:
    """A UTC time as SQLAlchemy stores it in SQLite (checked against it in `load`)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _same(value):
    return value


def sqlite_path(url: str) -> str:
    return make_url(url).database


def driver_url(url: str) -> str:
    """The SQLAlchemy URL of a PostgreSQL database as psycopg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Bulk:
    """Rows straight into tables through the driver, committed a patient at a time."""

    def __init__(self, url: str, dialect: str) -> None:
        self.dialect = dialect
        if dialect == "sqlite":
            self.connection = sqlite3.connect(sqlite_path(url), isolation_level=None)
            # Loading the bench's own data: a crash only loses the bench.
            self.connection.execute("PRAGMA synchronous=OFF")
            self.connection.execute("PRAGMA cache_size=-262144")
            self.connection.execute("BEGIN")
        else:
            self.connection = psycopg.connect(driver_url(url))

    def write(self, table: str, columns: tuple[str, ...], rows: Iterator[tuple]) -> int:
        count = 0
        if self.dialect == "sqlite":
            marks = ", ".join("?" * len(columns))
            cursor = self.connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
            )
            return cursor.rowcount
        with (
            self.connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def commit(self) -> None:
        if self.dialect == "sqlite":
            self.connection.execute("COMMIT")
            self.connection.execute("BEGIN")
        else:
            self.connection.commit()

    def close(self) -> None:
        if self.dialect == "sqlite":
            self.connection.execute("COMMIT")
            self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            self.connection.commit()
        self.connection.close()


def load(db: Database, url: str, days: int) -> tuple[BenchWard, Year, dict[str, int]]:
    """Create the ward through the services and fill it with `days` of history."""
    zone_ward = Ward(code="ZONE", name="zone", time_zone="America/Chicago")
    end = history_end(zone_ward)
    start = end - timedelta(days=days)
    bench = make_ward(
        db, code="SPEED", levels=LEVELS, technicians=2, admitted_at=start - timedelta(hours=1)
    )
    if db.dialect == "sqlite":
        probe = datetime(2026, 3, 8, 8, 5, 3, 120, tzinfo=UTC)
        assert sqlite_stamp(probe) == _SQLITE_TIME(probe.replace(tzinfo=None)), "time format"
        stamp, day_stamp = sqlite_stamp, date.isoformat
    else:
        stamp = day_stamp = _same
    counts = dict.fromkeys(("checks", "sleep_reports", "attendances", "groups", "incidents"), 0)
    with db.writing() as session:
        ward = session.get(Ward, bench.ward_id)
        year = Year(ward, bench, start=start, end=end, stamp=stamp, day_stamp=day_stamp)
        sessions = year.group_sessions()
        session.add_all(sessions)
        for story in year.stories:
            for row in year.small_rows(story):
                if isinstance(row, tuple):
                    incident, restraint = row
                    session.add(incident)
                    session.flush()
                    counts["incidents"] += 1
                    if restraint is not None:
                        restraint.incident_id = incident.id
                        session.add(restraint)
                else:
                    session.add(row)
        session.flush()
        counts["groups"] = len(sessions)
        write_audit(
            session,
            key=db.keys.audit,
            at=end,
            action=AuditAction.create,
            staff_id=None,
            username="console",
            ward_id=bench.ward_id,
            detail="speed bench history loaded",
        )
    bulk = Bulk(url, db.dialect)
    try:
        for story in year.stories:
            counts["checks"] += bulk.write("check_in", CHECK_COLUMNS, year.checks(story))
            counts["sleep_reports"] += bulk.write(
                "sleep_report", SLEEP_COLUMNS, year.sleep_reports(story)
            )
            counts["attendances"] += bulk.write(
                "group_attendance", ATTENDANCE_COLUMNS, year.attendances(story, sessions)
            )
            bulk.commit()
    finally:
        bulk.close()
    with db.writing() as session:
        # About one check in a thousand voided, so `current()` has something to leave out.
        session.exec(
            insert(Correction).from_select(
                ["record_kind", "record_id", "action", "reason", "corrected_by", "corrected_at"],
                _void_selection(bench.charge.staff_id),
            )
        )
    if db.dialect == "postgresql":
        # As autovacuum would soon after a load this size; before it, the planner takes the
        # tables for empty and joins them as such.
        with psycopg.connect(driver_url(url), autocommit=True) as connection:
            connection.execute("ANALYZE")
    return bench, year, counts


def _void_selection(staff_id: int):
    return select(
        literal(RecordKind.check_in.value),
        CheckIn.id,
        literal("void"),
        literal("Entered for the wrong patient"),
        literal(staff_id),
        CheckIn.recorded_at,
    ).where(CheckIn.id % 1000 == 7)


# -- the raw side -------------------------------------------------------------------------------


class Raw:
    """The same work written by hand against the driver, on one connection of its own."""

    def __init__(self, url: str, dialect: str, key: bytes) -> None:
        self.dialect = dialect
        self.key = key
        if dialect == "sqlite":
            self.connection = sqlite3.connect(
                sqlite_path(url), isolation_level=None, check_same_thread=False
            )
            # The app's settings (app/storage/database.py).
            for pragma in (
                "journal_mode=WAL",
                "foreign_keys=ON",
                "busy_timeout=10000",
                "synchronous=FULL",
            ):
                self.connection.execute(f"PRAGMA {pragma}")
        else:
            self.connection = psycopg.connect(driver_url(url))
        self.stamp = sqlite_stamp if dialect == "sqlite" else _same

    def sql(self, statement: str) -> str:
        return statement if self.dialect == "sqlite" else statement.replace("?", "%s")

    def begin(self, writing: bool) -> None:
        if self.dialect == "sqlite":
            self.connection.execute("BEGIN IMMEDIATE" if writing else "BEGIN")

    def commit(self) -> None:
        if self.dialect == "sqlite":
            self.connection.execute("COMMIT")
        else:
            self.connection.commit()

    def execute(self, statement: str, values: tuple = ()):
        return self.connection.execute(self.sql(statement), values)

    def audit(self, *, at: datetime, staff_id: int, ward_id: int, patient_id: int, **rest) -> None:
        """The audit row and the chain head, as `write_audit` leaves them."""
        lock = "" if self.dialect == "sqlite" else " FOR UPDATE"
        last_id, last_hash = self.execute(
            f"SELECT last_event_id, last_hash FROM audit_chain_head WHERE id = 1{lock}"
        ).fetchone()
        event = SimpleNamespace(
            id=(last_id or 0) + 1,
            at=at,
            staff_id=staff_id,
            username="",
            action=rest["action"],
            ward_id=ward_id,
            patient_id=patient_id,
            record_kind=rest.get("record_kind"),
            record_id=rest.get("record_id"),
            detail=rest.get("detail", ""),
        )
        digest = _digest(self.key, last_hash, event)
        self.execute(
            "INSERT INTO audit_event (id, at, staff_id, username, action, ward_id, patient_id, "
            "record_kind, record_id, detail, previous_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.id,
                self.stamp(at),
                staff_id,
                "",
                event.action,
                ward_id,
                patient_id,
                event.record_kind,
                event.record_id,
                event.detail,
                last_hash,
                digest,
            ),
        )
        self.execute(
            "UPDATE audit_chain_head SET last_event_id = ?, last_hash = ? WHERE id = 1",
            (event.id, digest),
        )

    def save_check(self, form: dict, *, staff_id: int, ward_id: int, now: datetime) -> int:
        self.begin(writing=True)
        returning = "" if self.dialect == "sqlite" else " RETURNING id"
        cursor = self.execute(
            f"INSERT INTO check_in ({', '.join(CHECK_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(CHECK_COLUMNS))}){returning}",
            (
                form["patient_id"],
                ward_id,
                self.stamp(form["observed_at"]),
                form["location"],
                form["status"],
                json.dumps(form["behaviours"]),
                None,
                form["mood"],
                form["anxiety"],
                "",
                False,
                False,
                None,
                staff_id,
                self.stamp(now),
                form["client_key"],
                REQUEST_HASH,
            ),
        )
        check_id = cursor.lastrowid if self.dialect == "sqlite" else cursor.fetchone()[0]
        self.audit(
            at=now,
            staff_id=staff_id,
            ward_id=ward_id,
            patient_id=form["patient_id"],
            action=AuditAction.create.value,
            record_kind=RecordKind.check_in.value,
            record_id=check_id,
        )
        self.commit()
        return check_id

    def timeline_page(self, patient_id: int, *, staff_id: int, ward_id: int, now: datetime):
        """The first page: positions, rows with writers' names, corrections, the view's audit."""
        branches = " UNION ALL ".join(
            f"SELECT * FROM (SELECT '{kind}' AS kind, {table}.id AS id, {at} AS at "
            f"FROM {table}{join} WHERE {table}.patient_id = ? "
            f"ORDER BY {at} DESC, {table}.id DESC LIMIT {PAGE + 1}) AS {kind}_page"
            for kind, table, at, join in RAW_TIMELINE
        )
        self.begin(writing=False)
        positions = self.execute(
            f"SELECT kind, id, at FROM ({branches}) AS page "
            f"ORDER BY at DESC, kind, id DESC LIMIT {PAGE + 1}",
            (patient_id,) * len(RAW_TIMELINE),
        ).fetchall()[:PAGE]
        ids: dict[str, list[int]] = {}
        for kind, record_id, _ in positions:
            ids.setdefault(kind, []).append(record_id)
        rows = []
        for kind, kind_ids in ids.items():
            table = RAW_TABLES[kind]
            marks = ", ".join("?" * len(kind_ids))
            session = (
                ", g.* FROM group_attendance r JOIN group_session g ON g.id = r.session_id"
                if kind == "group_attendance"
                else f" FROM {table} r"
            )
            rows += self.execute(
                f"SELECT r.*, s.display_name{session} JOIN staff s ON s.id = r.recorded_by "
                f"WHERE r.id IN ({marks})",
                tuple(kind_ids),
            ).fetchall()
            rows += self.execute(
                "SELECT * FROM correction WHERE record_kind = ? "
                f"AND (record_id IN ({marks}) OR replacement_id IN ({marks}))",
                (kind, *kind_ids, *kind_ids),
            ).fetchall()
        self.commit()
        self.begin(writing=True)
        self.audit(
            at=now,
            staff_id=staff_id,
            ward_id=ward_id,
            patient_id=patient_id,
            action=AuditAction.view.value,
            detail="timeline",
        )
        self.commit()
        return positions, rows

    def close(self) -> None:
        self.connection.close()


# Each kind on the timeline: its table, the time it sits at, and the join that time needs.
RAW_TIMELINE = (
    ("check_in", "check_in", "check_in.observed_at", ""),
    (
        "group_attendance",
        "group_attendance",
        "group_session.started_at",
        " JOIN group_session ON group_session.id = group_attendance.session_id",
    ),
    ("incident", "incident", "incident.occurred_at", ""),
    ("level_change", "level_change", "level_change.effective_at", ""),
    ("restraint", "restraint_episode", "restraint_episode.started_at", ""),
    ("sleep_report", "sleep_report", "sleep_report.reported_at", ""),
    ("treatment", "treatment_event", "treatment_event.effective_at", ""),
)
RAW_TABLES = {kind: table for kind, table, _, _ in RAW_TIMELINE}


# -- measuring ----------------------------------------------------------------------------------


def percentile(values: list[float], point: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[point - 1]


def timed(call: Callable[[], object]) -> float:
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


def side_by_side(
    service: Callable[[int], object], raw: Callable[[int], object] | None, count: int
) -> tuple[list[float], list[float]]:
    """Latencies in ms of `count` calls of each, after WARMUP; the two take turns going first."""
    ours: list[float] = []
    theirs: list[float] = []
    for number in range(WARMUP + count):
        pair = [(ours, service), (theirs, raw)] if number % 2 else [(theirs, raw), (ours, service)]
        for into, call in pair:
            if call is None:
                continue
            took = timed(lambda call=call, number=number: call(number))
            if number >= WARMUP:
                into.append(took)
    return ours, theirs


def ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


@dataclass
class Measure:
    """One row of the table, with the raw latencies behind it."""

    measure: str
    ours: list[float]
    raw: list[float]
    target: str
    # The median (and ratio) the target allows; None where there is no such limit.
    max_p50: float | None = None
    max_ratio: float | None = None

    @property
    def p50(self) -> float:
        return percentile(self.ours, 50)

    @property
    def p95(self) -> float:
        return percentile(self.ours, 95)

    @property
    def raw_p50(self) -> float | None:
        return percentile(self.raw, 50) if self.raw else None

    @property
    def ratio(self) -> float | None:
        return self.p50 / self.raw_p50 if self.raw_p50 else None

    @property
    def met(self) -> bool:
        ok = self.max_p50 is None or self.p50 < self.max_p50
        return ok and (self.max_ratio is None or (self.ratio or 0) <= self.max_ratio)

    def row(self) -> dict:
        """The row as bench/speed_server.py writes its own: strings, "" where not applicable."""
        return {
            "measure": self.measure,
            "rounds_p50": ms(self.p50),
            "rounds_p95": ms(self.p95),
            "raw_p50": ms(self.raw_p50) if self.raw_p50 is not None else "",
            "ratio": f"{self.ratio:.2f}" if self.ratio is not None else "",
            "target": self.target,
            "met": self.met,
        }


def measure(db: Database, url: str, bench: BenchWard, year: Year, quick: bool) -> list[Measure]:
    """Every row of the table, reads first (on the history as loaded), then the saves."""
    clock: BenchClock = db.clock
    end = year.end
    index = 1 if quick else 0
    charge, technician = bench.charge, bench.technicians[0]
    patient_id = bench.patient_ids[READ_BED - 1]
    raw = Raw(url, db.dialect, db.keys.audit)
    try:
        ours, theirs = side_by_side(
            lambda _: timeline_for(db, charge, patient_id, limit=PAGE),
            lambda _: raw.timeline_page(
                patient_id, staff_id=charge.staff_id, ward_id=bench.ward_id, now=clock()
            ),
            COUNTS["timeline"][index],
        )
        on_sqlite = db.dialect == "sqlite"
        history = "a year" if year.days_long >= DAYS else f"{year.days_long} days"
        timeline = Measure(
            f"First timeline page ({PAGE} entries), {history} of q15",
            ours,
            theirs,
            "ratio <= 2, p50 < 10 ms" if on_sqlite else "ratio <= 2",
            max_p50=10.0 if on_sqlite else None,
            max_ratio=2.0,
        )
        today = local_date(year.ward, end)
        trends, _ = side_by_side(
            lambda _: trends_for(
                db,
                charge,
                patient_id,
                start=today - timedelta(days=TREND_DAYS - 1),
                end=today,
            ),
            None,
            COUNTS["trends"][index],
        )
        rounds, _ = side_by_side(
            lambda _: rounds_for(db, technician, bench.ward_id), None, COUNTS["rounds"][index]
        )
        assert shift_at(year.ward, end).name == "Night"
        handoff, _ = side_by_side(
            lambda _: handoff_for(db, charge, bench.ward_id), None, COUNTS["handoff"][index]
        )
        saved, raw_saved = _saves(db, raw, bench, year, COUNTS["save"][index])
    finally:
        raw.close()
    clock.now = end
    return [
        Measure(
            "Save a check-in (service vs raw driver)",
            saved,
            raw_saved,
            "ratio <= 2",
            max_ratio=2.0,
        ),
        timeline,
        Measure(f"{TREND_DAYS}-day trend series", trends, [], "p50 < 50 ms", max_p50=50.0),
        Measure(f"Rounds view, {BEDS} patients", rounds, [], "p50 < 20 ms", max_p50=20.0),
        Measure("Shift handoff (night shift)", handoff, [], "p50 < 100 ms", max_p50=100.0),
    ]


def _saves(
    db: Database, raw: Raw, bench: BenchWard, year: Year, count: int
) -> tuple[list[float], list[float]]:
    """Checks saved in pairs, one through the service and one raw, on different q15 patients."""
    clock: BenchClock = db.clock
    technician = bench.technicians[0]
    q15 = [
        patient_id
        for patient_id, level in zip(bench.patient_ids, LEVELS, strict=True)
        if level == ObservationLevel.q15
    ]
    half = len(q15) // 2
    rng = random.Random(SEED)

    def form(number: int, patient_id: int, side: str) -> dict:
        location, status = DAY_CHOICES[number % len(DAY_CHOICES)]
        return {
            "patient_id": patient_id,
            "observed_at": clock(),
            "location": location.value,
            "status": status.value,
            "behaviours": [Behaviour.calm.value],
            "mood": rng.randint(2, 8),
            "anxiety": rng.randint(2, 8),
            "client_key": f"speed:save:{side}:{number}",
        }

    moved: set[int] = set()

    def tick(number: int) -> None:
        # The clock moves once per pair, before whichever side goes first.
        if number not in moved:
            moved.add(number)
            clock.now += SAVE_STEP

    def ours(number: int) -> None:
        tick(number)
        record_check_in(db, technician, form(number, q15[number % len(q15)], "service"))

    def theirs(number: int) -> None:
        tick(number)
        raw.save_check(
            form(number, q15[(number + half) % len(q15)], "raw"),
            staff_id=technician.staff_id,
            ward_id=bench.ward_id,
            now=clock(),
        )

    clock.now = year.end
    return side_by_side(ours, theirs, count)


# -- the table ----------------------------------------------------------------------------------

COLUMNS = (
    ("measure", "measure"),
    ("rounds_p50", "Rounds p50"),
    ("rounds_p95", "p95"),
    ("raw_p50", "raw p50"),
    ("ratio", "ratio"),
    ("target", "target"),
    ("met", "met"),
)


def table(rows: list[dict]) -> str:
    """The rows as a markdown table."""
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for row in rows:
        cells = [
            ("yes" if row[key] else "no") if key == "met" else str(row[key]) for key, _ in COLUMNS
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def server_rows(url: str, quick: bool) -> list[dict]:
    """Rows 4-5 from bench/speed_server.py, when it is there."""
    if importlib.util.find_spec("bench.speed_server") is None:
        print("(bench/speed_server.py is not there yet: no server rows)")
        return []
    from bench.speed_server import measure_server

    return measure_server(url, quick)


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, help=f"days of history ({DAYS}; --quick {QUICK_DAYS})")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    parser.add_argument(
        "--server",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="add bench/speed_server.py's rows (default: on, off with --quick)",
    )
    args = parser.parse_args(argv)
    if args.db == "postgres" and args.url is None:
        args.url = os.environ.get("ROUNDS_BENCH_DATABASE_URL")
    days = args.days or (QUICK_DAYS if args.quick else DAYS)
    with_server = (not args.quick) if args.server is None else args.server
    began = time.monotonic()
    with fresh_database(args.db, args.url) as url:
        clock = BenchClock(utc_now())
        db = open_database(url, clock=clock)
        loading = time.monotonic()
        bench, year, counts = load(db, url, days)
        clock.now = year.end
        load_seconds = time.monotonic() - loading
        measures = measure(db, url, bench, year, args.quick)
        with db.reading() as session:
            # The raw side's audit rows are chained like the services' own, or this says where.
            chain = verify_chain(session, key=db.keys.audit)
        db.dispose()
        rows = [item.row() for item in measures]
        if with_server:
            rows += server_rows(url, args.quick)
    print(
        f"\n{args.db}, {days} days: {counts['checks']:,} checks, "
        f"{counts['sleep_reports']:,} sleep reports, {counts['groups']:,} groups "
        f"({counts['attendances']:,} attendances), {counts['incidents']} incidents; "
        f"loaded in {load_seconds:.0f} s on {os.cpu_count()} cores\n"
    )
    print(table(rows))
    print()
    seconds = round(time.monotonic() - began, 1)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(
                {
                    "engine": args.db,
                    "days": days,
                    **counts,
                    "load_seconds": round(load_seconds, 1),
                    "seconds": seconds,
                    "cores": os.cpu_count(),
                    "rows": rows,
                    "latencies_ms": {item.measure: item.ours for item in measures},
                    "raw_latencies_ms": {item.measure: item.raw for item in measures if item.raw},
                },
                out,
                indent=2,
            )
    named = dict(zip(("save", "timeline", "trends", "rounds", "handoff"), measures, strict=True))
    print(
        figures(
            engine=args.db,
            days=days,
            checks=counts["checks"],
            load_s=round(load_seconds, 1),
            save_p50_ms=round(named["save"].p50, 2),
            save_raw_p50_ms=round(named["save"].raw_p50, 2),
            save_ratio=round(named["save"].ratio, 2),
            timeline_p50_ms=round(named["timeline"].p50, 2),
            timeline_raw_p50_ms=round(named["timeline"].raw_p50, 2),
            timeline_ratio=round(named["timeline"].ratio, 2),
            trends_p50_ms=round(named["trends"].p50, 2),
            rounds_p50_ms=round(named["rounds"].p50, 2),
            handoff_p50_ms=round(named["handoff"].p50, 2),
            audit_chain="verified"
            if chain.first_bad_id is None
            else f"broken@{chain.first_bad_id}",
            rows=len(rows),
            met=sum(bool(row["met"]) for row in rows),
            seconds=seconds,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
