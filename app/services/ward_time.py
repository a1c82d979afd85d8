"""The ward's clock: local days, nights and shifts in the ward's IANA zone, stored in UTC."""

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from models import Ward


def local_to_utc(ward: Ward, day: date, hour: int) -> datetime:
    """The UTC instant of a local wall-clock hour (the earlier one in a DST fold; a time in a
    DST gap is taken as the moment after the gap)."""
    return datetime.combine(day, time(hour), tzinfo=ward.zone).astimezone(UTC)


def local_date(ward: Ward, moment: datetime) -> date:
    return moment.astimezone(ward.zone).date()


def day_bounds(ward: Ward, day: date) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of a local calendar day, in UTC; 23 or 25 hours at DST changes."""
    return local_to_utc(ward, day, 0), local_to_utc(ward, day + timedelta(days=1), 0)


def night_bounds(ward: Ward, night_of: date) -> tuple[datetime, datetime]:
    """The night that begins on `night_of`, from night start to night end next morning."""
    end_day = (
        night_of + timedelta(days=1) if ward.night_end_hour <= ward.night_start_hour else night_of
    )
    return local_to_utc(ward, night_of, ward.night_start_hour), local_to_utc(
        ward, end_day, ward.night_end_hour
    )


def night_of(ward: Ward, moment: datetime) -> date | None:
    """The night a moment falls in (the date it began), or None by day."""
    local = moment.astimezone(ward.zone)
    for start_day in (local.date(), local.date() - timedelta(days=1)):
        start, end = night_bounds(ward, start_day)
        if start <= moment < end:
            return start_day
    return None


def is_night(ward: Ward, moment: datetime) -> bool:
    return night_of(ward, moment) is not None


@dataclass(frozen=True)
class Shift:
    name: str
    start: datetime
    end: datetime


SHIFT_NAMES = {1: ["Day"], 2: ["Day", "Night"], 3: ["Day", "Evening", "Night"]}


def shift_at(ward: Ward, moment: datetime) -> Shift:
    """The shift that contains `moment`."""
    hours = sorted(ward.shift_start_hours)
    names = SHIFT_NAMES.get(len(hours), [f"Shift {n + 1}" for n in range(len(hours))])
    local_day = local_date(ward, moment)
    starts = []
    for day in (local_day - timedelta(days=1), local_day, local_day + timedelta(days=1)):
        for index, hour in enumerate(hours):
            starts.append((local_to_utc(ward, day, hour), names[index]))
    starts.sort()
    for (start, name), (next_start, _) in itertools.pairwise(starts):
        if start <= moment < next_start:
            return Shift(name, start, next_start)
    raise AssertionError("a moment always falls in a shift")
