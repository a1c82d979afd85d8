"""Bad input: hostile text through every text field, and awkward times through every time field,
of every input model, through the services into the database; then DST cases on the ward clock.

A case passes when the service either refuses cleanly (a ServiceError whose message is short,
printable and has no direction controls) or saves, and the stored value equals what the input
model accepted (text after its normalisation, times as the same instant). Anything else fails:
another exception, a stored value that differs, a save the input model would refuse.

Text corpus: NUL and other controls, lone surrogates, right-to-left override and other
direction controls, zero-width characters, combining sequences, a 1 MB paste (ASCII and
multi-byte), spreadsheet formula prefixes (=, +, -, @, tab), SQL and HTML, text at and one past
each field's limit. Time corpus: offsets from -12:00 to +14:00, microseconds, a device clock
4 min fast (accepted) and 6 min fast (refused), far past and far future, naive and malformed
values, local times in America/Chicago's 2026 DST gap (8 March 02:30) and fold (1 November
01:30, both sides). Ward-clock cases: the two 01:30s of the fold are two checks in order;
the DST nights are 8 and 10 hours; a sleep report on those nights is accepted.

    python -m bench.bad_input --db sqlite
    python -m bench.bad_input --db postgres --quick   # one 1 MB paste instead of two
"""

import sys
import time
import typing
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from sqlmodel import select

import models
from app.services import (
    accounts,
    break_glass,
    check_ins,
    corrections,
    drafts,
    groups,
    incidents,
    levels,
    sleep,
    timeline,
    treatment,
    wards,
)
from app.services.access import Actor
from app.services.audit import verify_chain
from app.services.errors import ServiceError
from app.services.ward_time import night_bounds
from bench import arguments, figures, fresh_database, make_ward, open_database
from models import (
    BreakGlassGrant,
    CheckIn,
    Correction,
    Draft,
    GroupAttendance,
    GroupSession,
    Incident,
    LevelChange,
    Patient,
    RestraintEpisode,
    SleepReport,
    Staff,
    TreatmentEvent,
    Ward,
)
from models.codes import ObservationLevel, Role

CHICAGO = ZoneInfo("America/Chicago")
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # noon in the ward's zone
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
MEGABYTE = 1_000_000

HOSTILE_TEXT = [
    "before\x00after",
    "\x00",
    "bell\x07 escape\x1b[31m red",
    "next line\x85here",
    "carriage\rreturn",
    "lone \ud800 high surrogate",
    "lone \udfff low surrogate",
    "\udc80\udcff",
    "dose 10\u202e0 mg",
    "\u2066isolate\u2069",
    "mark\u200fright to left",
    "zero\u200bwidth\u200cnon\u200djoiner\u2060word",
    "\ufeffbyte order mark",
    "e\u0301 combining, \u1100\u1161 jamo",
    "Ölçü 山の上の月 مرحبا שלום 👍🏽 👨‍👩‍👧",
    "line one\nline two\ttabbed",
    "   padded   ",
    "   ",
    "\u2028line separator\u2029paragraph",
    "\uffff\ufffe noncharacters \U0010ffff",
    "\ue000 private use",
    '=HYPERLINK("http://example.invalid","click")',
    "=1+1",
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "'; DROP TABLE check_in; --",
    "<script>alert(1)</script>",
    "%s %(name)s {0} {name!r}",
    "\\x00 \\u202e not really controls",
]


