"""Property tests over every input model: what a form may send, and what it must not.

Valid generated input validates; each kind of bad value in one field is refused with sentences
that name that field as the screens label it (through `app.services.errors.explain`).
"""

import importlib
import math
import pkgutil
import unicodedata
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import models
from app.services.errors import explain, label
from models import (
    BreakGlassCreate,
    CheckInCreate,
    CorrectionReason,
    GroupAttendanceCreate,
    GroupSessionCreate,
    IncidentCreate,
    LevelChangeCreate,
    PatientCreate,
    RestraintEpisodeCreate,
    RestraintProgress,
    RoutineCheckCreate,
    SleepReportCreate,
    StaffCreate,
    TreatmentEventCreate,
    WardCreate,
)
from models.codes import (
    Affect,
    Attendance,
    Behaviour,
    GroupType,
    IncidentType,
    Injury,
    LateReason,
    Location,
    Measure,
    ObservationLevel,
    ParticipationLevel,
    ParticipationQuality,
    Precaution,
    RestraintKind,
    Role,
    SleepQuality,
    Status,
    TreatmentKind,
)
from models.fields import FUTURE_TOLERANCE

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
CONTEXT = {"now": NOW}
ZONES = [UTC, ZoneInfo("America/Chicago"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Pacific/Kiritimati")]
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


# Text a technician may type: anything printable, tabs and new lines, any script.
SAFE_CHARACTERS = st.characters(
    exclude_categories=("Cs", "Cc"), exclude_characters=BIDI, include_characters="\n\t"
)


def text(limit: int, *, required: bool = False) -> st.SearchStrategy[str]:
    return st.text(SAFE_CHARACTERS, max_size=min(limit, 80)).filter(
        lambda value: len(nfc(value)) <= limit and (bool(nfc(value)) or not required)
    )


def moment(latest: datetime = NOW + FUTURE_TOLERANCE) -> st.SearchStrategy[datetime]:
    """An aware time no later than `latest`, written in one of several zones."""
    utc = st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=latest.replace(tzinfo=None),
        timezones=st.just(UTC),
    )
    return st.tuples(utc, st.sampled_from(ZONES)).map(lambda pair: pair[0].astimezone(pair[1]))


def codes(enum) -> st.SearchStrategy[str]:
    return st.sampled_from([member.value for member in enum])


def code_list(enum) -> st.SearchStrategy[list[str]]:
    return st.lists(codes(enum), max_size=len(enum))


MOAS_PARTS = ("verbal", "property", "self", "physical")
ids = st.integers(min_value=1, max_value=2**31 - 1)
form_keys = st.from_regex(r"[A-Za-z0-9_.:-]{8,64}", fullmatch=True)
scores = st.none() | st.integers(0, 10)
plausible_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1))


def check_in() -> st.SearchStrategy[dict]:
    common = {"patient_id": ids, "observed_at": moment(), "client_key": form_keys}
    seen = st.fixed_dictionaries(
        {**common, "location": codes(Location), "status": codes(Status)},
        optional={
            "behaviours": code_list(Behaviour),
            "affect": codes(Affect),
            "mood": scores,
            "anxiety": scores,
            "note": text(1000),
            "late_reason": codes(LateReason),
            "missed": st.just(False),
        },
    )
    missed = st.fixed_dictionaries(
        {**common, "missed": st.just(True), "late_reason": codes(LateReason)},
        optional={"note": text(1000)},
    )
    return seen | missed


def attendance() -> st.SearchStrategy[dict]:
    common = {"session_id": ids, "patient_id": ids, "client_key": form_keys}
    present = st.fixed_dictionaries(
        {**common, "attendance": st.sampled_from(["attended", "late_arrival", "left_early"])},
        optional={
            "participation_level": codes(ParticipationLevel),
            "participation_quality": codes(ParticipationQuality),
            "note": text(1000),
        },
    )
    absent = st.fixed_dictionaries(
        {
            **common,
            "attendance": codes(Attendance).filter(lambda a: not Attendance(a).was_present),
        },
        optional={"note": text(1000)},
    )
    return present | absent


@st.composite
def restraint(draw) -> dict:
    ordered = draw(moment(NOW - timedelta(hours=5)))
    started = ordered + timedelta(minutes=draw(st.integers(-60, 240)))
    optional = draw(
        st.fixed_dictionaries(
            {}, optional={"incident_id": st.none() | ids, "release_criteria": text(1000)}
        )
    )
    return {
        "patient_id": draw(ids),
        "kind": draw(codes(RestraintKind)),
        "ordered_at": ordered,
        "ordered_by": draw(text(120, required=True)),
        "started_at": started.astimezone(draw(st.sampled_from(ZONES))),
        "client_key": draw(form_keys),
        **optional,
    }


