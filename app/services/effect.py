"""Is it working? The days before and after a treatment change, compared with honest uncertainty.

The unit is the ward-local day: each measure is one value per day (a day's mean mood, the night's
estimated sleep, the share of offered groups the patient took part in, the day's incidents). The
day of the change itself is left out of both sides, as it is partly before and partly after.

Two measures of uncertainty, both over days: a bootstrap 95% interval of the difference in means
(resampling each side's days, fixed seed, so a report reads the same every time) and a two-sided
Mann-Whitney rank test. A change is called "unlikely to be chance" only when the interval leaves
out zero and the rank test agrees (p < 0.05): with three days a side the rank test can never
agree, which is the honest answer for so little data.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from itertools import combinations
from math import comb, erfc, sqrt
from statistics import mean, median

from pydantic import BaseModel
from sqlmodel import Session, select

from app.services.access import Actor, Permission, authorize_patient
from app.services.audit import write_audit_alone
from app.services.errors import InvalidInput, NotFound
from app.services.records import current
from app.services.treatment import TreatmentRead, read_treatment

# The per-day readers behind `trends_for`, used here without its audit row: a comparison is one
# view of the record and writes one audit row of its own.
from app.services.trends import (
    DayTrend,
    Marker,
    _add_groups,
    _add_incidents,
    _add_night_checks,
    _add_ratings,
    _add_sleep_reports,
    _Calendar,
    _markers,
)
from app.services.ward_time import day_bounds, local_date
from app.storage.database import Database
from models import CheckIn, Patient, TreatmentEvent, Ward
from models.codes import AuditAction

DEFAULT_DAYS = 7
# Fewer days than this on either side say nothing either way.
MIN_DAYS = 3
MAX_DAYS = 90
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 1988
# Above this many ways to split the days, the rank test uses the normal approximation.
EXACT_SPLITS = 20_000
SIGNIFICANCE = 0.05

CAVEAT = (
    "A before/after comparison shows what changed around the date, not that the treatment "
    "caused it: other changes at the same time (a new level, a discharge date, visitors) "
    "can do the same."
)


class MeasureKey(StrEnum):
    mood = "mood"
    anxiety = "anxiety"
    sleep_estimated = "sleep_estimated"
    sleep_reported = "sleep_reported"
    participation = "participation"
    incidents = "incidents"
    moas = "moas"


class Verdict(StrEnum):
    better = "better"
    worse = "worse"
    unclear = "unclear"
    not_enough_data = "not_enough_data"


class Side(BaseModel):
    """One side of the comparison: the days it spans and the days that had a value."""

    first_day: date | None
    last_day: date | None
    days: int
    mean: float | None = None
    median: float | None = None


class MeasureComparison(BaseModel):
    measure: MeasureKey
    label: str
    before: Side
    after: Side
    # Mean after minus mean before, in the measure's own unit (per day; a share for groups).
    change: float | None = None
    interval_low: float | None = None
    interval_high: float | None = None
    p_value: float | None = None
    verdict: Verdict
    sentence: str


class Comparison(BaseModel):
    patient_id: int
    event: TreatmentRead
    event_label: str
    days: int
    change_day: date
    before_first: date
    before_last: date
    after_first: date
    after_last: date
    measures: list[MeasureComparison]
    caveat: str = CAVEAT


@dataclass(frozen=True)
class _Measure:
    key: MeasureKey
    label: str
    # What a day with a value is, as in "(2 days with mood ratings before, 5 after; ...)".
    days_with: tuple[str, str]
    higher_is_better: bool
    value: Callable[[DayTrend], float | None]
    show: Callable[[float], str]
    show_change: Callable[[float], str]
    suffix: str = ""
    # Counted measures need whole days on the ward that were documented: a half day has half
    # the chances, and a day without a single check says nothing about incidents.
    whole_days: bool = False


def _participation(day: DayTrend) -> float | None:
    # Refusing a group counts against participation, so the share is of groups offered.
    return day.groups_participated / day.groups_offered if day.groups_offered else None


def _signed(value: float, digits: int, unit: str = "") -> str:
    return f"{value:+.{digits}f}{unit}"


MEASURES = (
    _Measure(
        MeasureKey.mood,
        "Mood",
        ("day", "with mood ratings"),
        True,
        lambda day: day.mood.mean if day.mood else None,
        lambda value: f"{value:.1f}",
        lambda value: _signed(value, 1),
        " (0-10)",
    ),
    _Measure(
        MeasureKey.anxiety,
        "Anxiety",
        ("day", "with anxiety ratings"),
        False,
        lambda day: day.anxiety.mean if day.anxiety else None,
        lambda value: f"{value:.1f}",
        lambda value: _signed(value, 1),
        " (0-10)",
    ),
    _Measure(
        MeasureKey.sleep_estimated,
        "Sleep estimated from night checks",
        ("night", "with enough checks"),
        True,
        lambda day: day.sleep_estimated_hours,
        lambda value: f"{value:.1f} h",
        lambda value: _signed(value, 1, " h"),
        " a night",
    ),
    _Measure(
        MeasureKey.sleep_reported,
        "Self-reported sleep",
        ("night", "with a sleep report"),
        True,
        lambda day: day.sleep_reported_hours,
        lambda value: f"{value:.1f} h",
        lambda value: _signed(value, 1, " h"),
        " a night",
    ),
    _Measure(
        MeasureKey.participation,
        "Group participation",
        ("day", "with groups offered"),
        True,
        _participation,
        lambda value: f"{value * 100:.0f}%",
        lambda value: _signed(value * 100, 0, " points"),
        " of offered groups",
    ),
    _Measure(
        MeasureKey.incidents,
        "Incidents",
        ("whole day", "on the ward with checks"),
        False,
        lambda day: float(day.incidents),
        # Teams count incidents by the week; the data stays per day.
        lambda value: f"{value * 7:.1f}",
        lambda value: _signed(value * 7, 1),
        " a week",
        whole_days=True,
    ),
    _Measure(
        MeasureKey.moas,
        "Aggression (the day's highest MOAS, 0-40)",
        ("whole day", "on the ward with checks"),
        False,
        lambda day: float(day.moas_max or 0),
        lambda value: f"{value:.1f}",
        lambda value: _signed(value, 1),
        " a day on average",
        whole_days=True,
    ),
)


def rank_test(before: list[float], after: list[float]) -> float:
    """Two-sided Mann-Whitney rank test p-value: exact over every split of the days when
    that is few enough, else the normal approximation with tie and continuity corrections."""
    values = sorted(before + after)
    total = len(values)
    ranks: dict[float, float] = {}
    ties = 0.0
    index = 0
    while index < total:
        end = index
        while end + 1 < total and values[end + 1] == values[index]:
            end += 1
        ranks[values[index]] = (index + end) / 2 + 1
        size = end - index + 1
        ties += size**3 - size
        index = end + 1
    n1, n2 = len(before), len(after)
    expected = n1 * (total + 1) / 2
    observed = abs(sum(ranks[value] for value in before) - expected)
    if comb(total, n1) <= EXACT_SPLITS:
        all_ranks = [ranks[value] for value in before + after]
        at_least = sum(
            abs(sum(split) - expected) >= observed - 1e-9 for split in combinations(all_ranks, n1)
        )
        return at_least / comb(total, n1)
    variance = n1 * n2 / 12 * ((total + 1) - ties / (total * (total - 1)))
    if variance <= 0:
        return 1.0
    z = max(observed - 0.5, 0.0) / sqrt(variance)
    return min(1.0, erfc(z / sqrt(2)))


def p_text(p_value: float) -> str:
    """A p-value as a report prints it: "< 0.001", "0.0501", "1"."""
    return "< 0.001" if p_value < 0.001 else f"{p_value:.3g}"


def bootstrap_interval(
    before: list[float], after: list[float], *, resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float, float]:
    """95% percentile interval of mean(after) - mean(before), resampling days on each side."""
    rng = random.Random(BOOTSTRAP_SEED)
    differences = sorted(
        mean(rng.choices(after, k=len(after))) - mean(rng.choices(before, k=len(before)))
        for _ in range(resamples)
    )
    low = differences[int(0.025 * resamples)]
    high = differences[int(0.975 * resamples) - 1]
    return low, high


def _count(number: int, measure: _Measure) -> str:
    unit, rest = measure.days_with
    return f"{number} {unit}{'' if number == 1 else 's'} {rest}"


def _compare(
    measure: _Measure, before: list[float], after: list[float], window: tuple[int, int]
) -> MeasureComparison:
    before_side = Side(first_day=None, last_day=None, days=len(before))
    after_side = Side(first_day=None, last_day=None, days=len(after))
    if len(before) < MIN_DAYS or len(after) < MIN_DAYS:
        return MeasureComparison(
            measure=measure.key,
            label=measure.label,
            before=before_side,
            after=after_side,
            verdict=Verdict.not_enough_data,
            sentence=(
                f"{measure.label}: not enough data to say ({_count(len(before), measure)} "
                f"before, {len(after)} after; need at least {MIN_DAYS} on each side)."
            ),
        )
    for side, values in ((before_side, before), (after_side, after)):
        side.mean = round(mean(values), 3)
        side.median = round(median(values), 3)
    change = mean(after) - mean(before)
    low, high = bootstrap_interval(before, after)
    p_value = rank_test(before, after)
    clear = (low > 0 or high < 0) and p_value < SIGNIFICANCE
    if clear:
        verdict = Verdict.better if (change > 0) == measure.higher_is_better else Verdict.worse
    else:
        verdict = Verdict.unclear
    return MeasureComparison(
        measure=measure.key,
        label=measure.label,
        before=before_side,
        after=after_side,
        change=round(change, 3),
        interval_low=round(low, 3),
        interval_high=round(high, 3),
        p_value=round(p_value, 4),
        verdict=verdict,
        sentence=_sentence(measure, before, after, change, (low, high), clear, window),
    )


def _sentence(
    measure: _Measure,
    before: list[float],
    after: list[float],
    change: float,
    interval: tuple[float, float],
    clear: bool,
    window: tuple[int, int],
) -> str:
    """E.g. "Mood rose from 3.1 to 6.4 (0-10) in the 7 days after the change; the 95% interval
    of the change is +2.6 to +4.0, so this is unlikely to be chance." """
    if measure.whole_days:
        window = len(before), len(after)
    days_before, days_after = window
    span = f"in the {days_after} day{'s' if days_after != 1 else ''} after the change"
    old, new = measure.show(mean(before)), measure.show(mean(after))
    if set(before) == set(after) and len(set(before)) == 1:
        if measure.key == MeasureKey.incidents and before[0] == 0:
            return f"No incidents in the {days_before} days before or the {days_after} after."
        return f"{measure.label} stayed at {old}{measure.suffix} before and after the change."
    if old == new:
        text = f"{measure.label} stayed at about {old}{measure.suffix} {span}"
    else:
        verb = "rose" if change > 0 else "fell"
        text = f"{measure.label} {verb} from {old} to {new}{measure.suffix} {span}"
    low, high = (measure.show_change(value) for value in interval)
    conclusion = "this is unlikely to be chance" if clear else "it could be chance"
    text += f"; the 95% interval of the change is {low} to {high}, so {conclusion}"
    counted = len(before), len(after)
    if counted != window:
        unit = measure.days_with[0]
        text += f" (values on {counted[0]} {unit}s before and {counted[1]} after)"
    return text + "."


