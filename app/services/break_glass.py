"""Break-glass access: open one patient outside one's wards, to read, for a limited time.

HIPAA's emergency access procedure: a clinician may read a patient who is not on their wards
(a transfer at night, a patient from another unit in the emergency room) after typing why.
The grant reads only (timeline and trends), lasts GRANT_LENGTH, is audited when opened, and
every grant is listed in a report for the charge nurse and the administrator.
"""

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, select

from app.services.access import (
    Actor,
    Permission,
    active_grant,
    allowed,
    authorize,
    ward_ids_of,
)
from app.services.audit import write_audit, write_audit_alone
from app.services.audit_report import check_period
from app.services.errors import Conflict, NotFound
from app.services.requests import find_replay, request_hash, save_once, validated
from app.storage.database import Database
from models import AuditEvent, BreakGlassCreate, BreakGlassGrant, Patient, Staff, StaffWard, Ward
from models.codes import AuditAction, Role

# How long a grant lasts. Stored on each grant when opened, so changing it changes only new ones.
GRANT_LENGTH = timedelta(minutes=60)


class BreakGlassRead(BaseModel):
    id: int
    staff_id: int
    patient_id: int
    ward_id: int
    reason: str
    opened_at: datetime
    expires_at: datetime
    # True when this call found the grant already opened under the same form key.
    replayed: bool = False


class BreakGlassReportRow(BaseModel):
    """One grant, who opened it, for whom and why, and how often the patient was viewed."""

    id: int
    opened_at: datetime
    expires_at: datetime
    staff_id: int
    username: str
    staff_name: str
    role: Role
    patient_id: int
    mrn: str
    ward_code: str
    reason: str
    # Timeline and trend views of the patient by this user while the grant was in force.
    views: int


def read_grant(row: BreakGlassGrant, *, replayed: bool = False) -> BreakGlassRead:
    read = BreakGlassRead.model_validate(row, from_attributes=True)
    return read.model_copy(update={"replayed": replayed})


def open_break_glass(db: Database, actor: Actor, data: BreakGlassCreate | dict) -> BreakGlassRead:
    """Open a patient outside the actor's wards for reading, for GRANT_LENGTH, with a reason.

    The patient is found by MRN only after the actor is authorised: NotFound for an MRN no
    patient has, Conflict for a patient on the actor's own wards.
    """
    now = db.clock()
    data = validated(BreakGlassCreate, data, now=now)

    def save(session: Session) -> BreakGlassRead:
        staff = authorize(session, actor, Permission.break_glass)
        patient = session.exec(select(Patient).where(Patient.mrn == data.mrn)).first()
        if patient is None:
            raise NotFound(f"No patient has MRN {data.mrn!r}.")
        if session.get(StaffWard, (staff.id, patient.ward_id)) is not None:
            raise Conflict(f"{patient.display_name} is on your wards: open their record directly.")
        replay = find_replay(session, BreakGlassGrant, data)
        if replay is not None:
            return read_grant(replay, replayed=True)
        grant = BreakGlassGrant(
            staff_id=staff.id,
            patient_id=patient.id,
            ward_id=patient.ward_id,
            reason=data.reason,
            opened_at=now,
            expires_at=now + GRANT_LENGTH,
            client_key=data.client_key,
            request_hash=request_hash(data),
        )
        session.add(grant)
        session.flush()
        write_audit(
            session,
            key=db.keys.audit,
            at=now,
            action=AuditAction.break_glass,
            staff_id=staff.id,
            ward_id=patient.ward_id,
            patient_id=patient.id,
            detail=f"grant {grant.id} for {int(GRANT_LENGTH.total_seconds() // 60)} min: "
            f"{data.reason}",
        )
        return read_grant(grant)

    return save_once(db, save)


def my_break_glass(db: Database, actor: Actor) -> list[BreakGlassRead]:
    """The actor's grants in force now, newest first (for the screen listing them)."""
    now = db.clock()
    with db.reading() as session:
        rows = session.exec(
            select(BreakGlassGrant)
            .where(
                BreakGlassGrant.staff_id == actor.staff_id,
                BreakGlassGrant.opened_at <= now,
                BreakGlassGrant.expires_at > now,
            )
            .order_by(BreakGlassGrant.opened_at.desc(), BreakGlassGrant.id.desc())
        ).all()
        return [read_grant(row) for row in rows]


def has_break_glass(db: Database, actor: Actor, patient_id: int) -> bool:
    """Whether the actor holds a grant for this patient in force now."""
    with db.reading() as session:
        return active_grant(session, actor.staff_id, patient_id, db.clock()) is not None


def break_glass_report(
    db: Database, actor: Actor, start: datetime, end: datetime
) -> list[BreakGlassReportRow]:
    """Grants opened from `start` (inclusive) to `end` (exclusive), oldest first.

    Admins review every ward; a charge nurse, the grants on patients of the wards they work on.
    The review itself is audited.
    """
    check_period(start, end)
    now = db.clock()
    with db.reading() as session:
        staff = authorize(session, actor, Permission.review_break_glass)
        query = (
            select(BreakGlassGrant, Staff, Patient, Ward)
            .join(Staff, Staff.id == BreakGlassGrant.staff_id)
            .join(Patient, Patient.id == BreakGlassGrant.patient_id)
            .join(Ward, Ward.id == BreakGlassGrant.ward_id)
            .where(BreakGlassGrant.opened_at >= start, BreakGlassGrant.opened_at < end)
            .order_by(BreakGlassGrant.opened_at, BreakGlassGrant.id)
        )
        if not allowed(Role(staff.role), Permission.manage_wards):
            query = query.where(BreakGlassGrant.ward_id.in_(ward_ids_of(session, staff.id)))
        rows = [
            BreakGlassReportRow(
                id=grant.id,
                opened_at=grant.opened_at,
                expires_at=grant.expires_at,
                staff_id=opener.id,
                username=opener.username,
                staff_name=opener.display_name,
                role=Role(opener.role),
                patient_id=patient.id,
                mrn=patient.mrn,
                ward_code=ward.code,
                reason=grant.reason,
                views=_views(session, grant),
            )
            for grant, opener, patient, ward in session.exec(query).all()
        ]
    write_audit_alone(
        db,
        at=now,
        action=AuditAction.view,
        staff_id=staff.id,
        detail=f"break-glass report {start.isoformat()}..{end.isoformat()}: {len(rows)} rows",
    )
    return rows


def _views(session: Session, grant: BreakGlassGrant) -> int:
    return session.exec(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.action == AuditAction.view.value,
            AuditEvent.staff_id == grant.staff_id,
            AuditEvent.patient_id == grant.patient_id,
            AuditEvent.at >= grant.opened_at,
            AuditEvent.at < grant.expires_at,
        )
    ).one()
