"""Who may do what, where: every role x every service action x (own ward, other ward,
discharged patient of the own ward), from one table written out by hand.

Each cell runs against fresh records (a new patient, a new check...), so one cell cannot help
or hinder another. The "other ward" cells use the other ward's ids directly, as a tampered
request would. An allowed cell must succeed; a denied one must raise NotAllowed and leave every
table exactly as it was. Cells marked None do not apply (a ward-level action has no discharged
patient; an action on one's own account has no other ward).

A new public service function that takes an actor fails `test_the_table_covers_every_action`
until it has a row here.
"""

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

import app.services
from app.services import (
    accounts,
    audit_report,
    break_glass,
    check_ins,
    compliance,
    corrections,
    drafts,
    effect,
    exports,
    groups,
    handoff,
    incidents,
    levels,
    rounds,
    sleep,
    timeline,
    treatment,
    trends,
    wards,
)
from app.services.access import Actor
from app.services.errors import Conflict, NotAllowed
from app.storage.database import Database
from models import StaffWard
from tests.factories import PASSWORD, Ward, key

TECH, NURSE, CHARGE, ADMIN = "technician", "nurse", "charge_nurse", "admin"
ROLES = [TECH, NURSE, CHARGE, ADMIN]
CLINICAL = {TECH, NURSE, CHARGE}
NURSES = {NURSE, CHARGE}
EVERYONE = set(ROLES)
NOBODY: set[str] = set()
OWN, OTHER, DISCHARGED = "own ward", "other ward", "discharged"
_ATTRIBUTE = {TECH: "tech", NURSE: "nurse", CHARGE: "charge", ADMIN: "admin"}


@dataclass
class World:
    """Two wards, each with one staff member of each role; the actors work on `home`."""

    db: Database
    clock: Any
    home: Ward
    away: Ward
    home_staff: int
    away_staff: int

    @classmethod
    def create(cls, db: Database, clock) -> "World":
        home, away = Ward.create(db, patients=0), Ward.create(db, patients=0)
        extra = [
            accounts.create_staff(
                db,
                accounts.CONSOLE,
                {
                    "username": f"extra-{ward.ward.code}".lower(),
                    "display_name": "Extra staff",
                    "role": TECH,
                    "password": PASSWORD,
                    "ward_ids": [ward.ward.id],
                },
            ).id
            for ward in (home, away)
        ]
        return cls(db, clock, home, away, *extra)

    def actor(self, role: str) -> Actor:
        return getattr(self.home, _ATTRIBUTE[role])

    def ward(self, context: str) -> Ward:
        return self.away if context == OTHER else self.home

    def patient(self, context: str, before_discharge: Callable | None = None):
        """A new patient for the context; `before_discharge(patient, ward)` records what the
        cell needs while the patient is still admitted."""
        ward = self.ward(context)
        patient = ward.admit()
        if before_discharge is not None:
            before_discharge(patient, ward)
        if context == DISCHARGED:
            wards.discharge_patient(self.db, ward.charge, patient.id)
        return patient

    def staff(self, context: str) -> int:
        return self.away_staff if context == OTHER else self.home_staff


def check_form(patient_id: int, at) -> dict:
    return {
        "patient_id": patient_id,
        "observed_at": at,
        "location": "day_room",
        "status": "resting",
        "client_key": key(),
    }


def group_form(ward_id: int, at) -> dict:
    return {
        "ward_id": ward_id,
        "group_type": "community_meeting",
        "started_at": at,
        "client_key": key(),
    }


def attendance(session_id: int, patient_id: int) -> dict:
    return {
        "session_id": session_id,
        "patient_id": patient_id,
        "attendance": "attended",
        "participation_level": "active",
        "client_key": key(),
    }


def restraint_form(patient_id: int, at) -> dict:
    return {
        "patient_id": patient_id,
        "kind": "seclusion",
        "ordered_at": at,
        "ordered_by": "Dr. Synthetic",
        "started_at": at,
        "client_key": key(),
    }


def treatment_form(patient_id: int, at) -> dict:
    return {
        "patient_id": patient_id,
        "kind": "medication_started",
        "effective_at": at,
        "name": "Synthetic medication",
        "client_key": key(),
    }


# Each action prepares its cell, then returns the call to make: (world, actor, context) -> call.
Prepare = Callable[[World, Actor, str], Callable[[], Any]]


def _record_check(w: World, actor: Actor, context: str):
    patient = w.patient(context)
    return lambda: check_ins.record_check_in(w.db, actor, check_form(patient.id, w.clock()))


