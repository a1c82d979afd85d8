"""The audit report: who did what, to which patient, when; by period, user and patient, newest
first, a page at a time."""

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, or_, select

from app.services.access import Actor, Permission, authorize
from app.services.accounts import Console
from app.services.audit import write_audit_alone
from app.services.errors import InvalidInput, NotFound
from app.storage.database import Database
from models import AuditEvent, Patient, Staff, Ward
from models.codes import AuditAction, RecordKind

# A screenful; the screen asks for the next page when the reviewer scrolls to it.
PAGE_SIZE = 100
# More rows than anyone reads on a screen or a terminal in one go: the largest page.
REPORT_LIMIT = 50_000


class AuditRow(BaseModel):
    """One audit row as a reviewer reads it: names beside the ids."""

    id: int
    at: datetime
    staff_id: int | None
    # The account's username, or the name typed at a failed sign-in ("console" for the server).
    username: str
    staff_name: str
    action: AuditAction
    ward_id: int | None
    ward_code: str
    patient_id: int | None
    mrn: str
    record_kind: RecordKind | None
    record_id: int | None
    detail: str


class AuditPage(BaseModel):
    """A page of the audit report, newest first."""

    rows: list[AuditRow]
    # Rows matching the period and filters, on this page and every other.
    total: int
    # Older matching rows follow: ask again with before_id set to the last row's id.
    more: bool


def check_period(start: datetime, end: datetime) -> None:
    """InvalidInput unless both are aware datetimes and the end is after the start."""
    problems = []
    for name, moment in (("Start", start), ("End", end)):
        if not isinstance(moment, datetime) or moment.utcoffset() is None:
            problems.append(f"{name} must be a date and time with a time zone.")
    if not problems and end <= start:
        problems.append("The end must be after the start.")
    if problems:
        raise InvalidInput(problems)


def audit_report(
    db: Database,
    actor: Actor | Console,
    *,
    start: datetime,
    end: datetime,
    staff_id: int | None = None,
    patient_id: int | None = None,
    mrn: str | None = None,
    username: str | None = None,
    limit: int = PAGE_SIZE,
    before_id: int | None = None,
) -> AuditPage:
    """One page of the audit rows from `start` (inclusive) to `end` (exclusive), newest first,
    optionally for one staff member (by id, or by a `username` that may match no account) and
    one patient (by id, or by `mrn`: NotFound when no patient has it).

    At most `limit` rows, older than row `before_id` when given (the last row of the page
    before), so each page is one indexed read however long the period. For admins (view_audit)
    and the server console. Reading the audit trail is audited too, page by page.
    """
    check_period(start, end)
    if not 1 <= limit <= REPORT_LIMIT:
        raise InvalidInput([f"Ask for 1 to {REPORT_LIMIT} rows at a time."])
    now = db.clock()
    with db.reading() as session:
        reviewer = None
        if not isinstance(actor, Console):
            reviewer = authorize(session, actor, Permission.view_audit).id
        matching = [AuditEvent.at >= start, AuditEvent.at < end]
        if staff_id is not None:
            matching.append(AuditEvent.staff_id == staff_id)
        if username is not None:
            # Failed sign-ins under a name with no account carry only the name typed.
            name = username.strip().lower()
            matching.append(or_(Staff.username == name, AuditEvent.username == name))
        if patient_id is not None:
            matching.append(AuditEvent.patient_id == patient_id)
        if mrn is not None:
            # Looked up only once the reader may read the trail: no one else learns it exists.
            matching.append(AuditEvent.patient_id == _patient_id(session, mrn))
        total = session.exec(
            select(func.count())
            .select_from(AuditEvent)
            .outerjoin(Staff, Staff.id == AuditEvent.staff_id)
            .where(*matching)
        ).one()
        query = (
            select(AuditEvent, Staff.display_name, Staff.username, Ward.code, Patient.mrn)
            .outerjoin(Staff, Staff.id == AuditEvent.staff_id)
            .outerjoin(Ward, Ward.id == AuditEvent.ward_id)
            .outerjoin(Patient, Patient.id == AuditEvent.patient_id)
            .where(*matching)
        )
        if before_id is not None:
            query = query.where(AuditEvent.id < before_id)
        # One row more than asked says whether an older page follows.
        found = session.exec(query.order_by(AuditEvent.id.desc()).limit(limit + 1)).all()
        rows = [
            AuditRow(
                id=event.id,
                at=event.at,
                staff_id=event.staff_id,
                username=account or event.username,
                staff_name=display_name or "",
                action=AuditAction(event.action),
                ward_id=event.ward_id,
                ward_code=ward_code or "",
                patient_id=event.patient_id,
                mrn=patient_mrn or "",
                record_kind=RecordKind(event.record_kind) if event.record_kind else None,
                record_id=event.record_id,
                detail=event.detail,
            )
            for event, display_name, account, ward_code, patient_mrn in found[:limit]
        ]
    filters = [f"{start.isoformat()}..{end.isoformat()}"]
    filters += [
        f"{name}={value}"
        for name, value in _filters(staff_id, patient_id, mrn, username, before_id)
    ]
    write_audit_alone(
        db,
        at=now,
        action=AuditAction.view,
        staff_id=reviewer,
        username="" if reviewer else "console",
        detail=f"audit report {' '.join(filters)}: {len(rows)} of {total} rows",
    )
    return AuditPage(rows=rows, total=total, more=len(found) > limit)


def _filters(
    staff_id: int | None,
    patient_id: int | None,
    mrn: str | None,
    username: str | None,
    before_id: int | None,
) -> list[tuple[str, object]]:
    named = (
        ("staff", staff_id),
        ("patient", patient_id),
        ("mrn", mrn),
        ("user", username),
        ("before", before_id),
    )
    return [(name, value) for name, value in named if value is not None]


def _patient_id(session: Session, mrn: str) -> int:
    found = session.exec(select(Patient.id).where(Patient.mrn == mrn.strip())).first()
    if found is None:
        raise NotFound(f"No patient has MRN {mrn.strip()!r}.")
    return found


def format_report(rows: list[AuditRow], zone) -> str:
    """The rows as a plain-text table, times in `zone` (a tzinfo)."""
    headers = ["Row", "Time", "User", "Action", "Ward", "MRN", "Record", "Detail"]
    table = [
        [
            str(row.id),
            row.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
            _one_line(row.username + (f" ({row.staff_name})" if row.staff_name else "")),
            row.action.value,
            row.ward_code,
            row.mrn,
            f"{row.record_kind.value} {row.record_id}" if row.record_kind else "",
            _one_line(row.detail),
        ]
        for row in rows
    ]
    widths = [
        max(len(line[column]) for line in [headers, *table]) for column in range(len(headers) - 1)
    ]
    lines = []
    for line in [headers, *table]:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        lines.append("  ".join([*cells, line[-1]]).rstrip())
    lines.insert(1, "  ".join("-" * width for width in widths) + "  " + "-" * 6)
    return "\n".join(lines)


def _one_line(text: str, limit: int = 80) -> str:
    # A detail may hold a typed reason: no line breaks or control characters in a terminal.
    flat = "".join(character if character.isprintable() else " " for character in text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
