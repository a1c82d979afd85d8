"""The demo ward's history: checks, sleep, groups, incidents and orders, drawn from the census.

Generation only, no database: small tables come out as unsaved table models, the large ones
(checks, sleep reports, attendances) as plain dicts for bulk inserts. Every random draw comes from
a `random.Random` seeded with the seed and one patient's MRN (or "groups"), so the same seed and
clock give the same ward, and a change to one patient's story does not reshuffle the others.
"""

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from app.demo.census import (
    DUE_AT_END,
    GROUPS,
    INCIDENTS,
    LEVEL_ORDERS,
    OVERDUE_AT_END,
    PHYSICIAN,
    TREATMENTS,
    At,
    DemoIncident,
    DemoPatient,
)
from app.services.check_ins import DUPLICATE_WINDOW, ON_TIME_FACTOR
from app.services.ward_time import local_date, local_to_utc, night_bounds
from models import (
    GroupSession,
    Incident,
    LevelChange,
    Patient,
    RestraintEpisode,
    TreatmentEvent,
    Ward,
)
from models.codes import (
    Attendance,
    GroupType,
    LateReason,
    Location,
    ObservationLevel,
    ParticipationLevel,
    ParticipationQuality,
    RestraintKind,
    Role,
    SleepQuality,
    Status,
)
from models.incidents import (
    FACE_TO_FACE_WITHIN,
    GUARDIAN_NOTICE_WITHIN,
    moas_total,
    order_limit,
)

# Every demo row carries this instead of a form's fingerprint: no form ever sent it.
REQUEST_HASH = "demo"
# Events are kept this far inside the history, so none lands in the future or before the start.
MARGIN = timedelta(hours=1)

# Chances per patient per day; a few late and missed checks a day across the ward.
LATE_PER_DAY = 0.25
MISSED_PER_DAY = 0.06
OUTING_PER_DAY = 0.05
REPORTS_SLEEP = 0.85

LATE_REASONS = (
    (LateReason.staff_emergency, "Staff called to an emergency on the unit"),
    (LateReason.patient_in_bathroom, "In the bathroom; seen when they came out"),
    (LateReason.other, "Admission arriving at the same time"),
)
MISSED_REASONS = (
    (LateReason.patient_refused, "Asked staff to leave the doorway; seen at the next round"),
    (LateReason.staff_emergency, "Staff pulled to an emergency on the unit"),
)
DAY_NOTES = (
    "Phone call with family",
    "Asked for an extra blanket",
    "Visited by family in the day room",
    "Asked about discharge date",
    "Ate full meal",
    "Requested PRN for headache; nurse informed",
)
RELEASE_CRITERIA = "Calm, no threats for 15 minutes, able to agree to a safety plan"

Activity = tuple[Location, Status]


def quarter_hours(hours: float) -> float:
    return round(hours * 4) / 4


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def score(value: float) -> int:
    """A 0-10 self-rating."""
    return int(clamp(round(value), 0, 10))


def age_on(birth_date: date, day: date) -> int:
    """Completed years of age on a day."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


@dataclass(frozen=True)
class Window:
    """The span of history being written, in the ward's clock."""

    ward: Ward
    start: datetime
    end: datetime
    days: int

    @property
    def first_day(self) -> date:
        return local_date(self.ward, self.start)

    def local_days(self) -> list[date]:
        last = local_date(self.ward, self.end)
        return [self.first_day + timedelta(days=n) for n in range((last - self.first_day).days + 1)]

    def moment(self, at: At) -> datetime:
        """The moment a fraction of the history in, at a local time of day, kept inside it."""
        day = self.first_day + timedelta(days=math.floor(at.fraction * self.days + 0.5))
        low, high = self.start + MARGIN, self.end - MARGIN
        for shift in (0, 1, -1, 2, -2):
            moment = self.at_local(day + timedelta(days=shift), at.hour, at.minute)
            if low <= moment <= high:
                return moment
        return clamp_time(self.at_local(day, at.hour, at.minute), low, high)

    def at_local(self, day: date, hour: int, minute: int = 0) -> datetime:
        return local_to_utc(self.ward, day, hour) + timedelta(minutes=minute)


def clamp_time(moment: datetime, low: datetime, high: datetime) -> datetime:
    return max(low, min(high, moment))


class Intervals:
    """Non-overlapping time intervals with a payload, for finding which one holds a moment."""

    def __init__(self, items: list[tuple[datetime, datetime, object]]) -> None:
        self.items = sorted(items, key=lambda item: item[0])
        self.starts = [item[0] for item in self.items]

    def at(self, moment: datetime) -> object | None:
        """The payload of the interval holding the moment, or None."""
        index = bisect_right(self.starts, moment) - 1
        if index >= 0 and moment < self.items[index][1]:
            return self.items[index][2]
        return None

    def holds(self, moment: datetime) -> bool:
        index = bisect_right(self.starts, moment) - 1
        return index >= 0 and moment < self.items[index][1]


@dataclass(frozen=True)
class PlannedGroup:
    number: int
    group_type: GroupType
    title: str
    started_at: datetime
    ends_at: datetime
    cancelled: bool