def _routine_check(w: World, actor: Actor, context: str):
    patient = w.patient(context)
    form = {"patient_id": patient.id, "observed_at": w.clock(), "client_key": key()}
    return lambda: check_ins.record_routine_check(w.db, actor, form)


def _undo_check(w: World, actor: Actor, context: str):
    """The actor's own check, entered while they (briefly) worked on the patient's ward."""
    made = {}

    def own_check(patient, ward):
        author = actor if actor != w.home.admin else ward.tech
        with w.db.writing() as session:
            if session.get(StaffWard, (author.staff_id, ward.ward.id)) is None:
                session.add(StaffWard(staff_id=author.staff_id, ward_id=ward.ward.id))
                made["moved"] = True
        made["check"] = check_ins.record_check_in(w.db, author, check_form(patient.id, w.clock()))
        if made.pop("moved", False):
            with w.db.writing() as session:
                session.delete(session.get(StaffWard, (author.staff_id, ward.ward.id)))

    w.patient(context, own_check)
    return lambda: check_ins.undo_check_in(w.db, actor, made["check"].id)


def _last_change(w: World, actor: Actor, context: str):
    return lambda: check_ins.last_ward_change(w.db, actor, w.ward(context).ward.id)


def _change_level(w: World, actor: Actor, context: str):
    patient = w.patient(context)
    form = {
        "patient_id": patient.id,
        "level": "q5",
        "effective_at": w.clock(),
        "ordered_by": "Dr. Synthetic",
        "reason": "Agitated after a phone call",
        "client_key": key(),
    }
    return lambda: levels.change_level(w.db, actor, form)


def _sleep(w: World, actor: Actor, context: str):
    patient = w.patient(context)
    form = {
        "patient_id": patient.id,
        "night_of": (w.clock() - timedelta(days=1)).date(),
        "reported_at": w.clock(),
        "hours_slept": 7,
        "quality": "good",
        "client_key": key(),
    }
    return lambda: sleep.record_sleep_report(w.db, actor, form)


def _start_group(w: World, actor: Actor, context: str):
    form = group_form(w.ward(context).ward.id, w.clock())
    return lambda: groups.start_group_session(w.db, actor, form)


def _group_session(w: World, actor: Actor, context: str):
    ward = w.ward(context)
    group = groups.start_group_session(w.db, ward.tech, group_form(ward.ward.id, w.clock()))
    return lambda: groups.group_session(w.db, actor, group.id)


def _attendance(w: World, actor: Actor, context: str):
    """Another ward's patient marked in a group of the actor's own ward, by id."""
    group = groups.start_group_session(w.db, w.home.tech, group_form(w.home.ward.id, w.clock()))
    patient = w.patient(context)
    return lambda: groups.record_attendance(w.db, actor, attendance(group.id, patient.id))


def _attendance_batch(w: World, actor: Actor, context: str):
    ward = w.ward(context)
    group = groups.start_group_session(w.db, ward.tech, group_form(ward.ward.id, w.clock()))
    patient = w.patient(context)
    return lambda: groups.record_attendance_batch(
        w.db, actor, group.id, [attendance(group.id, patient.id)]
    )


def _incident(w: World, actor: Actor, context: str):
    patient = w.patient(context)
    form = {
        "patient_id": patient.id,
        "occurred_at": w.clock(),
        "incident_type": "verbal_aggression",
        "location": "hallway",
        "moas_verbal": 1,
        "client_key": key(),
    }
    return lambda: incidents.record_incident(w.db, actor, form)


def _start_restraint(w: World, actor: Actor, context: str):
    patient = w.patient(context)
    form = restraint_form(patient.id, w.clock())
    return lambda: incidents.start_restraint(w.db, actor, form)


def _update_restraint(w: World, actor: Actor, context: str):
    made = {}

    def episode(patient, ward):
        made["episode"] = incidents.start_restraint(
            w.db, ward.nurse, restraint_form(patient.id, w.clock() - timedelta(minutes=5))
        )

    w.patient(context, episode)
    progress = {"face_to_face_at": w.clock()}
    return lambda: incidents.update_restraint(w.db, actor, made["episode"].id, progress)


def _open_restraints(w: World, actor: Actor, context: str):
    return lambda: incidents.open_restraints(w.db, actor, w.ward(context).ward.id)


def _treatment(w: World, actor: Actor, context: str):
    patient = w.patient(context)
    form = treatment_form(patient.id, w.clock())
    return lambda: treatment.record_treatment_event(w.db, actor, form)


