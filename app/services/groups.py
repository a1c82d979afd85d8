"""Group sessions: starting one, and each patient's attendance and participation."""

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, and_, or_, select

from app.services.access import (
    NOT_ON_YOUR_WARDS,
    Actor,
    Permission,
    authorize,
)
from app.services.audit import write_audit
from app.services.errors import Conflict, InvalidInput, NotAllowed
from app.services.records import current
from app.services.requests import (
    RecordForm,
    find_replay,
    request_hash,
    save_once,
    save_record,
    validated,
)
from app.storage.database import Database
from models import (
    GroupAttendance,
    GroupAttendanceCreate,
    GroupSession,
    GroupSessionCreate,
    Patient,
    Staff,
    Ward,
)
from models.codes import (
    Attendance,
    AuditAction,
    GroupType,
    ParticipationLevel,
    ParticipationQuality,
    RecordKind,
)

# A patient admitted while a group runs (about an hour on a ward) may still join it late; one
# admitted later than this came after the group was over.
JOINING_LIMIT = timedelta(hours=1)


class AttendanceRead(BaseModel):
    id: int
    session_id: int
    patient_id: int
    attendance: Attendance
    participation_level: ParticipationLevel | None
    participation_quality: ParticipationQuality | None
    note: str
    recorded_by: int
    recorded_at: datetime
    # True when this call found the same attendance already saved.
    replayed: bool = False


class RosterRow(BaseModel):
    """One patient on the group form; `attendance` is None until they are marked."""

    patient_id: int
    display_name: str
    room: str
    bed: str
    attendance: AttendanceRead | None


class GroupSessionRead(BaseModel):
    id: int
    ward_id: int
    group_type: GroupType
    title: str
    started_at: datetime
    recorded_by: int
    recorded_at: datetime
    roster: list[RosterRow]
    # True when this call found the session already started under the same form key.
    replayed: bool = False


def read_attendance(row: GroupAttendance, *, replayed: bool = False) -> AttendanceRead:
    read = AttendanceRead.model_validate(row, from_attributes=True)
    return read.model_copy(update={"replayed": replayed})


def _roster(session: Session, group: GroupSession) -> list[RosterRow]:
    """The ward's admitted patients who could have joined, and anyone already marked (who may
    since have left)."""
    marked = {
        row.patient_id: row
        for row in session.exec(
            select(GroupAttendance).where(
                GroupAttendance.session_id == group.id, current(GroupAttendance)
            )
        )
    }
    patients = session.exec(
        select(Patient)
        .where(
            Patient.ward_id == group.ward_id,
            or_(
                and_(
                    Patient.discharged_at.is_(None),
                    Patient.admitted_at <= group.started_at + JOINING_LIMIT,
                ),
                Patient.id.in_(list(marked)),
            ),
        )
        .order_by(Patient.room, Patient.bed, Patient.id)
    ).all()
    return [
        RosterRow(
            patient_id=patient.id,
            display_name=patient.display_name,
            room=patient.room,
            bed=patient.bed,
            attendance=read_attendance(marked[patient.id]) if patient.id in marked else None,
        )
        for patient in patients
    ]


def read_group_session(
    session: Session, group: GroupSession, *, replayed: bool = False
) -> GroupSessionRead:
    return GroupSessionRead(
        id=group.id,
        ward_id=group.ward_id,
        group_type=group.group_type,
        title=group.title,
        started_at=group.started_at,
        recorded_by=group.recorded_by,
        recorded_at=group.recorded_at,
        roster=_roster(session, group),
        replayed=replayed,
    )


def start_group_session(
    db: Database, actor: Actor, data: GroupSessionCreate | dict
) -> GroupSessionRead:
    """Start a group on a ward; returns its roster with nobody marked yet."""
    now = db.clock()
    data = validated(GroupSessionCreate, data, now=now)

    def save(session: Session) -> GroupSessionRead:
        staff = authorize(session, actor, Permission.record_group, ward_id=data.ward_id)
        replay = find_replay(session, GroupSession, data)
        if replay is not None:
            return read_group_session(session, replay, replayed=True)
        group = GroupSession(
            ward_id=data.ward_id,
            group_type=data.group_type,
            title=data.title,
            started_at=data.started_at,
            recorded_by=staff.id,
            recorded_at=now,
            client_key=data.client_key,
            request_hash=request_hash(data),
        )
        session.add(group)
        session.flush()
        write_audit(
            session,
            key=db.keys.audit,
            at=now,
            action=AuditAction.create,
            staff_id=staff.id,
            ward_id=data.ward_id,
            detail=f"started group session {group.id} ({data.group_type.value})",
        )
        return read_group_session(session, group)

    return save_once(db, save)


def _group_for(session: Session, actor: Actor, session_id: int) -> tuple[Staff, GroupSession]:
    group = session.get(GroupSession, session_id)
    if group is None:
        # Refused like another ward's group, so ids cannot be probed.
        authorize(session, actor, Permission.record_group)
        raise NotAllowed(NOT_ON_YOUR_WARDS)
    return authorize(session, actor, Permission.record_group, ward_id=group.ward_id), group


def _marked(
    session: Session, session_id: int, patient_id: int, *, replacing: int | None = None
) -> GroupAttendance | None:
    query = select(GroupAttendance).where(
        GroupAttendance.session_id == session_id,
        GroupAttendance.patient_id == patient_id,
        current(GroupAttendance),
    )
    if replacing is not None:
        query = query.where(GroupAttendance.id != replacing)
    return session.exec(query.limit(1)).first()


