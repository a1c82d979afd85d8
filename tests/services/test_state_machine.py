"""The services under any order of actions: a rule-based state machine over a real database.

Staff sign in (right and wrong passwords), record check-ins, amend and void them, read
timelines (their own ward's, another ward's, through break-glass), lock a shared tablet and
unlock it with a PIN (theirs, someone else's, a wrong one), while the clock moves on. A model
of the ward predicts each outcome; after every step the database must show exactly the audit
rows the actions owe (one per action, none for a refusal or a replay), nothing deleted or
overwritten, no read outside a reader's wards without a grant, and an audit chain that
verifies; a changed patient's timeline must be newest first and show every check as it stands.

Each example starts from a fresh copy of one seeded, migrated database (a SQLite file copy,
or a PostgreSQL database made from a template), so staff passwords are hashed once per test.
"""

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import func, select

from app.services.access import Actor
from app.services.accounts import (
    CONSOLE,
    FAILURES_BEFORE_LOCK,
    LOCK_DURATION,
    SIGN_IN_REFUSED,
    create_staff,
    issue_pin,
    record_lock,
    sign_in,
    verify_pin,
)
from app.services.audit import verify_chain
from app.services.break_glass import GRANT_LENGTH, open_break_glass
from app.services.check_ins import DUPLICATE_WINDOW, ON_TIME_FACTOR, record_check_in
from app.services.corrections import amend_record, void_record
from app.services.errors import Conflict, InvalidInput, NotAllowed, SignInFailed
from app.services.timeline import EntryStatus, TimelinePage, timeline_for
from app.services.wards import admit_patient, create_ward
from app.storage.database import Database
from app.storage.schema import upgrade
from app.storage.secrets import Keys
from app.ui.session import WRONG_PINS_ALLOWED, Change, Phase, WardSession
from models import (
    AuditEvent,
    BreakGlassGrant,
    CheckIn,
    Correction,
    LevelChange,
    Patient,
    Staff,
    StaffWard,
)
from models.codes import AuditAction, ObservationLevel, RecordKind, Role, Status
from tests.conftest import POSTGRES_URL, START, TEST_SECRET, Clock
from tests.factories import PASSWORD

pytestmark = pytest.mark.slow

WRONG_PASSWORD = "not the right passphrase"
ADMITTED = START - timedelta(minutes=10)
Q15 = ObservationLevel.q15.check_interval
# Clinical tables and the audit trail: their row counts may only grow.
KEPT = (CheckIn, Correction, LevelChange, BreakGlassGrant, AuditEvent, Patient, Staff)
# Modest, so the test runs in well under a minute on either engine on a shared machine.
MACHINE_SETTINGS = settings(
    max_examples=30,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass(frozen=True)
class Person:
    staff_id: int
    username: str
    role: Role
    ward: str | None
    pin: str | None

    @property
    def actor(self) -> Actor:
        return Actor(self.staff_id, self.username)


class Copier:
    """Fresh copies of the seeded database: file copies (SQLite), template copies (PostgreSQL)."""

    def __init__(self, folder: Path, template: str) -> None:
        self.folder = folder
        self.template = template
        self.admin = None
        if not POSTGRES_URL:
            return
        self.admin = create_engine(
            make_url(POSTGRES_URL).set(database="postgres"), isolation_level="AUTOCOMMIT"
        )

    def url(self, database: str) -> str:
        if self.admin is None:
            return f"sqlite:///{self.folder / database}.db"
        return make_url(POSTGRES_URL).set(database=database).render_as_string(False)

    def create_template(self) -> str:
        if self.admin is not None:
            with self.admin.connect() as connection:
                connection.execute(text(f"CREATE DATABASE {self.template}"))
        else:
            shutil.copyfile(self.folder / "migrated.db", self.folder / f"{self.template}.db")
        return self.url(self.template)

    def fresh(self) -> str:
        name = f"rounds_machine_{uuid.uuid4().hex[:10]}"
        if self.admin is None:
            shutil.copyfile(self.folder / f"{self.template}.db", self.folder / f"{name}.db")
        else:
            with self.admin.connect() as connection:
                # A template must have no sessions (the migration's may linger in its pool).
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": self.template},
                )
                connection.execute(text(f"CREATE DATABASE {name} TEMPLATE {self.template}"))
        return self.url(name)

    def drop(self, url: str) -> None:
        if self.admin is None:
            Path(make_url(url).database).unlink(missing_ok=True)
            return
        with self.admin.connect() as connection:
            name = make_url(url).database
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    def close(self) -> None:
        if self.admin is not None:
            self.drop(self.url(self.template))
            self.admin.dispose()


