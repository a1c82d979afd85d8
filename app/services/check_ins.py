"""Recording round checks: full check-ins, one-tap routine checks, and whether a check is late."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace

from pydantic import BaseModel
from sqlalchemy import bindparam, exists, insert, true
from sqlmodel import Session, select

from app.services.access import Actor, Permission, allowed, authorize, authorize_patient
from app.services.audit import ADD_EVENT, CHAIN_HEAD, MOVE_HEAD, chained_event, write_audit
from app.services.errors import Conflict, InvalidInput, NotAllowed
from app.services.levels import LevelRead, level_at
from app.services.records import current
from app.services.requests import (
    RecordForm,
    create_record,
    refuse_before_admission,
    request_hash,
    validated,
)
from app.services.ward_time import is_night
from app.storage.database import Database
from app.storage.driver import DriverStatements, DriverWrite, writing_on_driver
from models import (
    AuditChainHead,
    AuditEvent,
    CheckIn,
    CheckInCreate,
    Correction,
    LevelChange,
    Patient,
    RoutineCheckCreate,
    Staff,
    StaffWard,
    Ward,
)
from models.codes import (
    Affect,
    AuditAction,
    Behaviour,
    CorrectionAction,
    LateReason,
    Location,
    ObservationLevel,
    RecordKind,
    Role,
    Status,
)

# CLINICAL.md: a check is on time within 1.5 times the patient's interval.
ON_TIME_FACTOR = 1.5
# Two checks of one patient this close together are almost always the same check entered twice.
DUPLICATE_WINDOW = timedelta(seconds=60)


class CheckInRead(BaseModel):
    id: int
    patient_id: int
    staff_id: int
    staff_name: str
    observed_at: datetime
    recorded_at: datetime
    location: Location | None
    status: Status | None
    behaviours: list[Behaviour]
    affect: Affect | None
    mood: int | None
    anxiety: int | None
    note: str
    missed: bool
    late: bool
    late_reason: LateReason | None
    # True when this call found the check already saved under the same form key.
    replayed: bool = False


def read_check_in(
    row: CheckIn | SimpleNamespace, staff_name: str, *, replayed: bool = False
) -> CheckInRead:
    return CheckInRead(
        id=row.id,
        patient_id=row.patient_id,
        staff_id=row.recorded_by,
        staff_name=staff_name,
        observed_at=row.observed_at,
        recorded_at=row.recorded_at,
        location=row.location,
        status=row.status,
        behaviours=row.behaviours,
        affect=row.affect,
        mood=row.mood,
        anxiety=row.anxiety,
        note=row.note,
        missed=row.missed,
        late=row.late,
        late_reason=row.late_reason,
        replayed=replayed,
    )


def last_check(
    session: Session,
    patient_id: int,
    *,
    before: datetime | None = None,
    excluding: int | None = None,
) -> CheckIn | None:
    """The patient's latest current check (optionally, the latest before a moment, or other
    than the check being amended)."""
    query = select(CheckIn).where(CheckIn.patient_id == patient_id, current(CheckIn))
    if before is not None:
        query = query.where(CheckIn.observed_at < before)
    if excluding is not None:
        query = query.where(CheckIn.id != excluding)
    return session.exec(
        query.order_by(CheckIn.observed_at.desc(), CheckIn.id.desc()).limit(1)
    ).first()


@dataclass(frozen=True)
class Due:
    """When a patient's next check is due, and from when it counts as late."""

    due_at: datetime | None
    late_at: datetime | None
    interval: timedelta | None
    level: LevelRead | None


def due_after(
    session: Session, patient_id: int, last_seen: datetime | None, moment: datetime
) -> Due:
    """The due rule at `moment`, reading the patient's level order in effect then."""
    return due_for(level_at(session, patient_id, moment), last_seen)


def due_for(level: LevelRead | None, last_seen: datetime | None) -> Due:
    """The due rule at a patient's level order (see `due_times`)."""
    interval = level.level.check_interval if level else None
    if interval is None:
        return Due(None, None, None, level)
    due_at, late_at = due_times(interval, level.effective_at, last_seen)
    return Due(due_at, late_at, interval, level)


def due_times(
    interval: timedelta, ordered_at: datetime, last_seen: datetime | None
) -> tuple[datetime, datetime]:
    """The due rule: due one interval after the last check (or the level order, if later);
    on time within 1.5 intervals. When it is due, and from when it is late."""
    since = max(filter(None, [last_seen, ordered_at]))
    return since + interval, since + interval * ON_TIME_FACTOR