def pastes(quick: bool) -> list[str]:
    """A 1 MB paste (one in the quick variant, also a multi-byte one in the full one)."""
    return ["a" * MEGABYTE] if quick else ["a" * MEGABYTE, "é" * (MEGABYTE // 2)]


def limits_of(model: type[BaseModel], name: str) -> list[str]:
    """Text exactly at the field's limit and one character past it, when it has one."""

    def too_long(value: str) -> bool:
        try:
            model.model_validate({name: value}, context={"now": NOW})
        except ValidationError as error:
            return any(
                name in item["loc"] and ("too long" in item["msg"] or "at most" in item["msg"])
                for item in error.errors()
            )
        return False

    for limit in (20, 64, 120, 1000, 4000):
        if too_long("x" * (limit + 1)) and not too_long("x" * limit):
            return ["x" * limit, "x" * (limit + 1)]
    return []


def hostile_times(now: datetime) -> list[Any]:
    """Times a device or a tampered request may send for `now`."""
    return [
        now,
        now.astimezone(ZoneInfo("Pacific/Kiritimati")),  # +14:00
        now.astimezone(ZoneInfo("Etc/GMT+12")),  # -12:00
        now.replace(microsecond=123_456),
        (now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
        now + timedelta(minutes=4),  # a device clock a little fast
        now + timedelta(minutes=6),
        now + timedelta(days=365),
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
        now - timedelta(hours=3),  # a device clock behind
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
        datetime(2026, 3, 8, 2, 30, tzinfo=CHICAGO),  # does not exist: the DST gap
        datetime(2026, 11, 1, 1, 30, tzinfo=CHICAGO),  # the fold, first 01:30 (CDT)
        datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=CHICAGO),  # the fold, second (CST)
        now.replace(tzinfo=None),
        "2026-11-20T12:00:00",
        "2026-02-30T12:00:00Z",
        "2026-11-20T12:00:00+25:00",
        "2026-11-20T23:59:60Z",
        "yesterday",
        "",
        None,
        1_763_661_600,
        True,
        float("nan"),
    ]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Bench:
    db: Any
    clock: Clock
    tech: Actor
    nurse: Actor
    admin: Actor
    ward_id: int
    other_mrn: str  # a patient on another ward, for break-glass
    group_id: int

    def patient(self, level: ObservationLevel = ObservationLevel.q15, **fields) -> int:
        """A newly admitted patient, so no case meets another's record."""
        self.serial = getattr(self, "serial", 0) + 1
        form = {
            "ward_id": self.ward_id,
            "mrn": f"B{self.serial:07d}",
            "family_name": f"Badinput{self.serial}",
            "given_name": "Robin",
            "room": "300",
            "birth_date": date(1980, 6, 1),
            "admitted_at": self.clock() - timedelta(minutes=10),
            **fields,
        }
        return wards.admit_patient(self.db, self.nurse, form, level=level).id

    def key(self) -> str:
        self.keys = getattr(self, "keys", 0) + 1
        return f"bad-input-{self.keys:08d}"


@dataclass
class Form:
    """An input model, a valid form for it, the service that saves it, and where it is stored."""

    model: type[BaseModel]
    prepare: Callable[[Bench], tuple[dict, dict]]
    save: Callable[[Bench, dict, dict], Any]
    # (bench, form, extra, result) -> the stored row; None: look it up by the form key.
    row: Callable[[Bench, dict, dict, Any], Any] | None = None
    table: type | None = None
    # How a field's value is placed in the form (the draft's free fields are a dict).
    wrap: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    # Times of the stored row that cannot precede the patient's admission.
    after_admission: tuple[str, ...] = ()


def by_key(bench: Bench, table: type, form: dict) -> Any:
    with bench.db.reading() as session:
        return session.exec(select(table).where(table.client_key == form["client_key"])).one()


def by_id(table: type) -> Callable:
    def row(bench: Bench, form: dict, extra: dict, result: Any) -> Any:
        with bench.db.reading() as session:
            return session.get(table, result.id)

    return row


def _check(b: Bench) -> tuple[dict, dict]:
    form = {
        "patient_id": b.patient(),
        "observed_at": b.clock(),
        "location": "day_room",
        "status": "resting",
        "note": "Calm",
        "client_key": b.key(),
    }
    return form, {}


def _episode(b: Bench) -> tuple[dict, dict]:
    started = b.clock() - timedelta(minutes=30)
    episode = incidents.start_restraint(
        b.db,
        b.nurse,
        {
            "patient_id": b.patient(admitted_at=started - timedelta(minutes=10)),
            "kind": "seclusion",
            "ordered_at": started,
            "ordered_by": "Dr. Synthetic",
            "started_at": started,
            "client_key": b.key(),
        },
    )
    form = {
        "face_to_face_at": b.clock() - timedelta(minutes=20),
        "guardian_notified_at": b.clock() - timedelta(minutes=10),
        "ended_at": b.clock() - timedelta(minutes=5),
        "debrief": "Talked it over",
    }
    return form, {"episode": episode.id}


def _recorded_check(b: Bench) -> int:
    return check_ins.record_check_in(b.db, b.tech, _check(b)[0]).id


FORMS = [
    Form(
        models.CheckInCreate,
        _check,
        lambda b, f, x: check_ins.record_check_in(b.db, b.tech, f),
        table=CheckIn,
        after_admission=("observed_at",),
    ),
    Form(
        models.RoutineCheckCreate,
        lambda b: (
            {"patient_id": b.patient(), "observed_at": b.clock(), "client_key": b.key()},
            {},
        ),
        lambda b, f, x: check_ins.record_routine_check(b.db, b.tech, f),
        table=CheckIn,
        after_admission=("observed_at",),
    ),
    Form(
        models.SleepReportCreate,
        lambda b: (
            {
                "patient_id": b.patient(),
                "night_of": (b.clock() - timedelta(days=1)).astimezone(CHICAGO).date(),
                "reported_at": b.clock(),
                "hours_slept": 6.5,
                "quality": "fair",
                "note": "Woke twice",
                "client_key": b.key(),
            },
            {},
        ),
        lambda b, f, x: sleep.record_sleep_report(b.db, b.tech, f),
        table=SleepReport,
        after_admission=("reported_at",),
    ),
    Form(
        models.GroupSessionCreate,
        lambda b: (
            {
                "ward_id": b.ward_id,
                "group_type": "psychoeducation",
                "title": "Sleep hygiene",
                "started_at": b.clock(),
                "client_key": b.key(),
            },
            {},
        ),
        lambda b, f, x: groups.start_group_session(b.db, b.tech, f),
        table=GroupSession,
    ),
    Form(
        models.GroupAttendanceCreate,
        lambda b: (
            {
                "session_id": b.group_id,
                "patient_id": b.patient(),
                "attendance": "attended",
                "participation_level": "active",
                "note": "Shared an example",
                "client_key": b.key(),
            },
            {},
        ),
        lambda b, f, x: groups.record_attendance(b.db, b.tech, f),
        table=GroupAttendance,
    ),
    Form(
        models.IncidentCreate,
        lambda b: (
            {
                "patient_id": b.patient(),
                "occurred_at": b.clock(),
                "incident_type": "verbal_aggression",
                "location": "hallway",
                "antecedent": "Phone call",
                "behaviour": "Shouted",
                "moas_verbal": 2,
                "client_key": b.key(),
            },
            {},
        ),
        lambda b, f, x: incidents.record_incident(b.db, b.tech, f),
        table=Incident,
        after_admission=("occurred_at",),
    ),
    Form(
        models.RestraintEpisodeCreate,
        lambda b: (
            {
                "patient_id": b.patient(),
                "kind": "seclusion",
                "ordered_at": b.clock(),
                "ordered_by": "Dr. Synthetic",
                "started_at": b.clock(),
                "release_criteria": "Calm for 15 minutes",
                "client_key": b.key(),
            },
            {},
        ),
        lambda b, f, x: incidents.start_restraint(b.db, b.nurse, f),
        table=RestraintEpisode,
        after_admission=("ordered_at", "started_at"),
    ),
    Form(
        models.RestraintProgress,
        _episode,
        lambda b, f, x: incidents.update_restraint(b.db, b.nurse, x["episode"], f),
        row=by_id(RestraintEpisode),
    ),
    Form(
        models.TreatmentEventCreate,
        lambda b: (
            {
                "patient_id": b.patient(),
                "kind": "dose_changed",
                "effective_at": b.clock(),
                "name": "Synthetic medication",
                "detail": "100 mg at night",
                "ordered_by": "Dr. Synthetic",
                "client_key": b.key(),
            },
            {},
        ),
        lambda b, f, x: treatment.record_treatment_event(b.db, b.nurse, f),
        table=TreatmentEvent,
    ),
    Form(
        models.LevelChangeCreate,
        lambda b: (
            {
                "patient_id": b.patient(),
                "level": "q5",
                "effective_at": b.clock(),
                "ordered_by": "Dr. Synthetic",
                "reason": "Agitated after a phone call",
                "client_key": b.key(),
            },
            {},
        ),
        lambda b, f, x: levels.change_level(b.db, b.nurse, f),
        table=LevelChange,
        after_admission=("effective_at",),
    ),
    Form(
        models.PatientCreate,
        lambda b: (
            {
                "ward_id": b.ward_id,
                "mrn": f"P{b.key()[-7:]}",
                "family_name": "Synthetic",
                "given_name": "Kim",
                "preferred_name": "",
                "room": "301",
                "bed": "A",
                "birth_date": date(1979, 3, 4),
                "admitted_at": b.clock(),
            },
            {},
        ),
        lambda b, f, x: wards.admit_patient(b.db, b.nurse, f),
        row=by_id(Patient),
    ),
    Form(
        models.WardCreate,
        lambda b: (
            {"code": f"W{b.key()[-7:]}", "name": "Bench ward", "time_zone": "America/Chicago"},
            {},
        ),
        lambda b, f, x: wards.create_ward(b.db, b.admin, f),
        row=by_id(Ward),
    ),
    Form(
        models.StaffCreate,
        lambda b: (
            {
                "username": f"u{b.key()[-8:]}",
                "display_name": "Bench staff",
                "role": "technician",
                "password": "a long enough passphrase",
            },
            {},
        ),
        lambda b, f, x: accounts.create_staff(b.db, b.admin, f),
        row=by_id(Staff),
    ),
    Form(
        models.CorrectionReason,
        lambda b: ({"reason": "Entered for the wrong patient"}, {"check": _recorded_check(b)}),
        lambda b, f, x: corrections.void_record(b.db, b.nurse, "check_in", x["check"], **f),
        row=by_id(Correction),
    ),
    Form(
        models.BreakGlassCreate,
        lambda b: (
            {
                "mrn": b.other_mrn,
                "reason": "Transferred tonight, need the history",
                "client_key": b.key(),
            },
            {},
        ),
        lambda b, f, x: break_glass.open_break_glass(b.db, b.tech, f),
        table=BreakGlassGrant,
    ),
    Form(
        drafts.DraftInput,
        lambda b: (
            {
                "client_key": b.key(),
                "form": "check_in",
                "patient_id": b.patient(),
                "fields": {"note": "half typed"},
            },
            {},
        ),
        lambda b, f, x: drafts.save_draft(b.db, b.tech, **f),
        row=by_id(Draft),
        wrap={"fields": lambda value: {"note": value}},
    ),
]


def fields_of(model: type[BaseModel], kind: type) -> list[str]:
    """The model's fields whose values are of `kind` (str or datetime), optional or not."""
    found = []
    for name, info in model.model_fields.items():
        options = typing.get_args(info.annotation) or (info.annotation,)
        options = [
            typing.get_args(option)[0] if typing.get_origin(option) is typing.Annotated else option
            for option in options
        ]
        if kind in options or (kind is str and name == "fields"):
            found.append(name)
    return found


def one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:160]


def clean_refusal(error: ServiceError) -> str | None:
    """None for a refusal a technician can read; else what is wrong with it."""
    message = error.message
    if not message or len(message) > 600:
        return f"refusal message of {len(message)} characters"
    for character in message:
        category = unicodedata.category(character)
        if (category in {"Cc", "Cs"} and character not in "\n") or character in BIDI:
            return f"refusal message holds {character!r}"
    return None


def run_case(bench: Bench, form: Form, name: str, value: Any) -> tuple[str, str | None]:
    """('refused' | 'saved', failure or None) for one value in one field."""
    data, extra = form.prepare(bench)
    data[name] = form.wrap.get(name, lambda raw: raw)(value)
    try:
        result = form.save(bench, data, extra)
    except ServiceError as error:
        return "refused", clean_refusal(error)
    except Exception as error:  # any other failure is what the bench is for
        return "crashed", f"{type(error).__name__}: {one_line(error)}"
    try:
        accepted = form.model.model_validate(data, context={"now": bench.clock()})
    except ValidationError:
        return "saved", "saved although the input model refuses it"
    row = form.row(bench, data, extra, result) if form.row else by_key(bench, form.table, data)
    if name == "password":
        try:
            accounts.sign_in(bench.db, row.username, accepted.password)
        except ServiceError:
            return "saved", "the accepted password does not sign in"
        return "saved", None
    stored, wanted = getattr(row, name), getattr(accepted, name)
    if stored != wanted:
        return "saved", f"stored {stored!r:.60} differs from accepted {wanted!r:.60}"
    if name in form.after_admission:
        with bench.db.reading() as session:
            admitted = session.get(Patient, row.patient_id).admitted_at
        if stored < admitted:
            return "saved", "saved with a time before the patient's admission"
    return "saved", None


def other_text_inputs(bench: Bench, value: str) -> list[tuple[str, Callable[[], Any]]]:
    """Text a service takes outside an input model."""
    return [
        ("sign_in username", lambda: accounts.sign_in(bench.db, value, "a long passphrase")),
        ("sign_in password", lambda: accounts.sign_in(bench.db, "nobody", value)),
        ("verify_pin", lambda: accounts.verify_pin(bench.db, bench.tech, value)),
        ("record_lock reason", lambda: accounts.record_lock(bench.db, bench.tech, reason=value)),
        (
            "set_password",
            lambda: accounts.set_password(bench.db, bench.tech, bench.tech.staff_id, value),
        ),
        (
            "void reason",
            lambda: corrections.void_record(
                bench.db, bench.nurse, "check_in", _recorded_check(bench), value
            ),
        ),
        (
            "record kind",
            lambda: corrections.void_record(bench.db, bench.nurse, value, 1, "a reason here"),
        ),
        (
            "timeline cursor",
            lambda: timeline.timeline_for(bench.db, bench.tech, bench.patient(), cursor=value),
        ),
        ("close_draft key", lambda: drafts.close_draft(bench.db, bench.tech, value)),
    ]


def dst_cases(bench: Bench) -> list[tuple[str, str | None]]:
    """The ward clock across America/Chicago's 2026 changes."""
    results = []
    with bench.db.reading() as session:
        ward = session.get(Ward, bench.ward_id)
    for night, hours in ((date(2026, 3, 7), 8), (date(2026, 10, 31), 10)):
        start, end = night_bounds(ward, night)
        got = (end - start).total_seconds() / 3600
        results.append((f"night of {night} lasts {hours} h", None if got == hours else f"{got} h"))
    # Two checks at 01:30 on 1 November, an hour apart: both kept, in order.
    first = datetime(2026, 11, 1, 1, 30, tzinfo=CHICAGO)
    second = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=CHICAGO)
    bench.clock.now = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    patient = bench.patient(ObservationLevel.routine_q60, admitted_at=first - timedelta(hours=1))
    saved = []
    for moment in (first, second):
        form = {
            "patient_id": patient,
            "observed_at": moment,
            "location": "own_room",
            "status": "asleep",
            "client_key": bench.key(),
        }
        try:
            saved.append(check_ins.record_check_in(bench.db, bench.tech, form))
        except Exception as error:  # reported as the case's failure
            saved.append(error)
    problem = None
    if any(isinstance(item, Exception) for item in saved):
        problem = f"refused: {saved}"
    else:
        page = timeline.timeline_for(bench.db, bench.tech, patient)
        times = [entry.at for entry in page.entries if entry.kind == "check_in"]
        if times != [second.astimezone(UTC), first.astimezone(UTC)]:
            problem = f"timeline shows {times}"
    results.append(("the fold's two 01:30 checks are two checks, in order", problem))
    # Morning sleep reports for both DST nights.
    for night, reported in (
        (date(2026, 3, 7), datetime(2026, 3, 8, 7, 30, tzinfo=CHICAGO)),
        (date(2026, 10, 31), datetime(2026, 11, 1, 7, 30, tzinfo=CHICAGO)),
    ):
        bench.clock.now = reported.astimezone(UTC) + timedelta(minutes=1)
        form = {
            "patient_id": bench.patient(admitted_at=reported - timedelta(days=2)),
            "night_of": night,
            "reported_at": reported,
            "hours_slept": 7,
            "quality": "good",
            "client_key": bench.key(),
        }
        try:
            report = sleep.record_sleep_report(bench.db, bench.tech, form)
            problem = None if report.reported_at == reported else "reported time changed"
        except Exception as error:  # reported as the case's failure
            problem = f"{type(error).__name__}: {error}"
        results.append((f"sleep report for the night of {night}", problem))
    bench.clock.now = NOW
    return results