def read_days(
    session: Session, ward: Ward, patient_id: int, start: date, end: date
) -> tuple[list[DayTrend], list[Marker]]:
    """Per-day trends and chart markers for `start`..`end`, read in the caller's snapshot and
    not audited: for services that write their own audit row."""
    calendar = _Calendar(ward, start, end)
    days = [DayTrend(day=day) for day in calendar.days]
    _add_ratings(session, patient_id, calendar, days)
    _add_night_checks(session, patient_id, calendar, days)
    _add_sleep_reports(session, patient_id, start, days)
    _add_groups(session, patient_id, calendar, days)
    _add_incidents(session, patient_id, calendar, days)
    return days, _markers(session, ward, patient_id, calendar)


def _days_with_checks(
    session: Session, ward: Ward, patient_id: int, start: date, end: date
) -> set[date]:
    """The ward-local days on which at least one check of the patient was made."""
    moments = session.exec(
        select(CheckIn.observed_at).where(
            CheckIn.patient_id == patient_id,
            CheckIn.observed_at >= day_bounds(ward, start)[0],
            CheckIn.observed_at < day_bounds(ward, end)[1],
            CheckIn.missed.is_(False),
            current(CheckIn),
        )
    )
    return {local_date(ward, moment) for moment in moments}


def treatment_label(event: TreatmentRead) -> str:
    """E.g. "Dose changed: sertraline (50 mg -> 100 mg every morning)"."""
    label = f"{event.kind.value.replace('_', ' ').capitalize()}: {event.name}"
    return f"{label} ({event.detail})" if event.detail else label