def _build_group_attendance(
    session: Session,
    *,
    staff: Staff,
    patient: Patient,
    data: GroupAttendanceCreate,
    now: datetime,
    replacing: int | None = None,
) -> GroupAttendance:
    # Locked so two staff marking the same patient at once cannot both add an attendance.
    group = session.get(GroupSession, data.session_id, with_for_update=True)
    if group is None or group.ward_id != patient.ward_id:
        raise InvalidInput([f"{patient.display_name} is not on this group's ward."])
    if patient.admitted_at > group.started_at + JOINING_LIMIT:
        zone = session.get(Ward, patient.ward_id).zone
        raise InvalidInput(
            [
                f"{patient.display_name} was admitted at "
                f"{patient.admitted_at.astimezone(zone):%d %b %H:%M}, after this group "
                f"(started {group.started_at.astimezone(zone):%d %b %H:%M}) was over."
            ]
        )
    # One attendance per patient per group, so participation rates count each patient once.
    if _marked(session, group.id, patient.id, replacing=replacing) is not None:
        raise Conflict(
            f"{patient.display_name}'s attendance at this group is already recorded. "
            "Amend it to change it."
        )
    row = GroupAttendance(
        session_id=group.id,
        patient_id=patient.id,
        attendance=data.attendance,
        participation_level=data.participation_level,
        participation_quality=data.participation_quality,
        note=data.note,
        recorded_by=staff.id,
        recorded_at=now,
        client_key=data.client_key,
        request_hash=request_hash(data),
    )
    session.add(row)
    session.flush()
    return row


def _same_marking(
    session: Session, data: GroupAttendanceCreate, patient: Patient
) -> GroupAttendance | None:
    """The same marking sent again under a new key (a resubmitted form): not a second one."""
    marked = _marked(session, data.session_id, patient.id)
    return marked if marked is not None and marked.request_hash == request_hash(data) else None


ATTENDANCE = RecordForm(
    model=GroupAttendanceCreate,
    table=GroupAttendance,
    kind=RecordKind.group_attendance,
    permission=Permission.record_group,
    build=_build_group_attendance,
    read=lambda session, row, replayed: read_attendance(row, replayed=replayed),
    detail=lambda data: data.attendance.value,
    same=_same_marking,
)


def _save_attendance(
    session: Session, db: Database, actor: Actor, data: GroupAttendanceCreate, now: datetime
) -> AttendanceRead:
    """Save one attendance inside the caller's transaction, once its group is the actor's."""
    _group_for(session, actor, data.session_id)
    return save_record(session, db, actor, ATTENDANCE, data, now)


def record_attendance(
    db: Database, actor: Actor, data: GroupAttendanceCreate | dict
) -> AttendanceRead:
    """Mark one patient's attendance at a group of their ward; once per patient per group."""
    now = db.clock()
    data = validated(GroupAttendanceCreate, data, now=now)
    return save_once(db, lambda session: _save_attendance(session, db, actor, data, now))


def record_attendance_batch(
    db: Database, actor: Actor, session_id: int, entries: list[dict[str, Any]]
) -> list[AttendanceRead]:
    """Save the whole group form in one transaction: every entry is saved, or none is."""
    now = db.clock()
    if not entries:
        raise InvalidInput(["Mark at least one patient's attendance before saving."])
    checked: list[tuple[int, GroupAttendanceCreate]] = []
    refused: list[tuple[int, Any, list[str]]] = []
    for row_number, entry in enumerate(entries, start=1):
        raw = entry.model_dump() if isinstance(entry, BaseModel) else dict(entry)
        if raw.setdefault("session_id", session_id) != session_id:
            refused.append(
                (row_number, raw.get("patient_id"), ["This entry is for another group."])
            )
            continue
        try:
            checked.append((row_number, validated(GroupAttendanceCreate, raw, now=now)))
        except InvalidInput as error:
            refused.append((row_number, raw.get("patient_id"), error.problems))

    def save(session: Session) -> list[AttendanceRead]:
        _, group = _group_for(session, actor, session_id)
        if refused:
            raise InvalidInput(
                [
                    f"{_row_name(session, group, row_number, patient_id)}: {problem}"
                    for row_number, patient_id, problems in refused
                    for problem in problems
                ]
            )
        seen: set[int] = set()
        for row_number, data in checked:
            if data.patient_id in seen:
                name = _row_name(session, group, row_number, data.patient_id)
                raise InvalidInput([f"{name} is marked twice on this form."])
            seen.add(data.patient_id)
        return [_save_attendance(session, db, actor, data, now) for _, data in checked]

    return save_once(db, save)


def _row_name(session: Session, group: GroupSession, row_number: int, patient_id: Any) -> str:
    """The patient a refused row is about, named only when they are on the group's ward."""
    known = isinstance(patient_id, int) and not isinstance(patient_id, bool)
    patient = session.get(Patient, patient_id) if known else None
    if patient is not None and patient.ward_id == group.ward_id:
        return patient.display_name
    return f"Row {row_number}"


def group_session(db: Database, actor: Actor, session_id: int) -> GroupSessionRead:
    """A group with the ward's admitted patients and how each was marked (None if not yet)."""
    with db.reading() as session:
        _, group = _group_for(session, actor, session_id)
        return read_group_session(session, group)