def covered_models() -> tuple[list[str], list[str]]:
    """The input models the forms cover, and any the models package has that they do not."""
    inputs = {
        name
        for name in models.__all__
        if isinstance(getattr(models, name), type)
        and issubclass(getattr(models, name), BaseModel)
        and not getattr(getattr(models, name), "model_config", {}).get("table")
        and not name.endswith("Read")
    }
    covered = {form.model.__name__ for form in FORMS}
    return sorted(covered), sorted(inputs - covered)


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__.splitlines()[0]).parse_args(argv)
    began = time.monotonic()
    failures: list[str] = []
    counts = {"text": 0, "time": 0, "other": 0, "dst": 0, "refused": 0, "saved": 0}
    long_ago = 0
    with fresh_database(args.db, args.url) as url:
        clock = Clock()
        db = open_database(url, clock=clock)
        ward = make_ward(
            db, code="BAD", levels=[], technicians=1, admitted_at=NOW - timedelta(minutes=10)
        )
        other = make_ward(
            db,
            code="ELSE",
            levels=[ObservationLevel.q15],
            technicians=0,
            admitted_at=NOW - timedelta(minutes=10),
        )

        def staff(role: Role) -> Actor:
            made = accounts.create_staff(
                db,
                accounts.CONSOLE,
                {
                    "username": f"bench-{role.value}",
                    "display_name": f"Bench {role.value}",
                    "role": role,
                    "password": "bench passphrase, synthetic",
                    "ward_ids": [ward.ward_id],
                },
            )
            return Actor(made.id, made.username)

        tech = ward.technicians[0]
        # A PIN, so a PIN typed in a locked session is really compared.
        accounts.issue_pin(db, accounts.CONSOLE, tech.staff_id)
        group = groups.start_group_session(
            db,
            tech,
            {
                "ward_id": ward.ward_id,
                "group_type": "community_meeting",
                "started_at": NOW - timedelta(minutes=5),
                "client_key": "bad-input-group",
            },
        )
        with db.reading() as session:
            other_mrn = session.get(Patient, other.patient_ids[0]).mrn
        bench = Bench(
            db,
            clock,
            tech,
            ward.charge,
            staff(Role.admin),
            ward.ward_id,
            other_mrn,
            group.id,
        )
        covered, uncovered = covered_models()
        for model in uncovered:
            failures.append(f"no form covers input model {model}")
        text_values = HOSTILE_TEXT + pastes(args.quick)
        for form in FORMS:
            for name in fields_of(form.model, str):
                for value in text_values + limits_of(form.model, name):
                    outcome, problem = run_case(bench, form, name, value)
                    counts["text"] += 1
                    counts[outcome] = counts.get(outcome, 0) + 1
                    if problem:
                        failures.append(f"{form.model.__name__}.{name} {value!r:.40}: {problem}")
            for name in fields_of(form.model, datetime):
                for value in hostile_times(clock()):
                    outcome, problem = run_case(bench, form, name, value)
                    counts["time"] += 1
                    counts[outcome] = counts.get(outcome, 0) + 1
                    if outcome == "saved" and isinstance(value, datetime) and value.year < 2026:
                        long_ago += 1
                    if problem:
                        failures.append(f"{form.model.__name__}.{name} {value!r:.50}: {problem}")
        for value in text_values:
            for what, call in other_text_inputs(bench, value):
                counts["other"] += 1
                try:
                    call()
                except ServiceError as error:
                    problem = clean_refusal(error)
                except Exception as error:  # any other failure is what the bench is for
                    problem = f"{type(error).__name__}: {one_line(error)}"
                else:
                    problem = None
                if problem:
                    failures.append(f"{what} {value!r:.40}: {problem}")
        for what, problem in dst_cases(bench):
            counts["dst"] += 1
            if problem:
                failures.append(f"{what}: {problem}")
        with db.reading() as session:
            chain = verify_chain(session, key=db.keys.audit)
        if chain.first_bad_id is not None:
            failures.append(f"audit chain broken at {chain.first_bad_id}")
        db.dispose()
    for failure in failures:
        print(f"FAILED {failure}")
    cases = counts["text"] + counts["time"] + counts["other"] + counts["dst"]
    print(
        figures(
            engine=args.db,
            cases=cases,
            failed=len(failures),
            text_cases=counts["text"],
            time_cases=counts["time"],
            other_text_cases=counts["other"],
            dst_cases=counts["dst"],
            refused=counts["refused"],
            saved=counts["saved"],
            crashed=counts.get("crashed", 0),
            models=len(covered),
            uncovered_models=len(uncovered),
            accepted_long_ago=long_ago,
            seconds=round(time.monotonic() - began, 1),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