@dataclass
class Seed:
    """A migrated database holding two wards, their staff and patients, to copy per example."""

    people: dict[str, Person]
    patients: dict[str, tuple[int, str]]  # name -> (patient id, ward)
    copy: Copier


def mrn_of(patient: str) -> str:
    return f"M{patient.upper()}"


def _seed(db: Database) -> tuple[dict[str, Person], dict[str, tuple[int, str]]]:
    wards = {
        code: create_ward(
            db, CONSOLE, {"code": code, "name": f"Ward {code}", "time_zone": "America/Chicago"}
        )
        for code in ("A", "B")
    }
    people = {}
    for name, role, ward in (
        ("tech_a", Role.technician, "A"),
        ("nurse_a", Role.nurse, "A"),
        ("charge_a", Role.charge_nurse, "A"),
        ("tech_b", Role.technician, "B"),
        ("charge_b", Role.charge_nurse, "B"),
        ("admin", Role.admin, None),
    ):
        made = create_staff(
            db,
            CONSOLE,
            {
                "username": name.replace("_", "-"),
                "display_name": f"Machine {name}",
                "role": role,
                "password": PASSWORD,
                "ward_ids": [wards[ward].id] if ward else [],
            },
        )
        pin = issue_pin(db, CONSOLE, made.id) if role != Role.admin else None
        people[name] = Person(made.id, made.username, role, ward, pin)
    patients = {}
    for name, ward in (("a1", "A"), ("b1", "B")):
        admitted = admit_patient(
            db,
            people[f"charge_{ward.lower()}"].actor,
            {
                "ward_id": wards[ward].id,
                "mrn": mrn_of(name),
                "family_name": f"Machine{name}",
                "given_name": "Sam",
                "room": name,
                "birth_date": "1985-04-02",
                "admitted_at": ADMITTED,
            },
            level=ObservationLevel.q15,
        )
        patients[name] = (admitted.id, ward)
    return people, patients


@pytest.fixture
def seed(migrated_template: str, tmp_path: Path) -> Iterator[Seed]:
    """Two wards seeded once through the services; every example gets its own copy."""
    copier = Copier(tmp_path, f"rounds_machine_seed_{uuid.uuid4().hex[:8]}")
    if not POSTGRES_URL:
        shutil.copyfile(migrated_template, tmp_path / "migrated.db")
    url = copier.create_template()
    if POSTGRES_URL:
        upgrade(url)
    db = Database(url, keys=Keys.from_secret(TEST_SECRET), clock=Clock())
    try:
        people, patients = _seed(db)
    finally:
        db.dispose()
    yield Seed(people, patients, copier)
    copier.close()


@dataclass
class CheckModel:
    """What the model knows of one stored check."""

    patient: str
    author: str
    form: dict
    stored: tuple
    state: EntryStatus = EntryStatus.current
    void_reason: str = ""


@dataclass
class SignInModel:
    failures: int = 0
    locked_until: datetime | None = None


@dataclass
class Tablet:
    """The shared tablet: who it is signed in for, and its session rules."""

    session: WardSession
    person: Person | None = None


CLINICAL = (Role.technician, Role.nurse, Role.charge_nurse)
CORRECTING = (Role.nurse, Role.charge_nurse)
# The refusal each predicted outcome is given.
OUTCOMES = {
    NotAllowed: ("refused",),
    Conflict: ("duplicate", "already corrected"),
    InvalidInput: ("late without a reason", "changes nothing"),
}
# The predicted outcomes that save (or return an earlier save).
SAVED = ("late", "on time", "voided", "replayed")