@dataclass(frozen=True)
class Night:
    """One planned night: when the patient fell asleep and woke, with awake spells between."""

    night_of: date
    starts: datetime
    ends: datetime
    onset: datetime
    wake: datetime
    hours: float
    awakenings: int


@dataclass(frozen=True)
class Episode:
    """The hour around an incident: how the patient seems, and where and when it happened."""

    behaviours: tuple[str, ...]
    affect: str | None
    # The check made as it happens finds the patient there.
    location: Location
    occurred_at: datetime


@dataclass
class PatientRecords:
    """One patient's history, ready to insert."""

    level_changes: list[LevelChange] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)
    sleep_reports: list[dict] = field(default_factory=list)
    attendances: list[dict] = field(default_factory=list)
    incidents: list[tuple[Incident, RestraintEpisode | None]] = field(default_factory=list)
    treatments: list[TreatmentEvent] = field(default_factory=list)


class DemoHistory:
    """The demo ward's whole history over a window, generated patient by patient."""

    def __init__(
        self,
        ward: Ward,
        *,
        start: datetime,
        end: datetime,
        days: int,
        today: date,
        seed: int,
        staff: dict[Role, int],
    ) -> None:
        self.window = Window(ward, start, end, days)
        self.ward = ward
        self.today = today
        self.seed = seed
        self.staff = staff
        self.groups = self._plan_groups()

    def rng(self, stream: str) -> random.Random:
        """A random stream of its own for each patient (string seeds hash the same everywhere)."""
        return random.Random(f"{self.seed}:{stream}")

    def _plan_groups(self) -> list[PlannedGroup]:
        rng = self.rng("groups")
        window = self.window
        cancelled_day = local_date(self.ward, window.moment(GROUPS.cancelled))
        planned = []
        for day in window.local_days():
            for hour, timetable in (
                (GROUPS.morning_hour, GROUPS.morning),
                (GROUPS.afternoon_hour, GROUPS.afternoon),
            ):
                started = window.at_local(day, hour, rng.randint(0, 6))
                ends = started + timedelta(minutes=GROUPS.minutes)
                # Only groups that have ended and been written up by now.
                if started < window.start or ends + timedelta(minutes=30) > window.end:
                    continue
                group_type = GroupType(timetable[day.weekday()])
                cancelled = day == cancelled_day and hour == GROUPS.afternoon_hour
                title = rng.choice(GROUPS.titles[group_type])
                planned.append(
                    PlannedGroup(
                        len(planned) + 1,
                        group_type,
                        f"{title} (cancelled: short-staffed)" if cancelled else title,
                        started,
                        ends,
                        cancelled,
                    )
                )
        return planned

    def group_sessions(self) -> list[GroupSession]:
        """The ward's group sessions, in the order of `self.groups`."""
        return [
            GroupSession(
                ward_id=self.ward.id,
                group_type=group.group_type,
                title=group.title,
                started_at=group.started_at,
                recorded_by=self.staff[Role.technician],
                recorded_at=group.started_at + timedelta(minutes=2),
                client_key=f"demo:group:{group.number}",
                request_hash=REQUEST_HASH,
            )
            for group in self.groups
        ]

    def admitted_at(self, demo: DemoPatient) -> datetime:
        rng = self.rng(f"{demo.mrn}:admission")
        if demo.admission < 0:
            day = self.window.first_day + timedelta(days=math.floor(demo.admission))
            return self.window.at_local(day, 14, rng.randint(0, 50))
        return self.window.moment(At(demo.admission, 15, rng.randint(0, 50)))

    def patient(self, demo: DemoPatient) -> Patient:
        """The patient's row (unsaved)."""
        number = int(demo.mrn[1:])
        # Past this year's birthday by 40-320 days, so the age holds across the history.
        birth_date = self.today - timedelta(days=int(demo.age * 365.25) + 40 + number * 37 % 280)
        return Patient(
            ward_id=self.ward.id,
            mrn=demo.mrn,
            family_name=demo.family_name,
            given_name=demo.given_name,
            preferred_name=demo.preferred_name,
            room=demo.room,
            bed=demo.bed,
            birth_date=birth_date,
            admitted_at=self.admitted_at(demo),
            precautions=sorted(precaution.value for precaution in demo.precautions),
            substance_use_program=demo.substance_use_program,
        )

    def records(self, demo: DemoPatient, patient: Patient, group_ids: list[int]) -> PatientRecords:
        """Everything recorded about one patient, consistent with their level orders."""
        return PatientStory(self, demo, patient, group_ids).tell()