def _a_check(w: World, context: str) -> Any:
    made = {}

    def record(patient, ward):
        made["check"] = check_ins.record_check_in(
            w.db, ward.tech, check_form(patient.id, w.clock())
        )

    w.patient(context, record)
    return made["check"]


def _void(w: World, actor: Actor, context: str):
    check = _a_check(w, context)
    return lambda: corrections.void_record(
        w.db, actor, "check_in", check.id, "Entered for the wrong patient"
    )


def _amend(w: World, actor: Actor, context: str):
    check = _a_check(w, context)
    replacement = {**check_form(check.patient_id, check.observed_at), "status": "reading"}
    return lambda: corrections.amend_record(
        w.db, actor, "check_in", check.id, replacement, "Was reading, not resting"
    )


def _timeline(w: World, actor: Actor, context: str):
    patient = w.patient(context)
    return lambda: timeline.timeline_for(w.db, actor, patient.id)


def _trends(w: World, actor: Actor, context: str):
    patient = w.patient(context)
    today = w.clock().date()
    return lambda: trends.trends_for(
        w.db, actor, patient.id, start=today - timedelta(days=1), end=today
    )


def _header(w: World, actor: Actor, context: str):
    patient = w.patient(context)
    return lambda: wards.patient_header(w.db, actor, patient.id)


def _effect(w: World, actor: Actor, context: str):
    def started(patient, ward):
        form = treatment_form(patient.id, w.clock() - timedelta(minutes=5))
        treatment.record_treatment_event(w.db, ward.nurse, form)

    patient = w.patient(context, started)
    return lambda: effect.compare_around(w.db, actor, patient.id)


def _export(w: World, actor: Actor, context: str):
    patient = w.patient(context)
    today = w.clock().date()
    return lambda: exports.export_patient(
        w.db, actor, patient.id, fmt="csv", start=today - timedelta(days=1), end=today
    )


def _discharge(w: World, actor: Actor, context: str):
    patient = w.patient(context)
    return lambda: wards.discharge_patient(w.db, actor, patient.id)


def _admit(w: World, actor: Actor, context: str):
    form = {
        "ward_id": w.ward(context).ward.id,
        "mrn": f"M{key()[:10]}",
        "family_name": "Synthetic",
        "given_name": "Sam",
        "room": "201",
        "birth_date": "1988-02-03",
        "admitted_at": w.clock(),
    }
    return lambda: wards.admit_patient(w.db, actor, form)


def _rounds(w: World, actor: Actor, context: str):
    return lambda: rounds.rounds_for(w.db, actor, w.ward(context).ward.id)


def _handoff(w: World, actor: Actor, context: str):
    return lambda: handoff.handoff_for(w.db, actor, w.ward(context).ward.id)


def _compliance(w: World, actor: Actor, context: str):
    today = w.clock().date()
    return lambda: compliance.ward_compliance(
        w.db, actor, w.ward(context).ward.id, start=today - timedelta(days=1), end=today
    )


def _save_draft(w: World, actor: Actor, context: str):
    patient = w.patient(context)
    return lambda: drafts.save_draft(
        w.db,
        actor,
        client_key=key(),
        form="check_in",
        patient_id=patient.id,
        fields={"note": "half typed"},
    )


def _break_glass(w: World, actor: Actor, context: str):
    patient = w.patient(context)
    form = {
        "mrn": patient.mrn,
        "reason": "Transfer tonight, need history",
        "client_key": key(),
    }
    return lambda: break_glass.open_break_glass(w.db, actor, form)


def _create_staff(w: World, actor: Actor, context: str):
    form = {
        "username": f"new-{key()[:12]}",
        "display_name": "New staff",
        "role": TECH,
        "password": PASSWORD,
        "ward_ids": [w.ward(context).ward.id],
    }
    return lambda: accounts.create_staff(w.db, actor, form)


def _set_password(w: World, actor: Actor, context: str):
    target = w.staff(context)
    return lambda: accounts.set_password(w.db, actor, target, "a brand new passphrase")


def _issue_pin(w: World, actor: Actor, context: str):
    target = w.staff(context)
    return lambda: accounts.issue_pin(w.db, actor, target)


def _deactivate(w: World, actor: Actor, context: str):
    target = w.staff(context)
    return lambda: accounts.deactivate(w.db, actor, target)


def _own_password(w: World, actor: Actor, context: str):
    return lambda: accounts.set_password(w.db, actor, actor.staff_id, "my own new passphrase")


