"""Staff accounts: create, passwords (Argon2id), PINs (keyed HMAC), sign-in, deactivate."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from app.services.access import Actor, Permission, authorize, ward_ids_of
from app.services.audit import write_audit
from app.services.errors import Conflict, InvalidInput, NotFound, SignInFailed
from app.services.requests import validated
from app.storage.database import Database
from models import Staff, StaffCreate, StaffRead, StaffWard, Ward
from models.codes import AuditAction, Role
from models.staff import check_password, check_username

# One message for an unknown user and a wrong password, so usernames cannot be probed.
SIGN_IN_REFUSED = "Username or password is not right."
LOCKED = "Too many failed sign-ins. Try again in {minutes} min or ask the charge nurse."
FAILURES_BEFORE_LOCK = 5
LOCK_DURATION = timedelta(minutes=15)
PIN_DIGITS = 6

_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters
# Verified when the username is unknown, so both refusals take the same time.
_DUMMY_HASH = _hasher.hash("not a real password")
# Verified in place of a password that cannot be hashed; shorter than any allowed password.
_UNUSABLE = "\x00"


@dataclass(frozen=True)
class Console:
    """The server console (`rounds create-user`): trusted to manage accounts, nothing clinical."""


CONSOLE = Console()


def staff_read(session: Session, staff: Staff) -> StaffRead:
    return StaffRead(
        id=staff.id,
        username=staff.username,
        display_name=staff.display_name,
        role=Role(staff.role),
        active=staff.active,
        ward_ids=ward_ids_of(session, staff.id),
    )


def _manager(session: Session, actor: Actor | Console) -> int | None:
    """The staff id managing accounts (None for the console), if allowed."""
    if isinstance(actor, Console):
        return None
    return authorize(session, actor, Permission.manage_accounts).id


def _self_or_manager(session: Session, actor: Actor | Console, staff_id: int) -> int | None:
    """The staff id changing this account: its owner, or someone allowed to manage accounts."""
    if not isinstance(actor, Console) and actor.staff_id == staff_id:
        return staff_id
    return _manager(session, actor)


def create_staff(db: Database, actor: Actor | Console, data: StaffCreate | dict) -> StaffRead:
    """Create an account with a password; it works on the wards given."""
    now = db.clock()
    data = validated(StaffCreate, data, now=now)
    password_hash = _hasher.hash(data.password)
    with db.writing() as session:
        manager_id = _manager(session, actor)
        if session.exec(select(Staff).where(Staff.username == data.username)).first():
            raise Conflict(f"The username {data.username!r} is taken.")
        for ward_id in data.ward_ids:
            if session.get(Ward, ward_id) is None:
                raise NotFound(f"There is no ward {ward_id}.")
        staff = Staff(
            username=data.username,
            display_name=data.display_name,
            role=data.role,
            password_hash=password_hash,
            created_at=now,
        )
        session.add(staff)
        session.flush()
        for ward_id in sorted(set(data.ward_ids)):
            session.add(StaffWard(staff_id=staff.id, ward_id=ward_id))
        session.flush()
        _audit_account_change(
            session, db, now, manager_id, f"created {staff.username} ({staff.role})"
        )
        return staff_read(session, staff)


def set_password(db: Database, actor: Actor | Console, staff_id: int, password: str) -> None:
    """Give an account a new password (8-128 characters, any characters)."""
    try:
        password = check_password(password)
    except ValueError as error:
        raise InvalidInput([f"Password {error}."]) from None
    password_hash = _hasher.hash(password)
    now = db.clock()
    with db.writing() as session:
        manager_id = _self_or_manager(session, actor, staff_id)
        staff = _staff(session, staff_id)
        staff.password_hash = password_hash
        staff.failed_sign_ins = 0
        staff.locked_until = None
        session.add(staff)
        _audit_account_change(session, db, now, manager_id, f"password set for {staff.username}")


def pin_verifier(key: bytes, staff_id: int, pin: str) -> str:
    """A 6-digit PIN has too few values for a slow hash alone: key it with a secret instead."""
    return hmac.new(key, f"{staff_id}:{pin}".encode(), hashlib.sha256).hexdigest()


def issue_pin(
    db: Database, actor: Actor | Console, staff_id: int, *, pin: str | None = None
) -> str:
    """Issue a random 6-digit PIN (shown once) for re-entering a locked session.

    `pin` is for the demo ward only, whose documented PIN is fixed.
    """
    pin = pin or f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"
    if len(pin) != PIN_DIGITS or not pin.isdigit():
        raise InvalidInput(["A PIN is 6 digits."])
    now = db.clock()
    with db.writing() as session:
        manager_id = _self_or_manager(session, actor, staff_id)
        staff = _staff(session, staff_id)
        staff.pin_verifier = pin_verifier(db.keys.pin, staff.id, pin)
        staff.pin_issued_at = now
        session.add(staff)
        _audit_account_change(session, db, now, manager_id, f"PIN issued for {staff.username}")
    return pin


def sign_in(db: Database, username: str, password: str) -> StaffRead:
    """Check a username and password; SignInFailed with one message for any mismatch.

    Failures are committed (they count toward the lock) before the refusal is raised.
    """
    now = db.clock()
    try:
        username = check_username(username)
    except ValueError:
        username = ""
    refusal = None
    with db.writing() as session:
        staff = None
        if username:
            staff = session.exec(select(Staff).where(Staff.username == username)).first()
        if staff is not None and staff.locked_until is not None and staff.locked_until > now:
            minutes = int((staff.locked_until - now).total_seconds() // 60) + 1
            refusal = LOCKED.format(minutes=minutes)
            _audit_sign_in(session, db, now, AuditAction.sign_in_failed, staff, username, "locked")
        # Always verify a hash, so an unknown username takes as long as a wrong password.
        elif not _password_matches(staff, password) or not staff.active:
            refusal = SIGN_IN_REFUSED
            detail = "unknown username"
            if staff is not None:
                staff.failed_sign_ins += 1
                detail = "wrong password" if staff.active else "inactive account"
                if staff.failed_sign_ins >= FAILURES_BEFORE_LOCK:
                    # Limited, so a patient cannot lock staff out for good.
                    staff.locked_until = now + LOCK_DURATION
                    staff.failed_sign_ins = 0
                    detail += "; locked for 15 min"
                session.add(staff)
            _audit_sign_in(session, db, now, AuditAction.sign_in_failed, staff, username, detail)
        else:
            staff.failed_sign_ins = 0
            staff.locked_until = None
            if _hasher.check_needs_rehash(staff.password_hash):
                staff.password_hash = _hasher.hash(password)
            session.add(staff)
            _audit_sign_in(session, db, now, AuditAction.sign_in, staff, username, "")
            signed_in = staff_read(session, staff)
    if refusal is not None:
        raise SignInFailed(refusal)
    return signed_in


def verify_pin(db: Database, actor: Actor, pin: str) -> bool:
    """Whether the PIN is this user's (audited either way). Counting tries is the session's job."""
    now = db.clock()
    # Issued PINs are 6 ASCII digits: anything else (a lone surrogate cannot even be keyed) is
    # simply a wrong PIN, refused and audited like one.
    well_formed = isinstance(pin, str) and len(pin) == PIN_DIGITS and pin.isascii()
    with db.writing() as session:
        staff = session.get(Staff, actor.staff_id)
        matches = (
            well_formed
            and staff is not None
            and staff.active
            and staff.pin_verifier is not None
            and hmac.compare_digest(staff.pin_verifier, pin_verifier(db.keys.pin, staff.id, pin))
        )
        action = AuditAction.unlock if matches else AuditAction.unlock_failed
        _audit_sign_in(session, db, now, action, staff, actor.username, "")
        return matches


def record_lock(db: Database, actor: Actor, *, reason: str) -> None:
    """Audit that a session locked (idle) or ended."""
    now = db.clock()
    with db.writing() as session:
        staff = session.get(Staff, actor.staff_id)
        _audit_sign_in(session, db, now, AuditAction.lock, staff, actor.username, reason)


def deactivate(db: Database, actor: Actor | Console, staff_id: int) -> StaffRead:
    """Deactivate an account. Accounts are never deleted: their records keep their author."""
    now = db.clock()
    with db.writing() as session:
        manager_id = _manager(session, actor)
        staff = _staff(session, staff_id)
        staff.active = False
        session.add(staff)
        _audit_account_change(session, db, now, manager_id, f"deactivated {staff.username}")
        return staff_read(session, staff)


def _staff(session: Session, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound("No such account.")
    return staff


def _audit_account_change(
    session: Session, db: Database, now: datetime, manager_id: int | None, detail: str
) -> None:
    """The audit row of an account change, by a staff member or (None) the server console."""
    write_audit(
        session,
        key=db.keys.audit,
        at=now,
        action=AuditAction.account_change,
        staff_id=manager_id,
        username="" if manager_id else "console",
        detail=detail,
    )


def _password_matches(staff: Staff | None, password: str) -> bool:
    # A password no account can hold (a lone surrogate cannot be encoded to hash) still costs
    # one verification, so its refusal takes as long as any other wrong password.
    usable = isinstance(password, str) and _encodable(password)
    try:
        matched = _hasher.verify(
            staff.password_hash if staff else _DUMMY_HASH, password if usable else _UNUSABLE
        )
    except (VerificationError, InvalidHashError):
        return False
    return matched and usable and staff is not None


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _audit_sign_in(
    session: Session,
    db: Database,
    now: datetime,
    action: AuditAction,
    staff: Staff | None,
    username: str,
    detail: str,
) -> None:
    write_audit(
        session,
        key=db.keys.audit,
        at=now,
        action=action,
        staff_id=staff.id if staff else None,
        username=username,
        detail=detail,
    )