def is_duplicate(observed_at: datetime, neighbour_at: datetime | None) -> bool:
    """Whether a check of the same patient at `neighbour_at` makes one at `observed_at` the
    same check entered twice."""
    return neighbour_at is not None and abs(observed_at - neighbour_at) < DUPLICATE_WINDOW


def _build_check_in(
    session: Session,
    *,
    staff: Staff,
    patient: Patient,
    data: CheckInCreate,
    now: datetime,
    replacing: int | None = None,
) -> CheckIn:
    refuse_before_admission(session, patient, observed_at=data.observed_at)
    # One patient's checks are written one at a time (PostgreSQL; SQLite's BEGIN IMMEDIATE
    # already serialises writers), so two devices cannot both pass the duplicate guard.
    session.exec(select(Patient.id).where(Patient.id == patient.id).with_for_update()).one()
    # An amendment (`replacing`) is not a duplicate of the check it replaces.
    nearby = select(CheckIn).where(
        CheckIn.patient_id == patient.id,
        current(CheckIn),
        CheckIn.observed_at > data.observed_at - DUPLICATE_WINDOW,
        CheckIn.observed_at < data.observed_at + DUPLICATE_WINDOW,
    )
    if replacing is not None:
        nearby = nearby.where(CheckIn.id != replacing)
    duplicate = session.exec(nearby.limit(1)).first()
    if duplicate is not None:
        seen_by = session.get(Staff, duplicate.recorded_by)
        local = duplicate.observed_at.astimezone(session.get(Ward, patient.ward_id).zone)
        raise Conflict(
            f"{patient.display_name} was already checked at {local:%H:%M} by "
            f"{seen_by.display_name if seen_by else 'another user'}."
        )
    previous = last_check(
        session,
        patient.id,
        before=data.observed_at,
        excluding=replacing,
    )
    due = due_after(
        session, patient.id, previous.observed_at if previous else None, data.observed_at
    )
    late = due.late_at is not None and data.observed_at > due.late_at
    if late and data.late_reason is None:
        minutes = int((data.observed_at - due.due_at).total_seconds() // 60)
        raise InvalidInput(
            [f"This check is {minutes} min past due: choose a reason for the delay."]
        )
    row = CheckIn(
        patient_id=patient.id,
        ward_id=patient.ward_id,
        recorded_by=staff.id,
        recorded_at=now,
        observed_at=data.observed_at,
        location=data.location,
        status=data.status,
        behaviours=[code.value for code in data.behaviours],
        affect=data.affect,
        mood=data.mood,
        anxiety=data.anxiety,
        note=data.note,
        missed=data.missed,
        late=late,
        late_reason=data.late_reason,
        client_key=data.client_key,
        request_hash=request_hash(data),
    )
    session.add(row)
    session.flush()
    return row


CHECK_IN = RecordForm(
    model=CheckInCreate,
    table=CheckIn,
    kind=RecordKind.check_in,
    permission=Permission.record_check,
    build=_build_check_in,
    read=lambda session, row, replayed: read_check_in(
        row, session.get(Staff, row.recorded_by).display_name, replayed=replayed
    ),
)


def record_check_in(db: Database, actor: Actor, data: CheckInCreate | dict) -> CheckInRead:
    """Save one check. Idempotent on the form key: a replay returns the first result.

    A check is the ward's most frequent write: every bed, every 15 minutes, all day. Its usual
    case (an allowed writer, a new form, no check within a minute, on time or with its reason)
    is saved by `_save_usual_check` in four statements run on the driver itself
    (app/storage/driver.py). Anything else goes to the general path every record takes, which
    refuses or replays in its own words.
    """
    now = db.clock()
    checked = validated(CheckInCreate, data, now=now)
    try:
        with writing_on_driver(db.writer, _USUAL_SAVE) as driver:
            saved = _save_usual_check(driver, db, actor, checked, now)
    except db.writer.dialect.loaded_dbapi.IntegrityError as error:
        # Another copy of this form won the race for its key (PostgreSQL): the general path
        # finds and returns that copy.
        if "client_key" not in str(error):
            raise
        saved = None
    return saved if saved is not None else create_record(db, actor, CHECK_IN, checked)


def _latest(column, *conditions):
    """A scalar subquery: `column` of the newest current row of its table meeting conditions."""
    table = column.class_
    order = table.observed_at if table is CheckIn else table.effective_at
    return (
        select(column)
        .where(*conditions, current(table))
        .order_by(order.desc(), table.id.desc())
        .limit(1)
        .scalar_subquery()
    )


# One read for everything the rules need, for the patient and the writer at once.
_USUAL_CHECK = (
    select(
        Patient.ward_id,
        Patient.admitted_at,
        Patient.discharged_at,
        Staff.active,
        Staff.role,
        Staff.display_name,
        exists()
        .where(StaffWard.staff_id == Staff.id, StaffWard.ward_id == Patient.ward_id)
        .label("on_ward"),
        exists().where(CheckIn.client_key == bindparam("client_key")).label("sent_before"),
        # The check just before this one, or one up to a minute after it (a duplicate).
        _latest(
            CheckIn.observed_at,
            CheckIn.patient_id == Patient.id,
            CheckIn.observed_at < bindparam("until"),
        ).label("neighbour_at"),
        _latest(
            LevelChange.level,
            LevelChange.patient_id == Patient.id,
            LevelChange.effective_at <= bindparam("observed_at"),
        ).label("level"),
        _latest(
            LevelChange.effective_at,
            LevelChange.patient_id == Patient.id,
            LevelChange.effective_at <= bindparam("observed_at"),
        ).label("ordered_at"),
        # The audit chain's head, read (and locked) here rather than in a statement of its own.
        *CHAIN_HEAD,
    )
    .select_from(Patient)
    .join(Staff, Staff.id == bindparam("staff_id"))
    .join(AuditChainHead, true())
    .where(Patient.id == bindparam("patient_id"))
    .with_for_update(of=AuditChainHead)
)
_CHECK_TABLE = CheckIn.__table__
_CHECK_COLUMNS = [column.key for column in _CHECK_TABLE.columns if column.key != "id"]
_USUAL_SAVE = DriverStatements(
    lock_patient=select(Patient.id).where(Patient.id == bindparam("patient_id")).with_for_update(),
    facts=_USUAL_CHECK,
    add_check=(insert(_CHECK_TABLE).returning(_CHECK_TABLE.c.id), _CHECK_COLUMNS),
    add_event=ADD_EVENT,
    move_head=MOVE_HEAD,
)


def _save_usual_check(
    driver: DriverWrite, db: Database, actor: Actor, data: CheckInCreate, now: datetime
) -> CheckInRead | None:
    """Save the check if it is the usual case; None, having written nothing, if it is not."""
    facts_wanted = {
        "patient_id": data.patient_id,
        "staff_id": actor.staff_id,
        "client_key": data.client_key,
        "observed_at": data.observed_at,
        "until": data.observed_at + DUPLICATE_WINDOW,
    }
    if db.dialect != "sqlite":
        # As in `_build_check_in`: one patient's checks are written one at a time. The facts
        # are read after the lock is held (the server runs the two in order, each statement on
        # a fresh snapshot), so they include a check of this patient just committed by another.
        driver.run("lock_patient", facts_wanted)
    found = driver.one("facts", driver.run("facts", facts_wanted))
    facts = SimpleNamespace(**found) if found is not None else None
    if (
        facts is None
        or not facts.active
        or not allowed(Role(facts.role), Permission.record_check)
        or not facts.on_ward
        or facts.discharged_at is not None
        or facts.sent_before
        or data.observed_at < facts.admitted_at
        or is_duplicate(data.observed_at, facts.neighbour_at)
    ):
        return None
    interval = ObservationLevel(facts.level).check_interval if facts.level else None
    late = False
    if interval is not None:
        _, late_at = due_times(interval, facts.ordered_at, facts.neighbour_at)
        late = data.observed_at > late_at
    if late and data.late_reason is None:
        return None
    row = {
        "patient_id": data.patient_id,
        "ward_id": facts.ward_id,
        "recorded_by": actor.staff_id,
        "recorded_at": now,
        "observed_at": data.observed_at,
        "location": data.location,
        "status": data.status,
        "behaviours": [code.value for code in data.behaviours],
        "affect": data.affect,
        "mood": data.mood,
        "anxiety": data.anxiety,
        "note": data.note,
        "missed": data.missed,
        "late": late,
        "late_reason": data.late_reason,
        "client_key": data.client_key,
        "request_hash": request_hash(data),
    }
    check_id = driver.one("add_check", driver.run("add_check", row))["id"]
    event, move = chained_event(
        (facts.id, facts.last_event_id, facts.last_hash),
        key=db.keys.audit,
        at=now,
        action=AuditAction.create,
        staff_id=actor.staff_id,
        ward_id=facts.ward_id,
        patient_id=data.patient_id,
        record_kind=RecordKind.check_in,
        record_id=check_id,
    )
    driver.run("add_event", event)
    driver.run("move_head", move)
    return read_check_in(SimpleNamespace(id=check_id, **row), facts.display_name)


def routine_check_for(session: Session, patient: Patient, ward: Ward, moment: datetime) -> dict:
    """The patient's most likely routine check: asleep in their room at night, otherwise
    where and how they were last seen (day room, resting, calm when never seen)."""
    if is_night(ward, moment):
        return {
            "location": Location.own_room,
            "status": Status.asleep,
            "behaviours": [],
            "affect": None,
        }
    previous = last_check(session, patient.id, before=moment)
    if previous is None or previous.missed or previous.status == Status.asleep:
        return {
            "location": Location.day_room,
            "status": Status.resting,
            "behaviours": [Behaviour.calm],
            "affect": None,
        }
    return {
        "location": previous.location,
        "status": previous.status,
        "behaviours": previous.behaviours,
        "affect": previous.affect,
    }


def record_routine_check(
    db: Database, actor: Actor, data: RoutineCheckCreate | dict
) -> CheckInRead:
    """The one-tap check: the patient's most likely routine check, saved in one call."""
    now = db.clock()
    data = validated(RoutineCheckCreate, data, now=now)
    with db.reading() as session:
        _, patient = authorize_patient(session, actor, Permission.record_check, data.patient_id)
        template = routine_check_for(
            session, patient, session.get(Ward, patient.ward_id), data.observed_at
        )
    return record_check_in(
        db,
        actor,
        {
            "patient_id": data.patient_id,
            "observed_at": data.observed_at,
            "late_reason": data.late_reason,
            "client_key": data.client_key,
            **template,
        },
    )


# Undo right after entry: long enough to notice a wrong tap, short enough to stay a slip.
UNDO_WINDOW = timedelta(minutes=2)
UNDO_REASON = "Undone right after entry"


def undo_check_in(db: Database, actor: Actor, check_in_id: int) -> int:
    """Void the actor's own check within two minutes of recording it; the correction's id.

    Technicians may not correct records in general; taking back a check they have just
    entered is a slip, not a correction of the chart. Undoing twice returns the first void.
    """
    now = db.clock()
    with db.writing() as session:
        row = session.get(CheckIn, check_in_id)
        if row is None or row.recorded_by != actor.staff_id:
            raise NotAllowed("Only the person who entered a check can undo it.")
        staff, patient = authorize_patient(session, actor, Permission.record_check, row.patient_id)
        earlier = session.exec(
            select(Correction).where(
                Correction.record_kind == RecordKind.check_in.value,
                Correction.record_id == row.id,
            )
        ).first()
        if earlier is not None:
            if earlier.action == CorrectionAction.void and earlier.reason == UNDO_REASON:
                return earlier.id
            raise Conflict("This check was already corrected; it cannot be undone.")
        if now - row.recorded_at > UNDO_WINDOW:
            raise NotAllowed("Too late to undo. Ask a nurse to void the check.")
        correction = Correction(
            record_kind=RecordKind.check_in.value,
            record_id=row.id,
            action=CorrectionAction.void.value,
            reason=UNDO_REASON,
            corrected_by=staff.id,
            corrected_at=now,
        )
        session.add(correction)
        session.flush()
        write_audit(
            session,
            key=db.keys.audit,
            at=now,
            action=AuditAction.void,
            staff_id=staff.id,
            ward_id=patient.ward_id,
            patient_id=patient.id,
            record_kind=RecordKind.check_in,
            record_id=row.id,
            detail=UNDO_REASON,
        )
        return correction.id


# Audit actions that change what a ward's rounds screen shows.
_WARD_CHANGES = (
    AuditAction.create,
    AuditAction.amend,
    AuditAction.void,
    AuditAction.level_change,
)


def last_ward_change(db: Database, actor: Actor, ward_id: int, *, after: int = 0) -> int:
    """The newest record change on a ward (an audit row id, or `after` if none is newer).

    Open rounds screens poll this tiny query to notice checks saved by other devices and
    processes; the audit table already orders every write, so no new table is needed.
    """
    with db.reading() as session:
        authorize(session, actor, Permission.view_rounds, ward_id=ward_id)
        newest = session.exec(
            select(AuditEvent.id)
            .where(
                AuditEvent.id > after,
                AuditEvent.ward_id == ward_id,
                AuditEvent.action.in_([action.value for action in _WARD_CHANGES]),
            )
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).first()
        return newest if newest is not None else after