VALID: dict[type[BaseModel], st.SearchStrategy[dict]] = {
    CheckInCreate: check_in(),
    RoutineCheckCreate: st.fixed_dictionaries(
        {"patient_id": ids, "observed_at": moment(), "client_key": form_keys},
        optional={"late_reason": codes(LateReason)},
    ),
    SleepReportCreate: st.fixed_dictionaries(
        {
            "patient_id": ids,
            "night_of": plausible_dates,
            "reported_at": moment(),
            "hours_slept": st.floats(0, 16) | st.integers(0, 16),
            "quality": codes(SleepQuality),
            "client_key": form_keys,
        },
        optional={
            "awakenings": st.integers(0, 30),
            "nightmares": st.booleans(),
            "note": text(1000),
        },
    ),
    GroupSessionCreate: st.fixed_dictionaries(
        {
            "ward_id": ids,
            "group_type": codes(GroupType),
            "started_at": moment(),
            "client_key": form_keys,
        },
        optional={"title": text(120)},
    ),
    GroupAttendanceCreate: attendance(),
    IncidentCreate: st.fixed_dictionaries(
        {
            "patient_id": ids,
            "occurred_at": moment(),
            "incident_type": codes(IncidentType),
            "location": codes(Location),
            "client_key": form_keys,
        },
        optional={
            "antecedent": text(4000),
            "behaviour": text(4000),
            "means": text(1000),
            "target": text(120),
            "injury": codes(Injury),
            "measures": code_list(Measure),
            "alternatives_tried": text(1000),
            "staff_involved": text(1000),
            "notified": text(1000),
            "debrief": text(4000),
            "follow_up": text(4000),
            **{f"moas_{part}": st.integers(0, 4) for part in MOAS_PARTS},
        },
    ),
    RestraintEpisodeCreate: restraint(),
    RestraintProgress: st.fixed_dictionaries(
        {},
        optional={
            "face_to_face_at": st.none() | moment(),
            "guardian_notified_at": st.none() | moment(),
            "ended_at": st.none() | moment(),
            "debrief": text(4000),
        },
    ),
    TreatmentEventCreate: st.fixed_dictionaries(
        {
            "patient_id": ids,
            "kind": codes(TreatmentKind),
            "effective_at": moment(),
            "name": text(120, required=True),
            "client_key": form_keys,
        },
        optional={"detail": text(1000), "ordered_by": text(120)},
    ),
    LevelChangeCreate: st.fixed_dictionaries(
        {
            "patient_id": ids,
            "level": codes(ObservationLevel),
            "effective_at": moment(),
            "ordered_by": text(120, required=True),
            "reason": text(1000, required=True),
            "client_key": form_keys,
        }
    ),
    PatientCreate: st.fixed_dictionaries(
        {
            "ward_id": ids,
            "mrn": text(20, required=True),
            "family_name": text(120, required=True),
            "given_name": text(120, required=True),
            "room": text(20, required=True),
            "birth_date": st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 1, 1)),
            "admitted_at": moment(),
        },
        optional={
            "preferred_name": text(120),
            "bed": text(20),
            "precautions": code_list(Precaution),
            "substance_use_program": st.booleans(),
        },
    ),
    WardCreate: st.fixed_dictionaries(
        {
            "code": text(20, required=True),
            "name": text(120, required=True),
            "time_zone": st.sampled_from(["America/Chicago", "Europe/London", "UTC"]),
        },
        optional={
            "night_start_hour": st.integers(0, 23),
            "night_end_hour": st.integers(0, 23),
            "shift_start_hours": st.lists(st.integers(0, 23), min_size=1, max_size=4, unique=True),
        },
    ),
    StaffCreate: st.fixed_dictionaries(
        {
            "username": st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True),
            "display_name": text(120, required=True),
            "role": codes(Role),
            "password": st.text(
                st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                min_size=8,
                max_size=128,
            ),
        },
        optional={"ward_ids": st.lists(ids, max_size=3)},
    ),
    CorrectionReason: st.fixed_dictionaries({"reason": text(1000, required=True)}),
    BreakGlassCreate: st.fixed_dictionaries(
        {
            "mrn": text(20, required=True),
            # At least REASON_MIN characters: a fixed opening and anything after it.
            "reason": text(900).map(lambda rest: f"Transferred tonight {rest}"),
            "client_key": form_keys,
        }
    ),
}