def find_event(
    session: Session, patient_id: int, event_id: int | None, now: datetime
) -> TreatmentEvent:
    """The patient's treatment change with this id, or their latest one in effect by now."""
    if event_id is not None:
        row = session.exec(
            select(TreatmentEvent).where(
                TreatmentEvent.id == event_id,
                TreatmentEvent.patient_id == patient_id,
                current(TreatmentEvent),
            )
        ).first()
        if row is None:
            raise NotFound(f"Treatment change #{event_id} is not on this patient's record.")
        return row
    row = session.exec(
        select(TreatmentEvent)
        .where(
            TreatmentEvent.patient_id == patient_id,
            TreatmentEvent.effective_at <= now,
            current(TreatmentEvent),
        )
        .order_by(TreatmentEvent.effective_at.desc(), TreatmentEvent.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise NotFound("No treatment change is recorded for this patient, so nothing to compare.")
    return row


def compare_event(
    session: Session,
    ward: Ward,
    patient: Patient,
    event: TreatmentEvent,
    *,
    days: int,
    now: datetime,
) -> Comparison:
    """The comparison around one event, read in the caller's snapshot and not audited."""
    change_day = local_date(ward, event.effective_at)
    until = min(now, patient.discharged_at or now)
    last_day = local_date(ward, until)
    before_first = max(change_day - timedelta(days=days), local_date(ward, patient.admitted_at))
    before_last = change_day - timedelta(days=1)
    after_first = change_day + timedelta(days=1)
    after_last = min(change_day + timedelta(days=days), last_day)
    start, end = before_first, max(after_last, change_day)
    trend, _ = read_days(session, ward, patient.id, start, end)
    checked = _days_with_checks(session, ward, patient.id, start, end)

    def whole(day: date) -> bool:
        low, high = day_bounds(ward, day)
        return patient.admitted_at <= low and high <= until and day in checked

    sides = (
        [day for day in trend if before_first <= day.day <= before_last],
        [day for day in trend if after_first <= day.day <= after_last],
    )
    window = tuple(len(side) for side in sides)
    measures = []
    for measure in MEASURES:
        values = []
        for side in sides:
            chosen = [day for day in side if whole(day.day)] if measure.whole_days else side
            values.append(
                [v for v in (measure.value(day) for day in chosen) if v is not None],
            )
        compared = _compare(measure, values[0], values[1], window)
        for side, chosen in zip((compared.before, compared.after), sides, strict=True):
            if chosen:
                side.first_day, side.last_day = chosen[0].day, chosen[-1].day
        measures.append(compared)
    read = read_treatment(event)
    return Comparison(
        patient_id=patient.id,
        event=read,
        event_label=treatment_label(read),
        days=days,
        change_day=change_day,
        before_first=before_first,
        before_last=before_last,
        after_first=after_first,
        after_last=after_last,
        measures=measures,
    )


def check_days(days: int) -> None:
    """Refuse a window of fewer than MIN_DAYS or more than MAX_DAYS days a side."""
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidInput([f"Compare {MIN_DAYS} to {MAX_DAYS} days on each side of the change."])


def compare_around(
    db: Database,
    actor: Actor,
    patient_id: int,
    *,
    event_id: int | None = None,
    days: int = DEFAULT_DAYS,
) -> Comparison:
    """Compare `days` ward-local days before and after a treatment change (the latest one in
    effect when no id is given). Audited with one view row after the read snapshot closes."""
    check_days(days)
    now = db.clock()
    with db.reading() as session:
        # With `now`, a live break-glass grant opens another ward's patient for this read.
        staff, patient = authorize_patient(
            session, actor, Permission.view_timeline, patient_id, allow_discharged=True, now=now
        )
        ward = session.get(Ward, patient.ward_id)
        event = find_event(session, patient.id, event_id, now)
        comparison = compare_event(session, ward, patient, event, days=days, now=now)
    write_audit_alone(
        db,
        at=now,
        action=AuditAction.view,
        staff_id=staff.id,
        ward_id=patient.ward_id,
        patient_id=patient.id,
        detail=f"effect of treatment #{event.id}, {days} days each side",
    )
    return comparison