class WardMachine(RuleBasedStateMachine):
    """Staff on two wards and a shared tablet, acting in any order."""

    seed: Seed  # set by the test

    checks = Bundle("checks")

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.url = self.seed.copy.fresh()
        self.db = Database(self.url, keys=Keys.from_secret(TEST_SECRET), clock=self.clock)
        self.people = self.seed.people
        self.patients = self.seed.patients
        self.audits = self._count(AuditEvent)
        self.counts = {table: self._count(table) for table in KEPT}
        self.model: dict[int, CheckModel] = {}
        # Patients whose checks changed since their timeline was last read by the invariant.
        self.changed: set[str] = set()
        self.grants: list[tuple[str, str, datetime]] = []
        self.sign_ins = {person.username: SignInModel() for person in self.people.values()}
        self.attempts = 0
        self.guesser = False
        self.tablet = Tablet(
            WardSession(
                idle_lock=timedelta(minutes=3),
                idle_sign_out=timedelta(minutes=30),
                longest=timedelta(hours=12),
                clock=lambda: self.clock().timestamp(),
            )
        )

    def teardown(self) -> None:
        self.db.dispose()
        self.seed.copy.drop(self.url)

    # --- helpers -----------------------------------------------------------------------------

    def _count(self, table) -> int:
        with self.db.reading() as session:
            return session.exec(select(func.count()).select_from(table)).one()

    def _audited(self, expected: int) -> None:
        """The action just taken wrote `expected` audit rows (one, or none when refused)."""
        self.audits += expected
        assert self._count(AuditEvent) == self.audits, f"expected {expected} new audit row(s)"

    def _on_ward(self, who: str, patient: str) -> bool:
        return self.people[who].ward == self.patients[patient][1]

    def _granted(self, who: str, patient: str) -> bool:
        now = self.clock()
        return any(g[:2] == (who, patient) and now < g[2] for g in self.grants)

    def _current(self, patient: str, *, excluding: int | None = None) -> list[CheckModel]:
        return [
            check
            for check_id, check in self.model.items()
            if check.patient == patient
            and check.state == EntryStatus.current
            and check_id != excluding
        ]

    def _expected_check(self, patient: str, form: dict, *, excluding: int | None = None) -> str:
        """'duplicate', 'late without a reason', 'late' or 'on time' for a check at form time."""
        at = form["observed_at"]
        others = self._current(patient, excluding=excluding)
        if any(abs(other.form["observed_at"] - at) < DUPLICATE_WINDOW for other in others):
            return "duplicate"
        earlier = [other.form["observed_at"] for other in others if other.form["observed_at"] < at]
        since = max([ADMITTED, *earlier])
        if at > since + Q15 * ON_TIME_FACTOR:
            return "late" if form.get("late_reason") else "late without a reason"
        return "on time"

    def _attempt(self, what: str, expected: str, call: Callable[[], Any]) -> Any:
        """Make a call whose outcome the model predicted; its result, or None when refused.

        A refusal must be of the predicted kind and write no audit row; a save writes one, a
        replay of an earlier save none.
        """
        try:
            result = call()
        except (NotAllowed, Conflict, InvalidInput) as refused:
            self._audited(0)
            assert expected in OUTCOMES[type(refused)], (
                f"{what}: {refused.message!r}, not {expected}"
            )
            event(f"{what.split()[0]}: {expected}")
            return None
        self._audited(0 if expected == "replayed" else 1)
        assert expected in SAVED, f"{what}: saved, not {expected}"
        event(f"{what.split()[0]}: saved {expected}")
        return result

    def _check_page(self, patient: str, page: TimelinePage) -> None:
        """The page is newest first and shows every check of the patient with its state."""
        order = [(entry.at, entry.kind.value, entry.id) for entry in page.entries]
        for newer, older in pairwise(order):
            # At one moment: by kind, then the newest record first.
            assert newer[0] > older[0] or (
                newer[0] == older[0] and (newer[1], -newer[2]) < (older[1], -older[2])
            ), f"timeline out of order: {newer} before {older}"
        shown = {
            entry.id: entry.status for entry in page.entries if entry.kind == RecordKind.check_in
        }
        wanted = {
            check_id: check.state
            for check_id, check in self.model.items()
            if check.patient == patient
        }
        assert shown == wanted, "the timeline does not show every check with its state"

    def _stored(self, check_id: int) -> tuple:
        with self.db.reading() as session:
            row = session.get(CheckIn, check_id)
            return (
                row.patient_id,
                row.observed_at,
                row.status,
                row.note,
                row.late,
                row.recorded_by,
                row.recorded_at,
            )

    # --- rules -------------------------------------------------------------------------------

    @rule(minutes=st.integers(1, 20))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)
        person = self.tablet.person
        change = self.tablet.session.tick()
        if change is not None:
            # As the app shell does: an idle lock and an ended session are each audited.
            reason = "idle" if change == Change.locked else "ended: idle"
            record_lock(self.db, person.actor, reason=reason)
            self._audited(1)
            event(f"tablet: {reason}")
            if change == Change.ended:
                self.tablet.person = None
        else:
            self._audited(0)

    @initialize(someone_guesses=st.sampled_from([False, False, True]))
    def at_the_tablet(self, someone_guesses: bool) -> None:
        """Whether a patient will try passwords at the tablet in this example (each guess costs
        an Argon2 verification, so not in every example)."""
        self.guesser = someone_guesses

    @precondition(lambda self: self.attempts < 2)  # each costs an Argon2 verification
    @rule(
        who=st.sampled_from(["tech_a", "nurse_a", "tech_b", "nobody"]),
        right=st.booleans(),
    )
    def sign_in(self, who: str, right: bool) -> None:
        self.attempts += 1
        self._sign_in(who, right)

    def _sign_in(self, who: str, right: bool) -> None:
        now = self.clock()
        username = who.replace("_", "-")
        state = self.sign_ins.get(username)
        try:
            staff = sign_in(self.db, username, PASSWORD if right else WRONG_PASSWORD)
        except SignInFailed as refused:
            self._audited(1)
            if state is not None and state.locked_until is not None and now < state.locked_until:
                assert refused.message.startswith("Too many failed sign-ins")
                event("sign in: locked out")
                return
            assert refused.message == SIGN_IN_REFUSED
            assert state is None or not right, "the right password was refused"
            event("sign in: refused")
            if state is not None:
                state.failures += 1
                if state.failures >= FAILURES_BEFORE_LOCK:
                    state.failures, state.locked_until = 0, now + LOCK_DURATION
            return
        self._audited(1)
        event("sign in: signed in")
        assert state is not None and right, f"{who} signed in with {right=}"
        assert state.locked_until is None or now >= state.locked_until, "signed in while locked"
        state.failures, state.locked_until = 0, None
        self.tablet.session.sign_in(staff)
        self.tablet.person = self.people[who]

    @precondition(lambda self: self.guesser)
    @rule(who=st.sampled_from(["tech_a", "tech_b"]))
    def someone_keeps_guessing_a_password(self, who: str) -> None:
        """Five wrong passwords in a row (a patient at the tablet): each refused and audited."""
        self.guesser = False
        for _ in range(FAILURES_BEFORE_LOCK):
            self._sign_in(who, right=False)

    @rule(
        target=checks,
        who=st.sampled_from(["tech_a", "nurse_a", "tech_b", "admin"]),
        patient=st.sampled_from(["a1", "b1"]),
        seconds_ago=st.integers(0, 240),
        status=st.sampled_from([Status.resting, Status.watching_tv, Status.asleep]),
        with_reason=st.booleans(),
    )
    def record_check(self, who, patient, seconds_ago, status, with_reason):
        form = {
            "patient_id": self.patients[patient][0],
            "observed_at": self.clock() - timedelta(seconds=seconds_ago),
            "location": "own_room" if status == Status.asleep else "day_room",
            "status": status,
            "note": f"Seen by {who}",
            "late_reason": "other" if with_reason else None,
            "client_key": uuid.uuid4().hex,
        }
        person = self.people[who]
        expected = self._expected_check(patient, form)
        if person.role not in CLINICAL or not self._on_ward(who, patient):
            expected = "refused"
        saved = self._attempt(
            f"check by {who} of {patient}",
            expected,
            lambda: record_check_in(self.db, person.actor, form),
        )
        if saved is None:
            return multiple()
        self.changed.add(patient)
        assert saved.late == (expected == "late")
        self.model[saved.id] = CheckModel(patient, who, form, self._stored(saved.id))
        return saved.id

    @precondition(lambda self: self.model)
    @rule(check=checks)
    def resend_a_saved_form(self, check: int) -> None:
        """A device resends a form it saved: the same check comes back, and nothing is added."""
        model = self.model[check]
        again = record_check_in(self.db, self.people[model.author].actor, model.form)
        self._audited(0)
        assert again.id == check and again.replayed

    @rule(
        who=st.sampled_from(["tech_a", "nurse_a", "charge_a"]),
        check=checks,
        reason=st.sampled_from(["Wrong patient", "Entered twice"]),
    )
    def void(self, who: str, check: int, reason: str) -> None:
        model = self.model[check]
        person = self.people[who]
        if person.role not in CORRECTING or not self._on_ward(who, model.patient):
            expected = "refused"
        elif model.state == EntryStatus.current:
            expected = "voided"
        elif model.state == EntryStatus.voided and model.void_reason == reason:
            expected = "replayed"  # the same void sent again returns the first
        else:
            expected = "already corrected"
        done = self._attempt(
            f"void by {who} of #{check}",
            expected,
            lambda: void_record(self.db, person.actor, RecordKind.check_in, check, reason),
        )
        if done is None:
            return
        self.changed.add(model.patient)
        assert done.replayed == (expected == "replayed")
        model.state, model.void_reason = EntryStatus.voided, reason

    @rule(
        target=checks,
        who=st.sampled_from(["tech_a", "nurse_a", "charge_a"]),
        check=checks,
        status=st.sampled_from([Status.resting, Status.reading, Status.pacing]),
    )
    def amend(self, who: str, check: int, status: Status):
        model = self.model[check]
        person = self.people[who]
        form = {**model.form, "status": status, "client_key": uuid.uuid4().hex}
        # In the order the service checks: who, whether still current, whether it changes
        # anything, then the replacement's own rules.
        if person.role not in CORRECTING or not self._on_ward(who, model.patient):
            expected = "refused"
        elif model.state != EntryStatus.current:
            expected = "already corrected"
        elif status == model.form["status"]:
            expected = "changes nothing"
        else:
            expected = self._expected_check(model.patient, form, excluding=check)
        done = self._attempt(
            f"amendment by {who} of #{check}",
            expected,
            lambda: amend_record(
                self.db, person.actor, RecordKind.check_in, check, form, "Status misread"
            ),
        )
        if done is None:
            return multiple()
        self.changed.add(model.patient)
        model.state = EntryStatus.amended
        stored = self._stored(done.replacement_id)
        assert stored[4] == (expected == "late")
        self.model[done.replacement_id] = CheckModel(model.patient, who, form, stored)
        return done.replacement_id

    @rule(
        who=st.sampled_from(["tech_a", "nurse_a", "tech_b", "admin"]),
        patient=st.sampled_from(["a1", "b1"]),
    )
    def view_timeline(self, who: str, patient: str) -> None:
        person = self.people[who]
        allowed = person.role in CLINICAL and (
            self._on_ward(who, patient) or self._granted(who, patient)
        )
        try:
            page = timeline_for(self.db, person.actor, self.patients[patient][0])
        except NotAllowed:
            self._audited(0)
            assert not allowed, f"{who} was refused {patient}'s timeline"
            event("timeline: refused")
            return
        self._audited(1)
        event("timeline: read" + ("" if self._on_ward(who, patient) else " through a grant"))
        assert allowed, f"{who} read {patient}'s timeline outside their wards, without a grant"
        self._check_page(patient, page)

    @rule(
        who=st.sampled_from(["tech_a", "tech_b", "admin"]),
        patient=st.sampled_from(["a1", "b1"]),
    )
    def break_glass(self, who: str, patient: str) -> None:
        person = self.people[who]
        form = {
            "mrn": mrn_of(patient),
            "reason": "Transferred tonight, need the history",
            "client_key": uuid.uuid4().hex,
        }
        try:
            grant = open_break_glass(self.db, person.actor, form)
        except NotAllowed:
            self._audited(0)
            assert person.role not in CLINICAL
            return
        except Conflict:
            self._audited(0)
            assert self._on_ward(who, patient)
            return
        self._audited(1)
        event("break-glass: opened")
        assert person.role in CLINICAL and not self._on_ward(who, patient)
        assert grant.expires_at == self.clock() + GRANT_LENGTH
        self.grants.append((who, patient, grant.expires_at))

    @precondition(lambda self: self.tablet.session.phase in (Phase.active, Phase.choosing_ward))
    @rule()
    def lock(self) -> None:
        self.tablet.session.lock()
        record_lock(self.db, self.tablet.person.actor, reason="locked by user")
        self._audited(1)
        event("lock: locked by user")

    @precondition(lambda self: self.tablet.session.phase == Phase.locked)
    @rule(whose=st.sampled_from(["own", "another's", "wrong"]))
    def unlock(self, whose: str) -> None:
        tablet = self.tablet
        person = tablet.person
        if not tablet.session.may_try_pin():
            # Idle too long while locked: the shell ends the session instead.
            record_lock(self.db, person.actor, reason="ended: idle")
            self._audited(1)
            tablet.person = None
            return
        others = [p.pin for p in self.people.values() if p.pin and p.pin != person.pin]
        pin = {"own": person.pin, "another's": others[0], "wrong": "000000"}[whose]
        if whose == "wrong" and pin == person.pin:
            pin = "999999"
        opened = verify_pin(self.db, person.actor, pin)
        self._audited(1)
        assert opened == (whose == "own"), f"{whose} PIN {'opened' if opened else 'refused'}"
        event(f"unlock: {whose} PIN")
        if opened:
            tablet.session.pin_accepted()
            return
        wrong_before = tablet.session.wrong_pins
        if tablet.session.pin_refused():
            event("unlock: session ended after 5 wrong PINs")
            assert wrong_before + 1 == WRONG_PINS_ALLOWED
            record_lock(self.db, person.actor, reason="ended: 5 wrong PINs")
            self._audited(1)
            tablet.person = None

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def every_action_wrote_its_one_audit_row(self) -> None:
        assert self._count(AuditEvent) == self.audits

    @invariant()
    def nothing_is_deleted_or_overwritten(self) -> None:
        for table in KEPT:
            now = self._count(table)
            assert now >= self.counts[table], f"{table.__tablename__} lost rows"
            self.counts[table] = now
        for check_id, check in self.model.items():
            assert self._stored(check_id) == check.stored, f"check {check_id} was changed"
        with self.db.reading() as session:
            corrected = set(session.exec(select(Correction.record_id)).all())
        assert corrected == {i for i, c in self.model.items() if c.state != EntryStatus.current}

    @invariant()
    def nobody_read_outside_their_wards_without_a_grant(self) -> None:
        with self.db.reading() as session:
            outside = session.exec(
                select(AuditEvent)
                .join(Patient, Patient.id == AuditEvent.patient_id)
                .outerjoin(
                    StaffWard,
                    (StaffWard.staff_id == AuditEvent.staff_id)
                    & (StaffWard.ward_id == Patient.ward_id),
                )
                .where(AuditEvent.action == AuditAction.view, StaffWard.staff_id.is_(None))
            ).all()
            for read in outside:
                grant = session.exec(
                    select(BreakGlassGrant).where(
                        BreakGlassGrant.staff_id == read.staff_id,
                        BreakGlassGrant.patient_id == read.patient_id,
                        BreakGlassGrant.opened_at <= read.at,
                        BreakGlassGrant.expires_at > read.at,
                    )
                ).first()
                assert grant is not None, f"audit row {read.id}: a read outside the wards"

    @invariant()
    def changed_timelines_are_newest_first_and_show_every_check(self) -> None:
        # Read by the ward's charge nurse: a read like any other, so it owes one audit row.
        for patient in sorted(self.changed):
            reader = self.people[f"charge_{self.patients[patient][1].lower()}"]
            page = timeline_for(self.db, reader.actor, self.patients[patient][0])
            self._audited(1)
            self._check_page(patient, page)
        self.changed.clear()

    @invariant()
    def the_audit_chain_verifies(self) -> None:
        with self.db.reading() as session:
            chain = verify_chain(session, key=self.db.keys.audit)
        assert chain.first_bad_id is None, chain.problem

    @invariant()
    def a_locked_tablet_never_allows_a_sixth_pin(self) -> None:
        assert self.tablet.session.wrong_pins < WRONG_PINS_ALLOWED


def test_the_services_keep_their_promises_in_any_order(seed: Seed) -> None:
    machine = type("WardServices", (WardMachine,), {"seed": seed})
    run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)