def refused(model: type[BaseModel], data: dict, field: str) -> list[str]:
    """Validate `data`, expecting a refusal whose every sentence names `field`'s label."""
    with pytest.raises(ValidationError) as error:
        model.model_validate(data, context=CONTEXT)
    problems = explain(error.value).problems
    assert problems
    for problem in problems:
        assert problem.startswith(label(field) + " "), problem
        assert problem.endswith("."), problem
        assert "pydantic" not in problem and "type=" not in problem, problem
    return problems


# --- valid input ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(VALID), ids=lambda model: model.__name__)
@PROPERTY
@given(data=st.data())
def test_valid_input_is_accepted_as_sent(model, data):
    sent = data.draw(VALID[model])
    accepted = model.model_validate(sent, context=CONTEXT)
    for field, value in sent.items():
        kept = getattr(accepted, field)
        if isinstance(value, datetime):
            # Stored in UTC, the same instant as sent.
            assert kept.tzinfo == UTC and kept == value
        elif isinstance(value, str) and field not in ("password", "username"):
            assert kept == nfc(value)
        elif isinstance(value, int):
            assert kept == value


def test_every_input_model_is_covered():
    """Input models are the ones that forbid unknown fields; a new one needs a strategy here."""
    inputs = set()
    for module in pkgutil.iter_modules(models.__path__):
        for value in vars(importlib.import_module(f"models.{module.name}")).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseModel)
                and value.model_config.get("extra") == "forbid"
            ):
                inputs.add(value)
    assert inputs == set(VALID)


# --- the fields each model is tested on ------------------------------------------------------

# (model, field, low, high, whole number?)
NUMBERS = [
    (CheckInCreate, "mood", 0, 10, True),
    (CheckInCreate, "anxiety", 0, 10, True),
    (SleepReportCreate, "hours_slept", 0, 16, False),
    (SleepReportCreate, "awakenings", 0, 30, True),
    *((IncidentCreate, f"moas_{part}", 0, 4, True) for part in MOAS_PARTS),
    (WardCreate, "night_start_hour", 0, 23, True),
    (WardCreate, "night_end_hour", 0, 23, True),
]

CODES = [
    (CheckInCreate, "location"),
    (CheckInCreate, "status"),
    (CheckInCreate, "affect"),
    (CheckInCreate, "late_reason"),
    (CheckInCreate, "behaviours"),
    (RoutineCheckCreate, "late_reason"),
    (SleepReportCreate, "quality"),
    (GroupSessionCreate, "group_type"),
    (GroupAttendanceCreate, "attendance"),
    (GroupAttendanceCreate, "participation_level"),
    (GroupAttendanceCreate, "participation_quality"),
    (IncidentCreate, "incident_type"),
    (IncidentCreate, "location"),
    (IncidentCreate, "injury"),
    (IncidentCreate, "measures"),
    (RestraintEpisodeCreate, "kind"),
    (TreatmentEventCreate, "kind"),
    (LevelChangeCreate, "level"),
    (PatientCreate, "precautions"),
    (StaffCreate, "role"),
    (WardCreate, "time_zone"),
]
LIST_CODES = {"behaviours", "measures", "precautions"}

TIMES = [
    (CheckInCreate, "observed_at"),
    (RoutineCheckCreate, "observed_at"),
    (SleepReportCreate, "reported_at"),
    (GroupSessionCreate, "started_at"),
    (IncidentCreate, "occurred_at"),
    (RestraintEpisodeCreate, "ordered_at"),
    (RestraintEpisodeCreate, "started_at"),
    (RestraintProgress, "face_to_face_at"),
    (RestraintProgress, "guardian_notified_at"),
    (RestraintProgress, "ended_at"),
    (TreatmentEventCreate, "effective_at"),
    (LevelChangeCreate, "effective_at"),
    (PatientCreate, "admitted_at"),
]

DATES = [(SleepReportCreate, "night_of"), (PatientCreate, "birth_date")]

