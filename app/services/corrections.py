"""Voiding and amending clinical records: the original row is never changed or deleted."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.services.access import (
    NOT_ON_YOUR_WARDS,
    Actor,
    Permission,
    authorize,
    authorize_patient,
)
from app.services.audit import write_audit
from app.services.check_ins import _build_check_in
from app.services.errors import Conflict, InvalidInput, NotAllowed
from app.services.groups import _build_group_attendance
from app.services.incidents import _build_incident, _build_restraint
from app.services.levels import _build_level_change
from app.services.records import TABLES
from app.services.requests import find_replay, request_hash, save_once, validated
from app.services.sleep import _build_sleep_report
from app.services.treatment import _build_treatment_event
from app.storage.database import Database
from models import (
    CheckInCreate,
    Correction,
    CorrectionReason,
    GroupAttendanceCreate,
    IncidentCreate,
    LevelChange,
    LevelChangeCreate,
    Patient,
    RestraintEpisodeCreate,
    SleepReportCreate,
    Staff,
    TreatmentEventCreate,
)
from models.codes import AuditAction, CorrectionAction, RecordKind

ALREADY_CORRECTED = {
    CorrectionAction.void: "This record was already voided; correct the newest version.",
    CorrectionAction.amend: "This record was already amended; correct the newest version.",
}


def _build_level_change_replacing(
    session: Session, *, replacing: int | None = None, **kwargs: Any
) -> LevelChange:
    # Level orders have no rule that the order being replaced could trip.
    return _build_level_change(session, **kwargs)


# Each kind's input model and builder: a replacement passes the same rules as a new record.
REPLACEMENTS: dict[RecordKind, tuple[type[BaseModel], Callable[..., Any]]] = {
    RecordKind.check_in: (CheckInCreate, _build_check_in),
    RecordKind.sleep_report: (SleepReportCreate, _build_sleep_report),
    RecordKind.group_attendance: (GroupAttendanceCreate, _build_group_attendance),
    RecordKind.incident: (IncidentCreate, _build_incident),
    RecordKind.restraint: (RestraintEpisodeCreate, _build_restraint),
    RecordKind.treatment: (TreatmentEventCreate, _build_treatment_event),
    RecordKind.level_change: (LevelChangeCreate, _build_level_change_replacing),
}


class CorrectionRead(BaseModel):
    id: int
    record_kind: RecordKind
    record_id: int
    action: CorrectionAction
    reason: str
    # The amended version of the record (same kind), None for a void.
    replacement_id: int | None
    corrected_by: int
    corrected_by_name: str
    corrected_at: datetime
    # True when this call found the same correction already saved.
    replayed: bool = False


def read_correction(session: Session, row: Correction, *, replayed: bool = False) -> CorrectionRead:
    staff = session.get(Staff, row.corrected_by)
    return CorrectionRead(
        id=row.id,
        record_kind=row.record_kind,
        record_id=row.record_id,
        action=row.action,
        reason=row.reason,
        replacement_id=row.replacement_id,
        corrected_by=row.corrected_by,
        corrected_by_name=staff.display_name if staff else "",
        corrected_at=row.corrected_at,
        replayed=replayed,
    )


def _record_kind(kind: RecordKind | str) -> RecordKind:
    try:
        return RecordKind(kind)
    except ValueError:
        raise InvalidInput(["Record kind is not one of the choices offered."]) from None


def _reason(reason: str, now: datetime) -> str:
    return validated(CorrectionReason, {"reason": reason}, now=now).reason


def _authorize_record(
    session: Session, actor: Actor, kind: RecordKind, record_id: int
) -> tuple[Staff, Patient, Any]:
    row = session.get(TABLES[kind], record_id)
    if row is None:
        # Refused like another ward's record, so record ids cannot be probed.
        authorize(session, actor, Permission.correct_record)
        raise NotAllowed(NOT_ON_YOUR_WARDS)
    staff, patient = authorize_patient(session, actor, Permission.correct_record, row.patient_id)
    return staff, patient, row


def _correction_of(session: Session, kind: RecordKind, record_id: int) -> Correction | None:
    return session.exec(
        select(Correction).where(
            Correction.record_kind == kind.value, Correction.record_id == record_id
        )
    ).first()


def _audit(db: Database, session: Session, staff: Staff, patient: Patient, row: Correction) -> None:
    detail = row.reason
    if row.replacement_id is not None:
        detail = f"replaced by {row.replacement_id}: {row.reason}"
    write_audit(
        session,
        key=db.keys.audit,
        at=row.corrected_at,
        action=AuditAction(row.action),
        staff_id=staff.id,
        ward_id=patient.ward_id,
        patient_id=patient.id,
        record_kind=RecordKind(row.record_kind),
        record_id=row.record_id,
        detail=detail,
    )


def _save_correction(db: Database, save: Callable[[Session], CorrectionRead]) -> CorrectionRead:
    """Save once; when a concurrent correction of the same record won the race (PostgreSQL),
    run again so the loser sees it: the same void is returned, anything else is a Conflict."""
    try:
        return save_once(db, save)
    except IntegrityError as error:
        message = str(error.orig)
        if "uq_correction_record_kind_record_id" not in message and (
            "correction.record_kind" not in message
        ):
            raise
    with db.writing() as session:
        return save(session)


def void_record(
    db: Database, actor: Actor, kind: RecordKind | str, record_id: int, reason: str
) -> CorrectionRead:
    """Void a record with a reason; it stays stored and readable but stops counting.

    Voiding again with the same reason returns the first correction.
    """
    now = db.clock()
    kind = _record_kind(kind)
    reason = _reason(reason, now)

    def save(session: Session) -> CorrectionRead:
        staff, patient, _ = _authorize_record(session, actor, kind, record_id)
        earlier = _correction_of(session, kind, record_id)
        if earlier is not None:
            if earlier.action == CorrectionAction.void and earlier.reason == reason:
                return read_correction(session, earlier, replayed=True)
            raise Conflict(ALREADY_CORRECTED[CorrectionAction(earlier.action)])
        row = Correction(
            record_kind=kind.value,
            record_id=record_id,
            action=CorrectionAction.void.value,
            reason=reason,
            corrected_by=staff.id,
            corrected_at=now,
        )
        session.add(row)
        session.flush()
        _audit(db, session, staff, patient, row)
        return read_correction(session, row)

    return _save_correction(db, save)


def amend_record(
    db: Database,
    actor: Actor,
    kind: RecordKind | str,
    record_id: int,
    replacement: BaseModel | dict[str, Any],
    reason: str,
) -> CorrectionRead:
    """Replace a record with a corrected version of the same kind, for the same patient.

    The replacement passes the same rules as a new record; the original stays stored.
    Sending the same amendment again (same replacement form key) returns the first correction.
    """
    now = db.clock()
    kind = _record_kind(kind)
    model, build = REPLACEMENTS[kind]
    problems = []
    try:
        reason = _reason(reason, now)
    except InvalidInput as refused:
        problems += refused.problems
    try:
        data = validated(model, replacement, now=now)
    except InvalidInput as refused:
        problems += refused.problems
    if problems:
        raise InvalidInput(problems)

    def save(session: Session) -> CorrectionRead:
        staff, patient, original = _authorize_record(session, actor, kind, record_id)
        table = TABLES[kind]
        replay = find_replay(session, table, data)
        if replay is not None:
            earlier = session.exec(
                select(Correction).where(
                    Correction.record_kind == kind.value, Correction.replacement_id == replay.id
                )
            ).first()
            if earlier is None or earlier.record_id != record_id or earlier.reason != reason:
                raise Conflict(
                    "This form was already saved with different details. "
                    "Open a new form to add another."
                )
            return read_correction(session, earlier, replayed=True)
        earlier = _correction_of(session, kind, record_id)
        if earlier is not None:
            raise Conflict(ALREADY_CORRECTED[CorrectionAction(earlier.action)])
        if data.patient_id != original.patient_id:
            raise InvalidInput(
                [
                    "An amendment is for the same patient. To move a record to another "
                    "patient, void it and record it for the right one."
                ]
            )
        if kind == RecordKind.group_attendance and data.session_id != original.session_id:
            raise InvalidInput(
                ["An amendment is for the same group. Void this attendance and mark the other."]
            )
        if request_hash(data) == original.request_hash:
            raise InvalidInput(
                ["The amendment changes nothing. Change a detail, or void the record instead."]
            )
        new = build(session, staff=staff, patient=patient, data=data, now=now, replacing=record_id)
        row = Correction(
            record_kind=kind.value,
            record_id=record_id,
            action=CorrectionAction.amend.value,
            reason=reason,
            replacement_id=new.id,
            corrected_by=staff.id,
            corrected_at=now,
        )
        session.add(row)
        session.flush()
        _audit(db, session, staff, patient, row)
        return read_correction(session, row)

    return _save_correction(db, save)


def correction_history(
    session: Session, kind: RecordKind | str, record_id: int
) -> list[CorrectionRead]:
    """Every correction in the chain through one record, oldest first.

    Steps before the record say what it was amended from; steps after it say what replaced it
    or why it was voided. Reads only; the caller has authorized the patient.
    """
    kind = RecordKind(kind)
    earlier: list[Correction] = []
    step_id = record_id
    while True:
        step = session.exec(
            select(Correction).where(
                Correction.record_kind == kind.value, Correction.replacement_id == step_id
            )
        ).first()
        if step is None:
            break
        earlier.append(step)
        step_id = step.record_id
    later: list[Correction] = []
    step_id = record_id
    while step_id is not None:
        step = _correction_of(session, kind, step_id)
        if step is None:
            break
        later.append(step)
        step_id = step.replacement_id
    return [read_correction(session, step) for step in [*reversed(earlier), *later]]