class PatientStory:
    """One patient's days and nights, drawn from their tendencies and the ward's plan."""

    def __init__(
        self, history: DemoHistory, demo: DemoPatient, patient: Patient, group_ids: list[int]
    ) -> None:
        self.history = history
        self.window = history.window
        self.ward = history.ward
        self.zone = history.ward.zone
        self.demo = demo
        self.patient = patient
        self.group_ids = group_ids
        self.rng = history.rng(demo.mrn)
        self.staff = history.staff
        self.end = self.window.end
        self.course_at = self.window.moment(demo.course.at) if demo.course else None
        self.records = PatientRecords()
        self._day_noise: dict[date, tuple[float, float]] = {}
        self._rating_times: dict[date, list[datetime]] = {}
        self._activity: tuple[Activity, datetime] | None = None

    def tell(self) -> PatientRecords:
        self._incidents()
        self._levels()
        self._treatments()
        self._nights()
        self._groups()
        self._outings()
        self._checks()
        return self.records

    # -- how the patient is: mood, anxiety and sleep around their treatment change

    def progress(self, moment: datetime) -> float:
        """How far the treatment change has taken effect (0 before it, 1 once it has)."""
        if self.course_at is None or moment <= self.course_at:
            return 0.0
        days = (moment - self.course_at).total_seconds() / 86400
        return min(1.0, days / self.demo.course.takes_days)

    def tendency(self, moment: datetime) -> tuple[float, float, float]:
        """Mean mood, anxiety and sleep hours at a moment."""
        demo, course, done = self.demo, self.demo.course, self.progress(moment)
        if course is None or done == 0:
            return demo.mood, demo.anxiety, demo.sleep_hours
        return (
            demo.mood + (course.mood - demo.mood) * done,
            demo.anxiety + (course.anxiety - demo.anxiety) * done,
            demo.sleep_hours + (course.sleep_hours - demo.sleep_hours) * done,
        )

    def irritable(self, moment: datetime) -> bool:
        course = self.demo.course
        return "irritable" in self.demo.traits or bool(
            course and course.irritable and self.progress(moment) > 0.5
        )

    def state(self, moment: datetime) -> tuple[float, float]:
        """Mood and anxiety at a moment: the tendency, the day's ups and downs, and the hour's."""
        day = local_date(self.ward, moment)
        if day not in self._day_noise:
            before = self._day_noise.get(day - timedelta(days=1), (0.0, 0.0))
            # Days follow on from each other: a bad day makes a bad next day likelier.
            self._day_noise[day] = (
                0.5 * before[0] + self.rng.gauss(0, 0.35),
                0.5 * before[1] + self.rng.gauss(0, 0.35),
            )
        mood, anxiety, _ = self.tendency(moment)
        noise = self._day_noise[day]
        return (
            mood + noise[0] + self.rng.gauss(0, 0.6),
            anxiety + noise[1] + self.rng.gauss(0, 0.6),
        )

    # -- orders and events

    def _incidents(self) -> None:
        self.incident_times: list[tuple[datetime, DemoIncident]] = []
        episodes: list[tuple[datetime, datetime, object]] = []
        self.seclusions: list[tuple[datetime, datetime, object]] = []
        for number, planned in enumerate(INCIDENTS, start=1):
            if planned.mrn != self.demo.mrn:
                continue
            occurred = self.window.moment(planned.at)
            self.incident_times.append((occurred, planned))
            incident = self._incident_row(number, planned, occurred)
            restraint = None
            if planned.seclusion_minutes:
                restraint = self._restraint_row(number, planned, occurred)
                ended = restraint.ended_at or self.end
                self.seclusions.append((restraint.started_at, ended, None))
            self.records.incidents.append((incident, restraint))
            episodes.append(
                (
                    occurred - timedelta(minutes=20),
                    occurred + timedelta(minutes=60),
                    Episode(planned.behaviours, planned.affect, planned.location, occurred),
                )
            )
        self.incident_episodes = Intervals(episodes)
        self.seclusion = Intervals(self.seclusions)

    def _incident_row(self, number: int, planned: DemoIncident, occurred: datetime) -> Incident:
        verbal, property_, self_, physical = planned.moas
        return Incident(
            patient_id=self.patient.id,
            ward_id=self.ward.id,
            occurred_at=occurred,
            incident_type=planned.incident_type,
            location=planned.location,
            antecedent=planned.antecedent,
            behaviour=planned.behaviour,
            means=planned.means,
            target=planned.target,
            injury=planned.injury,
            measures=[measure.value for measure in planned.measures],
            alternatives_tried=planned.alternatives_tried,
            staff_involved="Demo Tech; Demo Nurse",
            notified=planned.notified,
            debrief=planned.debrief,
            follow_up=planned.follow_up,
            moas_verbal=verbal,
            moas_property=property_,
            moas_self=self_,
            moas_physical=physical,
            moas_total=moas_total(verbal, property_, self_, physical),
            recorded_by=self.staff[Role.technician],
            recorded_at=self._by_now(occurred + timedelta(minutes=35)),
            client_key=f"demo:incident:{number}",
            request_hash=REQUEST_HASH,
        )

    def _restraint_row(
        self, number: int, planned: DemoIncident, occurred: datetime
    ) -> RestraintEpisode:
        started = occurred + timedelta(minutes=4)
        ordered = occurred + timedelta(minutes=10)
        age = age_on(self.patient.birth_date, local_date(self.ward, ordered))
        return RestraintEpisode(
            patient_id=self.patient.id,
            ward_id=self.ward.id,
            kind=RestraintKind.seclusion,
            ordered_at=ordered,
            ordered_by=f"{PHYSICIAN} (telephone order)",
            started_at=started,
            age_at_order=age,
            order_expires_at=ordered + order_limit(age),
            face_to_face_due_at=started + FACE_TO_FACE_WITHIN,
            guardian_notice_due_at=started + GUARDIAN_NOTICE_WITHIN,
            release_criteria=RELEASE_CRITERIA,
            face_to_face_at=self._done(started + timedelta(minutes=35)),
            guardian_notified_at=self._done(started + timedelta(minutes=80)) if age < 18 else None,
            ended_at=self._done(started + timedelta(minutes=planned.seclusion_minutes)),
            debrief=planned.debrief,
            recorded_by=self.staff[Role.nurse],
            recorded_at=self._by_now(started + timedelta(minutes=6)),
            client_key=f"demo:restraint:{number}",
            request_hash=REQUEST_HASH,
        )

    def _levels(self) -> None:
        admitted = self.patient.admitted_at
        orders = [(admitted, self.demo.level, "Admission", PHYSICIAN)]
        for planned in LEVEL_ORDERS:
            if planned.mrn == self.demo.mrn:
                orders.append((self.window.moment(planned.at), planned.level, planned.reason, ""))
        for occurred, incident in self.incident_times:
            for delay, level, reason in incident.levels_after:
                orders.append((occurred + delay, level, reason, ""))
        orders = [order for order in orders if admitted <= order[0] <= self.end - MARGIN / 12]
        orders.sort(key=lambda order: order[0])
        self.level_times = [order[0] for order in orders]
        self.level_values = [order[1] for order in orders]
        for number, (effective, level, reason, ordered_by) in enumerate(orders):
            self.records.level_changes.append(
                LevelChange(
                    patient_id=self.patient.id,
                    level=level,
                    effective_at=effective,
                    ordered_by=ordered_by or self.rng.choice((PHYSICIAN, "Dr. Demo Resident")),
                    reason=reason,
                    recorded_by=self.staff[Role.nurse],
                    recorded_at=self._by_now(effective + timedelta(minutes=3)),
                    client_key=f"demo:level:{self.demo.mrn}:{number}",
                    request_hash=REQUEST_HASH,
                )
            )

    def level_at(self, moment: datetime) -> tuple[ObservationLevel, datetime]:
        """The level order in effect at a moment, and since when (the due rule's inputs)."""
        index = max(0, bisect_right(self.level_times, moment) - 1)
        return self.level_values[index], self.level_times[index]

    def next_level_change(self, moment: datetime) -> tuple[datetime, ObservationLevel] | None:
        index = bisect_right(self.level_times, moment)
        if index < len(self.level_times):
            return self.level_times[index], self.level_values[index]
        return None

    def _treatments(self) -> None:
        planned = [
            (treatment.at, treatment.kind, treatment.name, treatment.detail, treatment.ordered_by)
            for treatment in TREATMENTS
            if treatment.mrn == self.demo.mrn
        ]
        course = self.demo.course
        if course is not None:
            planned.append((course.at, course.kind, course.name, course.detail, PHYSICIAN))
        for number, (at, kind, name, detail, ordered_by) in enumerate(planned):
            if isinstance(at, timedelta):
                effective = self.patient.admitted_at + at
            else:
                effective = self.window.moment(at)
            if effective > self.end - MARGIN / 12:
                continue
            self.records.treatments.append(
                TreatmentEvent(
                    patient_id=self.patient.id,
                    kind=kind,
                    effective_at=effective,
                    name=name,
                    detail=detail,
                    ordered_by=ordered_by,
                    recorded_by=self.staff[Role.nurse],
                    recorded_at=self._by_now(effective + timedelta(minutes=10)),
                    client_key=f"demo:treatment:{self.demo.mrn}:{number}",
                    request_hash=REQUEST_HASH,
                )
            )

    # -- nights

    def _nights(self) -> None:
        self.nights: dict[date, Night] = {}
        asleep: list[tuple[datetime, datetime, object]] = []
        first = max(self.window.start, self.patient.admitted_at)
        for day in [self.window.first_day - timedelta(days=1), *self.window.local_days()]:
            starts, ends = night_bounds(self.ward, day)
            if ends <= first or starts >= self.end:
                continue
            night, spells = self._night(day, starts, ends)
            self.nights[day] = night
            asleep.extend((spell_start, spell_end, None) for spell_start, spell_end in spells)
            if starts >= first:
                self._sleep_report(night)
        self.asleep = Intervals(asleep)

    def _night(
        self, day: date, starts: datetime, ends: datetime
    ) -> tuple[Night, list[tuple[datetime, datetime]]]:
        rng = self.rng
        _, _, mean_hours = self.tendency(starts)
        hours = clamp(rng.gauss(mean_hours, 0.6), 1.5, 8.5)
        awakenings = rng.randint(2, 4) if hours < 5 else rng.randint(0, 2 if hours < 6.5 else 1)
        awake = [timedelta(minutes=rng.uniform(10, 35)) for _ in range(awakenings)]
        length = ends - starts
        slept = timedelta(hours=hours)
        room = length - timedelta(minutes=15) - slept
        while awake and sum(awake, timedelta()) > room:
            awake.pop()
        in_bed = slept + sum(awake, timedelta())
        spare = max(timedelta(minutes=10), length - in_bed - timedelta(minutes=5))
        # Most fall asleep early in the night; poor sleepers lie awake longer first.
        onset = starts + timedelta(minutes=10) + (spare - timedelta(minutes=10)) * rng.random() ** 2
        wake = min(onset + in_bed, ends - timedelta(minutes=1))
        spells = []
        cursor = onset
        gaps = sorted(rng.uniform(0.1, 0.9) for _ in awake)
        for fraction, spell in zip(gaps, awake, strict=True):
            awake_at = max(cursor, onset + (wake - onset) * fraction)
            if awake_at + spell >= wake:
                break
            spells.append((cursor, awake_at))
            cursor = awake_at + spell
        spells.append((cursor, wake))
        spells = [(a, b) for a, b in spells if b > a]
        slept_hours = sum(((b - a) for a, b in spells), timedelta()).total_seconds() / 3600
        night = Night(day, starts, ends, onset, wake, slept_hours, len(spells) - 1)
        return night, spells

    def _sleep_report(self, night: Night) -> None:
        rng = self.rng
        if rng.random() > REPORTS_SLEEP:
            return
        morning = night.night_of + timedelta(days=1)
        reported = self.window.at_local(morning, 7, 30) + timedelta(minutes=rng.uniform(0, 120))
        reported = max(reported, night.wake + timedelta(minutes=10)).replace(microsecond=0)
        if reported > self.end - timedelta(minutes=3):
            return
        hours = quarter_hours(clamp(rng.gauss(night.hours, 0.35), 0, 12))
        quality = (
            SleepQuality.good
            if hours >= 6.5
            else SleepQuality.fair
            if hours >= 5
            else SleepQuality.poor
        )
        nightmares = rng.random() < (0.35 if "nightmares" in self.demo.traits else 0.03)
        self.records.sleep_reports.append(
            {
                "patient_id": self.patient.id,
                "night_of": night.night_of,
                "reported_at": reported,
                "hours_slept": hours,
                "quality": quality.value,
                "awakenings": min(30, night.awakenings + (rng.random() < 0.2)),
                "nightmares": nightmares,
                "note": "Woke from a bad dream" if nightmares and rng.random() < 0.5 else "",
                "recorded_by": self.staff[Role.technician],
                "recorded_at": self._by_now(reported + timedelta(minutes=rng.uniform(0.5, 3))),
                "client_key": f"demo:sleep:{self.demo.mrn}:{night.night_of:%Y%m%d}",
                "request_hash": REQUEST_HASH,
            }
        )

    # -- groups and time off the unit

    def _groups(self) -> None:
        rng = self.rng
        in_group: list[tuple[datetime, datetime, object]] = []
        for group, session_id in zip(self.history.groups, self.group_ids, strict=True):
            if group.started_at <= self.patient.admitted_at:
                continue
            if group.group_type == GroupType.twelve_step and not self.demo.substance_use_program:
                continue
            participation = quality = None
            if group.cancelled:
                attendance = Attendance.cancelled
            elif self.seclusion.holds(group.started_at):
                attendance = Attendance.excused
            else:
                attendance = self._attendance(group.started_at)
            if attendance.was_present:
                joined = group.started_at
                left = group.ends_at
                if attendance == Attendance.late_arrival:
                    joined += timedelta(minutes=rng.randint(10, 20))
                elif attendance == Attendance.left_early:
                    left -= timedelta(minutes=rng.randint(15, 30))
                in_group.append((joined, left, None))
                participation, quality = self._participation(group.started_at)
            self.records.attendances.append(
                {
                    "session_id": session_id,
                    "patient_id": self.patient.id,
                    "attendance": attendance.value,
                    "participation_level": participation,
                    "participation_quality": quality,
                    "note": "",
                    "recorded_by": self.staff[Role.technician],
                    "recorded_at": group.ends_at + timedelta(minutes=rng.randint(5, 25)),
                    "client_key": f"demo:attendance:{group.number}:{self.demo.mrn}",
                    "request_hash": REQUEST_HASH,
                }
            )
        self.in_group = Intervals(in_group)

    def _attendance(self, moment: datetime) -> Attendance:
        rng = self.rng
        mood, anxiety = self.state(moment)
        presence = 0.45 + 0.35 * self.demo.sociable + 0.06 * (mood - 5) - 0.04 * (anxiety - 5)
        if self.demo.course is not None:
            presence += self.demo.course.group_presence * self.progress(moment)
        if rng.random() < clamp(presence, 0.1, 0.95):
            return rng.choices(
                (Attendance.attended, Attendance.late_arrival, Attendance.left_early),
                (85, 10, 5),
            )[0]
        refuses = 6 + 4 * self.irritable(moment)
        return rng.choices(
            (Attendance.refused, Attendance.did_not_attend, Attendance.excused), (refuses, 3, 1)
        )[0]

    def _participation(self, moment: datetime) -> tuple[str, str]:
        rng = self.rng
        mood, _ = self.state(moment)
        social = self.demo.sociable
        elevated = "elevated" in self.demo.traits
        level = rng.choices(
            list(ParticipationLevel),
            (
                max(0.1, mood - 4) * social * 2,
                1.5,
                1.5,
                max(0.0, 6 - mood) * 0.5,
                max(0.0, 5 - mood) * 0.4,
                0.1,
            ),
        )[0]
        quality = rng.choices(
            list(ParticipationQuality),
            (
                3,
                2 * social,
                1.5 * social if mood >= 5 else 0.3,
                2 if mood >= 5 else 1,
                2 if elevated else 0.1,
                1.5 if elevated else 0.05,
                1.5 if self.irritable(moment) else 0.2,
            ),
        )[0]
        return level.value, quality.value

    def _outings(self) -> None:
        rng = self.rng
        outings = []
        for day in self.window.local_days():
            if rng.random() >= OUTING_PER_DAY:
                continue
            leaves = self.window.at_local(day, 15, 15 + rng.randint(0, 30))
            back = leaves + timedelta(minutes=rng.randint(45, 100))
            # Nobody leaves the unit around an incident of theirs.
            clash = any(
                leaves - timedelta(hours=3) < occurred < back + timedelta(hours=3)
                for occurred, _ in self.incident_times
            )
            if leaves > self.patient.admitted_at and back < self.end and not clash:
                outings.append((leaves, back, None))
        self.outings = Intervals(outings)

    # -- round checks

    def _checks(self) -> None:
        rng = self.rng
        level, _ = self.level_at(self.window.start)
        start = max(self.window.start, self.patient.admitted_at)
        moment = (start + level.check_interval * rng.uniform(0.2, 0.8)).replace(microsecond=0)
        # Before the history the patient was checked on time; the first check is not late.
        previous = moment - level.check_interval
        last = self._last_moment()
        number = 0
        kind = "seen"
        while True:
            level, since_order = self.level_at(moment)
            interval = level.check_interval
            since = max(previous, since_order)
            late = moment > since + interval * ON_TIME_FACTOR
            number += 1
            self.records.checks.append(self._check(number, moment, kind, late))
            previous = moment
            kind, factor = self._next_kind(interval)
            following = moment + interval * factor
            change = self.next_level_change(moment)
            if change is not None and change[0] <= following:
                # A new order: the next check comes soon after it, by the new interval.
                following = change[0] + change[1].check_interval * rng.uniform(0.2, 0.9)
                kind = "seen"
            following = following.replace(microsecond=0)
            if following > last:
                if last - moment < 2 * DUPLICATE_WINDOW:
                    break
                if self.demo.mrn in (OVERDUE_AT_END, DUE_AT_END):
                    moment, kind = last, "seen"
                    continue
                if self.end - moment > interval * 1.3:
                    # A late check drawn last would leave the patient overdue now: make it.
                    moment, kind = min(last, moment + interval * rng.uniform(0.7, 1.0)), "seen"
                    moment = moment.replace(microsecond=0)
                    continue
                break
            moment = following
            if kind == "seen" and self.outings.holds(moment) and rng.random() < 0.3:
                kind = "missed_off_unit"

    def _last_moment(self) -> datetime:
        """When the last check is made: just before now, except for the two patients whose
        last check is placed to leave them due, or a few minutes overdue, when the history ends."""
        level, _ = self.level_at(self.end)
        interval = level.check_interval
        if self.demo.mrn == OVERDUE_AT_END:
            return (self.end - interval * ON_TIME_FACTOR - timedelta(minutes=4)).replace(
                microsecond=0
            )
        if self.demo.mrn == DUE_AT_END:
            return (self.end - interval * 1.1).replace(microsecond=0)
        return self.end - timedelta(minutes=1)

    def _next_kind(self, interval: timedelta) -> tuple[str, float]:
        """Whether the next check is made as usual, late or missed, and how long until it."""
        rng = self.rng
        per_day = timedelta(days=1) / interval
        draw = rng.random()
        if draw < MISSED_PER_DAY / per_day:
            return "missed", rng.uniform(1.0, 1.3)
        if draw < (MISSED_PER_DAY + LATE_PER_DAY) / per_day:
            return "late", rng.uniform(1.55, 2.2)
        # Irregular on purpose, so patients cannot predict the next round.
        return "seen", 1 + rng.triangular(-0.3, 0.3, 0)

    def _check(self, number: int, moment: datetime, kind: str, late: bool) -> dict:
        rng = self.rng
        row = {
            "patient_id": self.patient.id,
            "ward_id": self.ward.id,
            "observed_at": moment,
            "location": None,
            "status": None,
            "behaviours": [],
            "affect": None,
            "mood": None,
            "anxiety": None,
            "note": "",
            "missed": False,
            "late": late,
            "late_reason": None,
            "recorded_by": self.staff[Role.technician],
            "recorded_at": self._by_now(moment + timedelta(seconds=rng.randint(20, 150))),
            "client_key": f"demo:check:{self.demo.mrn}:{number}",
            "request_hash": REQUEST_HASH,
        }
        if kind == "missed_off_unit":
            row.update(missed=True, late_reason=LateReason.off_unit.value)
            row["note"] = "Off the unit with escort; escort confirmed whereabouts"
        elif kind == "missed":
            reason, note = rng.choice(MISSED_REASONS)
            row.update(missed=True, late_reason=reason.value, note=note)
        else:
            row.update(self._seen(moment))
        if late and row["late_reason"] is None:
            reason, note = rng.choice(LATE_REASONS)
            row.update(late_reason=reason.value, note=note)
        return row

    def _seen(self, moment: datetime) -> dict:
        """Where the patient was, what they were doing and how they seemed."""
        local = moment.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        mood, anxiety = self.state(moment)
        episode = self.incident_episodes.at(moment)
        if self.seclusion.holds(moment):
            status = Status.pacing if self.rng.random() < 0.4 else Status.resting
            return self._seen_as(
                Location.seclusion_room, status, ["restless"], "irritable", mood, anxiety
            )
        if self.outings.holds(moment):
            return self._seen_as(
                Location.off_unit_escorted, Status.off_unit, ["calm"], None, mood, anxiety
            )
        night = self.ward.night_start_hour * 60 <= minute or minute < self.ward.night_end_hour * 60
        if night and episode is None:
            return self._seen_at_night(moment, local, anxiety)
        if night:
            # Woken by what happened: awake in their room while staff are with them.
            behaviours = list(episode.behaviours)
            location = Location.own_room
            if abs(moment - episode.occurred_at) <= timedelta(minutes=10):
                location = episode.location
            return self._seen_as(
                location, Status.awake_in_bed, behaviours, episode.affect, mood, anxiety
            )
        location, status = self._day_activity(moment, minute, mood, anxiety)
        if episode is not None:
            behaviours = list(episode.behaviours)
            if abs(moment - episode.occurred_at) <= timedelta(minutes=10):
                location, status = episode.location, Status.other
            return self._seen_as(location, status, behaviours, episode.affect, mood, anxiety)
        behaviours = self._behaviours(moment, location, status, mood, anxiety)
        affect = None
        rated = self._rating_due(moment, location, status)
        if rated or self.rng.random() < 0.3:
            affect = self._affect(moment, mood, anxiety)
        seen = self._seen_as(location, status, behaviours, affect, mood, anxiety, rated=rated)
        if self.rng.random() < 0.004:
            seen["note"] = self.rng.choice(DAY_NOTES)
        return seen

    def _seen_as(
        self,
        location: Location,
        status: Status,
        behaviours: list[str],
        affect: str | None,
        mood: float,
        anxiety: float,
        *,
        rated: bool = False,
    ) -> dict:
        seen = {
            "location": location.value,
            "status": status.value,
            "behaviours": sorted(set(behaviours)),
            "affect": affect,
        }
        if rated:
            seen["mood"] = score(mood)
            seen["anxiety"] = score(anxiety)
        return seen

    def _seen_at_night(self, moment: datetime, local: datetime, anxiety: float) -> dict:
        rng = self.rng
        night_of = local.date()
        if local.hour < self.ward.night_start_hour:
            night_of -= timedelta(days=1)
        night = self.nights.get(night_of)
        if self.asleep.holds(moment):
            return self._seen_as(Location.own_room, Status.asleep, [], None, 0, 0)
        restless = ["restless"] if anxiety >= 6.5 and rng.random() < 0.5 else []
        if night is not None and moment < night.onset:
            location, status = rng.choices(
                (
                    (Location.own_room, Status.awake_in_bed),
                    (Location.own_room, Status.reading),
                    (Location.day_room, Status.watching_tv),
                    (Location.bathroom, Status.showering),
                ),
                (5, 2, 2, 0.5),
            )[0]
        elif night is not None and moment >= night.wake:
            location, status = rng.choices(
                (
                    (Location.own_room, Status.awake_in_bed),
                    (Location.bathroom, Status.showering),
                    (Location.day_room, Status.resting),
                ),
                (5, 2, 1),
            )[0]
        else:
            location, status = rng.choices(
                (
                    (Location.own_room, Status.awake_in_bed),
                    (Location.bathroom, Status.other),
                    (Location.hallway, Status.pacing),
                    (Location.nursing_station, Status.other),
                ),
                (14, 3, 1.5, 1.5),
            )[0]
        behaviours = restless or (["calm"] if rng.random() < 0.5 else [])
        if status == Status.pacing:
            behaviours = ["restless"]
        return self._seen_as(location, status, behaviours, None, 0, 0)

    def _day_activity(
        self, moment: datetime, minute: int, mood: float, anxiety: float
    ) -> tuple[Location, Status]:
        rng = self.rng
        if self.in_group.holds(moment):
            return Location.group_room, Status.in_group
        if minute < 7 * 60 + 30:
            return rng.choices(
                (
                    (Location.own_room, Status.awake_in_bed),
                    (Location.bathroom, Status.showering),
                    (Location.own_room, Status.resting),
                ),
                (3, 2, 2),
            )[0]
        meal = (7 * 60 + 30 <= minute < 8 * 60 + 30) or (12 * 60 <= minute < 12 * 60 + 45)
        meal = meal or (17 * 60 + 30 <= minute < 18 * 60 + 15)
        if meal and rng.random() < 0.85 - 0.05 * max(0.0, 4 - mood):
            return Location.dining, Status.eating
        if minute >= 21 * 60:
            return rng.choices(
                (
                    (Location.own_room, Status.resting),
                    (Location.own_room, Status.reading),
                    (Location.bathroom, Status.showering),
                    (Location.day_room, Status.watching_tv),
                ),
                (3, 1, 1, 2),
            )[0]
        # Free time: people stay at what they are doing for a while.
        if self._activity is not None and moment < self._activity[1]:
            return self._activity[0]
        activity = self._free_time(minute, mood, anxiety)
        self._activity = (activity, moment + timedelta(minutes=rng.uniform(15, 75)))
        return activity

    def _free_time(self, minute: int, mood: float, anxiety: float) -> Activity:
        social = self.demo.sociable
        traits = self.demo.traits
        low = max(0.0, 4 - mood)
        evening = minute >= 18 * 60
        choices = (
            ((Location.day_room, Status.watching_tv), 3 + evening),
            ((Location.day_room, Status.talking_with_peers), 3 * social + ("elevated" in traits)),
            ((Location.day_room, Status.reading), 1),
            ((Location.own_room, Status.resting), 1 + 2 * (1 - social) + low),
            ((Location.own_room, Status.reading), 1),
            ((Location.own_room, Status.awake_in_bed), low),
            ((Location.hallway, Status.pacing), max(0.0, anxiety - 5) * 0.8),
            ((Location.nursing_station, Status.other), 0.3 + ("confused" in traits)),
            ((Location.day_room, Status.on_phone), 0.3 + evening),
            ((Location.dining, Status.eating), 0.3),
            ((Location.own_room, Status.other), 0.6 * ("psychotic" in traits)),
        )
        return self.rng.choices([c[0] for c in choices], [c[1] for c in choices])[0]

    def _behaviours(
        self, moment: datetime, location: Location, status: Status, mood: float, anxiety: float
    ) -> list[str]:
        rng = self.rng
        traits = self.demo.traits
        found = []
        if anxiety >= 6 and rng.random() < 0.3 + 0.1 * (anxiety - 6):
            found.append("anxious")
        if status == Status.pacing or (anxiety >= 7 and rng.random() < 0.2):
            found.append("restless")
        if mood <= 3.5 and rng.random() < 0.5:
            found.append("depressed")
        if mood <= 4 and location == Location.own_room and rng.random() < 0.5:
            found.append("withdrawn")
        if self.irritable(moment) and rng.random() < (0.3 if self.demo.course else 0.12):
            found.append("irritable")
        if "psychotic" in traits and rng.random() < 0.25:
            found.append("internal_stimuli")
        if "confused" in traits and rng.random() < 0.25:
            found.append("confused")
        if "elevated" in traits and rng.random() < 0.2:
            found.append("attention_seeking")
        if rng.random() < 0.01:
            found.append("resistant")
        return found or ["calm"]

    def _affect(self, moment: datetime, mood: float, anxiety: float) -> str:
        rng = self.rng
        traits = self.demo.traits
        if "elevated" in traits and rng.random() < 0.4:
            return "elevated"
        if "psychotic" in traits and rng.random() < 0.4:
            return "flat"
        if anxiety >= 6.5:
            return "anxious"
        if mood <= 3.5:
            return "depressed"
        if self.irritable(moment) and rng.random() < 0.3:
            return "irritable"
        return "euthymic"

    def _rating_due(self, moment: datetime, location: Location, status: Status) -> bool:
        """Whether to ask for the 0-10 mood and anxiety: 2-4 times a day, when it suits."""
        if location in (Location.dining, Location.bathroom) or status == Status.in_group:
            return False
        day = local_date(self.ward, moment)
        if day not in self._rating_times:
            count = self.rng.choice((2, 3, 3, 4))
            self._rating_times[day] = sorted(
                self.window.at_local(day, 8, 30) + timedelta(hours=self.rng.uniform(0, 12))
                for _ in range(count)
            )
        times = self._rating_times[day]
        if times and moment >= times[0]:
            times.pop(0)
            return True
        return False

    # -- clock

    def _by_now(self, moment: datetime) -> datetime:
        """A recording time, never after the history's end (the clock's now)."""
        return min(moment, self.end).replace(microsecond=0)

    def _done(self, moment: datetime) -> datetime | None:
        """A later fact, if it has happened by the end of the history."""
        return moment if moment <= self.end else None