# (model, field, limit)
TEXTS = [
    (CheckInCreate, "note", 1000),
    (SleepReportCreate, "note", 1000),
    (GroupSessionCreate, "title", 120),
    (GroupAttendanceCreate, "note", 1000),
    *(
        (IncidentCreate, field, limit)
        for field, limit in [
            ("antecedent", 4000),
            ("behaviour", 4000),
            ("means", 1000),
            ("target", 120),
            ("alternatives_tried", 1000),
            ("staff_involved", 1000),
            ("notified", 1000),
            ("debrief", 4000),
            ("follow_up", 4000),
        ]
    ),
    (RestraintEpisodeCreate, "ordered_by", 120),
    (RestraintEpisodeCreate, "release_criteria", 1000),
    (RestraintProgress, "debrief", 4000),
    (TreatmentEventCreate, "name", 120),
    (TreatmentEventCreate, "detail", 1000),
    (TreatmentEventCreate, "ordered_by", 120),
    (LevelChangeCreate, "ordered_by", 120),
    (LevelChangeCreate, "reason", 1000),
    (PatientCreate, "mrn", 20),
    (PatientCreate, "family_name", 120),
    (PatientCreate, "given_name", 120),
    (PatientCreate, "preferred_name", 120),
    (PatientCreate, "room", 20),
    (PatientCreate, "bed", 20),
    (WardCreate, "code", 20),
    (WardCreate, "name", 120),
    (StaffCreate, "username", 64),
    (StaffCreate, "display_name", 120),
    (CorrectionReason, "reason", 1000),
    (BreakGlassCreate, "mrn", 20),
]

# Passwords may hold any character a keyboard makes (NIST SP 800-63B); only the unstorable
# ones are refused, so they are tested apart.
PASSWORD_LIMIT = 128


def case_id(case) -> str:
    return f"{case[0].__name__}.{case[1]}"


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", NUMBERS, ids=case_id)
@PROPERTY
@given(data=st.data())
def test_numbers_out_of_range_are_refused(case, data):
    model, field, low, high, _ = case
    outside = (
        st.integers(max_value=low - 1)
        | st.integers(min_value=high + 1)
        | st.floats(max_value=low - 0.5, allow_nan=False, allow_infinity=False)
        | st.floats(min_value=high + 0.5, allow_nan=False, allow_infinity=False)
    )
    refused(model, {**data.draw(VALID[model]), field: data.draw(outside)}, field)


@pytest.mark.parametrize("case", NUMBERS, ids=case_id)
@PROPERTY
@given(data=st.data())
def test_not_a_number_and_infinity_are_refused(case, data):
    model, field, *_ = case
    value = data.draw(st.sampled_from([math.nan, math.inf, -math.inf, "nan", "inf"]))
    refused(model, {**data.draw(VALID[model]), field: value}, field)


@pytest.mark.parametrize("case", [c for c in NUMBERS if c[0] is not WardCreate], ids=case_id)
@PROPERTY
@given(data=st.data())
def test_yes_or_no_is_not_a_number(case, data):
    model, field, *_ = case
    refused(model, {**data.draw(VALID[model]), field: data.draw(st.booleans())}, field)


WARD = {"code": "W", "name": "Ward", "time_zone": "UTC"}
MISSED_CHECK = {
    "patient_id": 1,
    "observed_at": NOW,
    "missed": True,
    "late_reason": "off_unit",
    "client_key": "form-key-1",
}


@pytest.mark.parametrize(
    ("model", "valid", "field", "value"),
    [
        (WardCreate, WARD, "night_start_hour", True),
        (WardCreate, WARD, "night_end_hour", True),
        (WardCreate, WARD, "shift_start_hours", [True, 15]),
        (CheckInCreate, MISSED_CHECK, "patient_id", True),
    ],
    ids=["night_start_hour", "night_end_hour", "shift_start_hours", "patient_id"],
)
def test_hours_and_ids_refuse_yes_or_no(model, valid, field, value):
    refused(model, {**valid, field: value}, field)


@PROPERTY
@given(data=st.data())
def test_shift_hours_out_of_range_or_repeated_are_refused(data):
    valid = data.draw(VALID[WardCreate])
    hours = data.draw(st.lists(st.integers(0, 23), min_size=1, max_size=3, unique=True))
    wrong = data.draw(
        st.sampled_from(
            [
                [*hours, data.draw(st.integers(max_value=-1) | st.integers(min_value=24))],
                [*hours, hours[0]],
            ]
        )
    )
    problems = refused(WardCreate, {**valid, "shift_start_hours": wrong}, "shift_start_hours")
    assert problems == ["Shift start hours must be distinct hours from 0 to 23."]


@pytest.mark.parametrize("case", [c for c in NUMBERS if c[4]], ids=case_id)
@PROPERTY
@given(data=st.data())
def test_whole_numbers_refuse_fractions(case, data):
    model, field, low, high, _ = case
    fraction = data.draw(st.floats(low, high).filter(lambda value: not float(value).is_integer()))
    refused(model, {**data.draw(VALID[model]), field: fraction}, field)


