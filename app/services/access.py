"""Who may do what, where: roles scoped to wards, deny by default."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import bindparam, exists
from sqlmodel import Session, select

from app.services.errors import NotAllowed
from models import BreakGlassGrant, Patient, Staff, StaffWard, Ward
from models.codes import Role


class Permission(StrEnum):
    view_rounds = "view_rounds"
    record_check = "record_check"
    record_sleep = "record_sleep"
    record_group = "record_group"
    record_incident = "record_incident"
    view_timeline = "view_timeline"
    correct_record = "correct_record"
    change_level = "change_level"
    record_treatment = "record_treatment"
    record_restraint = "record_restraint"
    view_handoff = "view_handoff"
    admit_patient = "admit_patient"
    export = "export"
    manage_accounts = "manage_accounts"
    manage_wards = "manage_wards"
    view_audit = "view_audit"
    break_glass = "break_glass"
    review_break_glass = "review_break_glass"


_TECHNICIAN = {
    Permission.view_rounds,
    Permission.record_check,
    Permission.record_sleep,
    Permission.record_group,
    Permission.record_incident,
    Permission.view_timeline,
    Permission.break_glass,
}
_NURSE = _TECHNICIAN | {
    Permission.correct_record,
    Permission.change_level,
    Permission.record_treatment,
    Permission.record_restraint,
}
_CHARGE_NURSE = _NURSE | {
    Permission.view_handoff,
    Permission.admit_patient,
    Permission.export,
    Permission.review_break_glass,
}

# Admins run accounts and wards and review access; they see no clinical data.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.technician: frozenset(_TECHNICIAN),
    Role.nurse: frozenset(_NURSE),
    Role.charge_nurse: frozenset(_CHARGE_NURSE),
    Role.admin: frozenset(
        {
            Permission.manage_accounts,
            Permission.manage_wards,
            Permission.view_audit,
            Permission.review_break_glass,
        }
    ),
}

# Permissions that concern one ward's patients, and so need that ward. Breaking the glass is
# by definition outside one's wards; its review is scoped by the report itself.
WARD_SCOPED = frozenset(_CHARGE_NURSE) - {Permission.break_glass, Permission.review_break_glass}
# What a break-glass grant allows on its one patient: reading, never writing.
BREAK_GLASS_READS = frozenset({Permission.view_timeline})


@dataclass(frozen=True)
class Actor:
    """The signed-in staff member a call is made for. Rechecked against the database each call."""

    staff_id: int
    username: str = ""


def allowed(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


NOT_ON_YOUR_WARDS = "This patient or ward is not on your wards."


def authorize(
    session: Session, actor: Actor, permission: Permission, *, ward_id: int | None = None
) -> Staff:
    """The actor's account if they may do this on this ward now; NotAllowed otherwise."""
    staff = _check_role(session, actor, permission)
    if permission in WARD_SCOPED and (
        ward_id is None or session.get(StaffWard, (staff.id, ward_id)) is None
    ):
        raise NotAllowed(NOT_ON_YOUR_WARDS)
    return staff


def authorize_patient(
    session: Session,
    actor: Actor,
    permission: Permission,
    patient_id: int,
    *,
    allow_discharged: bool = False,
    now: datetime | None = None,
) -> tuple[Staff, Patient]:
    """Authorize an action on one patient; discharged patients are read-only.

    Given `now`, a read (BREAK_GLASS_READS) of a patient outside the actor's wards is allowed
    while the actor holds an unexpired break-glass grant for that patient. The account, the
    patient, their ward and the ward assignment come in one query: every screen of a patient
    starts here.
    """
    found = session.execute(
        _STAFF_AND_PATIENT, {"staff_id": actor.staff_id, "patient_id": patient_id}
    ).one_or_none()
    staff, patient, ward, on_ward = found if found is not None else (None, None, None, False)
    if ward is not None:
        # The session holds loaded objects weakly: without a reference the ward is gone again
        # before the caller's `session.get(Ward, ...)`, which would then read it a second time.
        session.info.setdefault("kept", []).append(ward)
    _check_staff(staff, permission)
    if patient is None:
        # Same refusal as another ward's patient, so patient ids cannot be probed.
        raise NotAllowed(NOT_ON_YOUR_WARDS)
    if (
        permission in WARD_SCOPED
        and not on_ward
        and not (
            now is not None
            and permission in BREAK_GLASS_READS
            and active_grant(session, staff.id, patient.id, now) is not None
        )
    ):
        raise NotAllowed(NOT_ON_YOUR_WARDS)
    if patient.discharged_at is not None and not allow_discharged:
        raise NotAllowed("This patient has been discharged; their record is read-only.")
    return staff, patient


# The patient's ward comes too: nearly every caller wants it next (its time zone, its name),
# and `session.get` then finds it loaded.
_STAFF_AND_PATIENT = (
    select(
        Staff,
        Patient,
        Ward,
        exists()
        .where(StaffWard.staff_id == Staff.id, StaffWard.ward_id == Patient.ward_id)
        .label("on_ward"),
    )
    .select_from(Staff)
    .outerjoin(Patient, Patient.id == bindparam("patient_id"))
    .outerjoin(Ward, Ward.id == Patient.ward_id)
    .where(Staff.id == bindparam("staff_id"))
)


def active_grant(
    session: Session, staff_id: int, patient_id: int, now: datetime
) -> BreakGlassGrant | None:
    """The staff member's break-glass grant for this patient in force at `now`, if any."""
    return session.exec(
        select(BreakGlassGrant)
        .where(
            BreakGlassGrant.staff_id == staff_id,
            BreakGlassGrant.patient_id == patient_id,
            BreakGlassGrant.opened_at <= now,
            BreakGlassGrant.expires_at > now,
        )
        .order_by(BreakGlassGrant.expires_at.desc())
        .limit(1)
    ).first()


def _check_role(session: Session, actor: Actor, permission: Permission) -> Staff:
    staff = session.get(Staff, actor.staff_id)
    _check_staff(staff, permission)
    return staff


def _check_staff(staff: Staff | None, permission: Permission) -> None:
    if staff is None or not staff.active:
        raise NotAllowed("Your account is not active. Ask the charge nurse.")
    if not allowed(Role(staff.role), permission):
        raise NotAllowed("Your role does not allow this.")


def ward_ids_of(session: Session, staff_id: int) -> list[int]:
    return list(
        session.exec(
            select(StaffWard.ward_id)
            .where(StaffWard.staff_id == staff_id)
            .order_by(StaffWard.ward_id)
        )
    )