def _own_pin(w: World, actor: Actor, context: str):
    return lambda: accounts.issue_pin(w.db, actor, actor.staff_id)


def _verify_pin(w: World, actor: Actor, context: str):
    return lambda: accounts.verify_pin(w.db, actor, "123456")


def _record_lock(w: World, actor: Actor, context: str):
    return lambda: accounts.record_lock(w.db, actor, reason="idle")


def _my_wards(w: World, actor: Actor, context: str):
    return lambda: wards.my_wards(w.db, actor)


def _open_drafts(w: World, actor: Actor, context: str):
    return lambda: drafts.open_drafts(w.db, actor)


def _close_draft(w: World, actor: Actor, context: str):
    return lambda: drafts.close_draft(w.db, actor, key())


def _my_break_glass(w: World, actor: Actor, context: str):
    return lambda: break_glass.my_break_glass(w.db, actor)


def _has_break_glass(w: World, actor: Actor, context: str):
    patient = w.patient(OTHER)
    return lambda: break_glass.has_break_glass(w.db, actor, patient.id)


def _create_ward(w: World, actor: Actor, context: str):
    form = {"code": f"N{key()[:6]}", "name": "New ward", "time_zone": "America/Chicago"}
    return lambda: wards.create_ward(w.db, actor, form)


def _audit_report(w: World, actor: Actor, context: str):
    start = w.clock() - timedelta(days=1)
    return lambda: audit_report.audit_report(w.db, actor, start=start, end=w.clock())


def _break_glass_report(w: World, actor: Actor, context: str):
    start = w.clock() - timedelta(days=1)
    return lambda: break_glass.break_glass_report(w.db, actor, start, w.clock())


@dataclass(frozen=True)
class Action:
    """One service action and who may do it in each place (None: the place does not apply)."""

    name: str
    prepare: Prepare
    own: set[str]
    other: set[str] | None = None
    discharged: set[str] | None = None
    # Roles refused in a place with another error than NotAllowed (and nothing written).
    conflicts: dict[str, set[str]] = field(default_factory=dict)

    def places(self) -> dict[str, set[str]]:
        found = {OWN: self.own, OTHER: self.other, DISCHARGED: self.discharged}
        return {place: roles for place, roles in found.items() if roles is not None}


def patient_action(name, prepare, roles, *, reads=False) -> Action:
    """An action on one patient: never on another ward's; on a discharged one only to read."""
    return Action(name, prepare, roles, NOBODY, roles if reads else NOBODY)


def ward_action(name, prepare, roles) -> Action:
    return Action(name, prepare, roles, NOBODY)