# --- coded values ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", CODES, ids=case_id)
@PROPERTY
@given(data=st.data())
def test_unknown_codes_are_refused(case, data):
    model, field = case
    unknown = data.draw(
        st.text(max_size=40).filter(lambda value: value not in _known(model, field)) | st.integers()
    )
    value = [unknown] if field in LIST_CODES else unknown
    problems = refused(model, {**data.draw(VALID[model]), field: value}, field)
    if field != "time_zone":
        assert problems == [f"{label(field)} is not one of the choices offered."]


def _known(model: type[BaseModel], field: str) -> set[str]:
    if field == "time_zone":
        import zoneinfo

        return zoneinfo.available_timezones()
    annotation = model.model_fields[field].annotation
    names = set()
    for arg in [annotation, *getattr(annotation, "__args__", ())]:
        for inner in [arg, *getattr(arg, "__args__", ())]:
            if isinstance(inner, type) and issubclass(inner, str):
                names |= {member.value for member in inner} if inner is not str else set()
    return names


# --- times and dates -------------------------------------------------------------------------


@pytest.mark.parametrize("case", TIMES, ids=case_id)
@PROPERTY
@given(data=st.data())
def test_times_without_a_zone_are_refused(case, data):
    model, field = case
    naive = data.draw(moment()).replace(tzinfo=None)
    as_sent = data.draw(st.sampled_from([naive, naive.isoformat()]))
    problems = refused(model, {**data.draw(VALID[model]), field: as_sent}, field)
    assert problems == [f"{label(field)} must include a time zone."]


@pytest.mark.parametrize("case", TIMES, ids=case_id)
@PROPERTY
@given(data=st.data())
def test_times_more_than_five_minutes_ahead_are_refused(case, data):
    model, field = case
    ahead = data.draw(
        st.timedeltas(
            min_value=FUTURE_TOLERANCE + timedelta(microseconds=1), max_value=timedelta(days=3650)
        )
    )
    future = (NOW + ahead).astimezone(data.draw(st.sampled_from(ZONES)))
    problems = refused(model, {**data.draw(VALID[model]), field: future}, field)
    assert problems == [f"{label(field)} is in the future; check the device clock."]


@pytest.mark.parametrize("case", DATES, ids=case_id)
@PROPERTY
@given(data=st.data())
def test_implausible_dates_are_refused(case, data):
    model, field = case
    far = data.draw(st.dates(max_value=date(1899, 12, 31)) | st.dates(min_value=date(2100, 1, 2)))
    problems = refused(model, {**data.draw(VALID[model]), field: far}, field)
    assert problems == [f"{label(field)} is not a plausible date."]


# --- text ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", TEXTS, ids=case_id)
@PROPERTY
@given(data=st.data())
def test_text_over_its_limit_is_refused(case, data):
    model, field, limit = case
    filler = data.draw(st.text(SAFE_CHARACTERS.filter(str.isalnum), min_size=1, max_size=1))
    extra = data.draw(st.integers(1, 50))
    refused(model, {**data.draw(VALID[model]), field: filler * (limit + extra)}, field)


UNSAFE = {
    "NUL": st.just("\x00"),
    "control": st.characters(categories=["Cc"]).filter(lambda c: c not in "\n\t"),
    "lone surrogate": st.characters(categories=["Cs"]),
    "bidi override": st.sampled_from(BIDI),
}


@pytest.mark.parametrize("kind", list(UNSAFE))
@pytest.mark.parametrize("case", TEXTS, ids=case_id)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_unsafe_characters_in_text_are_refused(case, kind, data):
    model, field, limit = case
    valid = data.draw(VALID[model])
    around = data.draw(text(min(limit, 40) - 1))
    cut = data.draw(st.integers(0, len(around)))
    value = around[:cut] + data.draw(UNSAFE[kind]) + around[cut:]
    refused(model, {**valid, field: value}, field)


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "\udfff"])
@PROPERTY
@given(data=st.data())
def test_passwords_refuse_only_what_cannot_be_stored(bad, data):
    valid = data.draw(VALID[StaffCreate])
    refused(StaffCreate, {**valid, "password": valid["password"] + bad}, "password")
    long = valid["password"] * (PASSWORD_LIMIT // len(valid["password"]) + 1)
    refused(StaffCreate, {**valid, "password": long}, "password")


# --- the form itself -------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(VALID), ids=lambda model: model.__name__)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_fields_the_form_does_not_have_are_refused(model, data):
    valid = data.draw(VALID[model])
    extra = data.draw(
        st.from_regex(r"[a-z][a-z_]{0,20}", fullmatch=True).filter(
            lambda name: name not in model.model_fields
        )
    )
    problems = refused(model, {**valid, extra: "x"}, extra)
    assert problems == [f"{label(extra)} is not a field of this form."]
