"""Validated field types shared by the input models, with messages a technician understands."""

import math
import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    ValidationInfo,
)

# A device clock may run a little fast; anything further ahead than this is a mistake.
FUTURE_TOLERANCE = timedelta(minutes=5)
# The span of plausible times, as for plausible dates.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

# Bidirectional embedding, override and isolate controls can make stored text display
# differently from what was typed (e.g. reversing a dose), so they are refused.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def utc_now() -> datetime:
    """The server's clock, as an aware UTC datetime."""
    return datetime.now(UTC)


def check_text(value: str, limit: int) -> str:
    """Normalise free text and refuse what cannot be stored or shown faithfully."""
    if not isinstance(value, str):
        raise ValueError("must be text")
    for character in value:
        category = unicodedata.category(character)
        if category == "Cs":
            raise ValueError("contains a broken character; please retype it")
        if category == "Cc" and character not in "\n\t":
            raise ValueError("contains an invisible control character; please retype it")
        if character in _BIDI_CONTROLS:
            raise ValueError("contains a text-direction control character; please retype it")
    value = unicodedata.normalize("NFC", value).strip()
    if len(value) > limit:
        raise ValueError(f"is too long: {len(value)} characters, the limit is {limit}")
    return value


def _text(limit: int) -> AfterValidator:
    return AfterValidator(lambda value: check_text(value, limit))


def _required(value: str) -> str:
    if not value:
        raise ValueError("is required")
    return value


ShortText = Annotated[str, _text(120)]
RequiredShortText = Annotated[str, _text(120), AfterValidator(_required)]
Note = Annotated[str, _text(1000)]
LongText = Annotated[str, _text(4000)]
RequiredNote = Annotated[str, _text(1000), AfterValidator(_required)]


def _whole_number(low: int, high: int):
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a whole number from {low} to {high}")
        if isinstance(value, float) and (math.isnan(value) or not value.is_integer()):
            raise ValueError(f"must be a whole number from {low} to {high}")
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high}")
        return int(value)

    return BeforeValidator(check)


Score = Annotated[int, _whole_number(0, 10)]
MoasRating = Annotated[int, _whole_number(0, 4)]
Awakenings = Annotated[int, _whole_number(0, 30)]


def _hours_slept(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number of hours from 0 to 16")
    if math.isnan(value) or math.isinf(value):
        raise ValueError("must be a number of hours from 0 to 16")
    if not 0 <= value <= 16:
        raise ValueError("must be from 0 to 16 hours")
    # Quarter hours: finer precision is not something a patient can report.
    return round(value * 4) / 4


HoursSlept = Annotated[float, BeforeValidator(_hours_slept)]


def _aware_utc(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as error:
            raise ValueError("is not a valid date and time") from error
    if not isinstance(value, datetime):
        raise ValueError("must be a date and time")
    if value.utcoffset() is None:
        raise ValueError("must include a time zone")
    try:
        moment = value.astimezone(UTC)
    except OverflowError:
        # Year 1 or 9999 with an offset falls outside what a datetime can hold.
        raise ValueError("is not a plausible date and time") from None
    if not EARLIEST <= moment <= LATEST:
        # A ward record's time; also keeps deadlines computed from it (hours later) in range.
        raise ValueError("is not a plausible date and time")
    return moment


def _not_in_future(value: datetime, info: ValidationInfo) -> datetime:
    now = (info.context or {}).get("now") or utc_now()
    if value > now + FUTURE_TOLERANCE:
        raise ValueError("is in the future; check the device clock")
    return value


# Aware, converted to UTC. Services pass `context={"now": ...}` so tests can control the clock.
UtcDatetime = Annotated[datetime, BeforeValidator(_aware_utc)]
PastUtcDatetime = Annotated[datetime, BeforeValidator(_aware_utc), AfterValidator(_not_in_future)]


def _plausible_date(value: date) -> date:
    if not date(1900, 1, 1) <= value <= date(2100, 1, 1):
        raise ValueError("is not a plausible date")
    return value


PlausibleDate = Annotated[date, AfterValidator(_plausible_date)]


# The key a form is opened with (a UUID from the client); replays are recognised by it.
ClientKey = Annotated[
    str, StringConstraints(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
]


# Ids and flags come from the app's own controls: a bool is not an id, "yes" is not a flag.
RecordId = Annotated[int, Strict(), Field(gt=0)]
Flag = StrictBool
Hour = Annotated[int, Strict(), Field(ge=0, le=23)]


def _not_in_future_date(value: date, info: ValidationInfo) -> date:
    now = (info.context or {}).get("now") or utc_now()
    if value > now.date():
        raise ValueError("is in the future")
    return value


PastDate = Annotated[date, AfterValidator(_plausible_date), AfterValidator(_not_in_future_date)]