ACTIONS = [
    patient_action("check_ins.record_check_in", _record_check, CLINICAL),
    patient_action("check_ins.record_routine_check", _routine_check, CLINICAL),
    patient_action("check_ins.undo_check_in", _undo_check, CLINICAL),
    ward_action("check_ins.last_ward_change", _last_change, CLINICAL),
    patient_action("levels.change_level", _change_level, NURSES),
    patient_action("sleep.record_sleep_report", _sleep, CLINICAL),
    ward_action("groups.start_group_session", _start_group, CLINICAL),
    ward_action("groups.group_session", _group_session, CLINICAL),
    patient_action("groups.record_attendance", _attendance, CLINICAL),
    patient_action("groups.record_attendance_batch", _attendance_batch, CLINICAL),
    patient_action("incidents.record_incident", _incident, CLINICAL),
    patient_action("incidents.start_restraint", _start_restraint, NURSES),
    patient_action("incidents.update_restraint", _update_restraint, NURSES),
    ward_action("incidents.open_restraints", _open_restraints, CLINICAL),
    patient_action("treatment.record_treatment_event", _treatment, NURSES),
    patient_action("corrections.void_record", _void, NURSES),
    patient_action("corrections.amend_record", _amend, NURSES),
    patient_action("timeline.timeline_for", _timeline, CLINICAL, reads=True),
    patient_action("trends.trends_for", _trends, CLINICAL, reads=True),
    patient_action("wards.patient_header", _header, CLINICAL, reads=True),
    patient_action("effect.compare_around", _effect, CLINICAL, reads=True),
    patient_action("exports.export_patient", _export, {CHARGE}, reads=True),
    patient_action("wards.discharge_patient", _discharge, {CHARGE}),
    ward_action("wards.admit_patient", _admit, {CHARGE}),
    ward_action("rounds.rounds_for", _rounds, CLINICAL),
    ward_action("handoff.handoff_for", _handoff, {CHARGE}),
    ward_action("compliance.ward_compliance", _compliance, {CHARGE}),
    patient_action("drafts.save_draft", _save_draft, CLINICAL),
    # Breaking the glass is for patients outside one's wards; one's own need no grant.
    Action(
        "break_glass.open_break_glass",
        _break_glass,
        NOBODY,
        CLINICAL,
        NOBODY,
        conflicts={OWN: CLINICAL, DISCHARGED: CLINICAL},
    ),
    # Accounts are managed by admins on every ward.
    Action("accounts.create_staff", _create_staff, {ADMIN}, {ADMIN}),
    Action("accounts.set_password", _set_password, {ADMIN}, {ADMIN}),
    Action("accounts.issue_pin", _issue_pin, {ADMIN}, {ADMIN}),
    Action("accounts.deactivate", _deactivate, {ADMIN}, {ADMIN}),
    # One's own account and session.
    Action("accounts.set_password (own)", _own_password, EVERYONE),
    Action("accounts.issue_pin (own)", _own_pin, EVERYONE),
    Action("accounts.verify_pin", _verify_pin, EVERYONE),
    Action("accounts.record_lock", _record_lock, EVERYONE),
    Action("wards.my_wards", _my_wards, EVERYONE),
    Action("drafts.open_drafts", _open_drafts, EVERYONE),
    Action("drafts.close_draft", _close_draft, EVERYONE),
    Action("break_glass.my_break_glass", _my_break_glass, EVERYONE),
    Action("break_glass.has_break_glass", _has_break_glass, EVERYONE),
    # Hospital-wide.
    Action("wards.create_ward", _create_ward, {ADMIN}),
    Action("audit_report.audit_report", _audit_report, {ADMIN}),
    Action("break_glass.break_glass_report", _break_glass_report, {ADMIN, CHARGE}),
]


def row_counts(db: Database) -> dict[str, int]:
    tables = [table.name for table in SQLModel.metadata.sorted_tables]
    counts = ", ".join(f"(SELECT count(*) FROM {name})" for name in tables)
    with db.reading() as session:
        return dict(zip(tables, session.execute(text(f"SELECT {counts}")).one(), strict=True))


def outcome_of(world: World, action: Action, role: str, place: str) -> str:
    """What happened in one cell: "allowed", "denied", "conflict", or what went wrong."""
    world.clock.advance(minutes=2)
    call = action.prepare(world, world.actor(role), place)
    before = row_counts(world.db)
    try:
        call()
    except NotAllowed:
        written = {t: n for t, n in row_counts(world.db).items() if n != before[t]}
        return f"denied, yet wrote {written}" if written else "denied"
    except Conflict:
        written = {t: n for t, n in row_counts(world.db).items() if n != before[t]}
        return f"conflict, yet wrote {written}" if written else "conflict"
    except Exception as error:  # any other failure is a wrong cell
        return f"{type(error).__name__}: {error}"
    return "allowed"


@pytest.mark.parametrize("action", ACTIONS, ids=[action.name for action in ACTIONS])
def test_every_role_in_every_place(db, clock, action):
    world = World.create(db, clock)
    wrong = []
    for place, roles in action.places().items():
        for role in ROLES:
            if role in roles:
                expected = "allowed"
            elif role in action.conflicts.get(place, set()):
                expected = "conflict"
            else:
                expected = "denied"
            got = outcome_of(world, action, role, place)
            if got != expected:
                wrong.append(f"{role} on {place}: expected {expected}, got {got}")
    assert not wrong, "\n".join(wrong)


# The generic save of a record form: each service that uses it (record_check_in, ...) has its
# own row, with the form, and so the permission, it passes.
GENERIC = {"requests.create_record", "requests.save_record"}


def test_the_table_covers_every_action():
    """Every public service function that takes an actor has a row in the table."""
    found = set()
    for module in pkgutil.iter_modules(app.services.__path__):
        loaded = importlib.import_module(f"app.services.{module.name}")
        for name, function in inspect.getmembers(loaded, inspect.isfunction):
            parameters = inspect.signature(function).parameters
            ours = function.__module__ == loaded.__name__ and not name.startswith("_")
            if ours and "actor" in parameters and "db" in parameters:
                found.add(f"{module.name}.{name}")
    listed = {action.name.split(" ")[0] for action in ACTIONS}
    assert found - listed == GENERIC
    assert listed - found == set()
