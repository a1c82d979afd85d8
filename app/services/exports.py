"""Exports of one patient over a date range: a PDF for paper, a CSV of the timeline, a FHIR R4
Bundle. Each export is one read snapshot and one audit row (action `export`)."""

from datetime import date, datetime, timedelta
from typing import Literal

from sqlmodel import Session, select

from app.exports.csv_table import timeline_csv
from app.exports.fhir_bundle import bundle_json
from app.exports.pdf_report import patient_pdf
from app.exports.record import AttendanceRow, NightEstimate, PatientRecord
from app.services.access import Actor, Permission, authorize_patient
from app.services.audit import write_audit_alone
from app.services.check_ins import read_check_in
from app.services.effect import DEFAULT_DAYS, compare_event, find_event, read_days
from app.services.errors import InvalidInput, NotFound
from app.services.groups import read_attendance
from app.services.incidents import read_incident, read_restraint
from app.services.levels import read_level
from app.services.records import current
from app.services.sleep import read_sleep_report
from app.services.timeline import _entries, _page_positions, group_name
from app.services.treatment import read_treatment
from app.services.ward_time import day_bounds, night_bounds
from app.services.wards import read_patient
from app.storage.database import Database
from models import (
    CheckIn,
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
from models.codes import AuditAction, RecordKind

Format = Literal["pdf", "csv", "fhir"]
FORMATS: dict[str, str] = {
    "pdf": "application/pdf",
    "csv": "text/csv",
    "fhir": "application/fhir+json",
}
MAX_DAYS = 400
# Timeline entries are read in pages of this many, oldest last, as the timeline screen does.
_PAGE = 1000


def _check(fmt: str, start: date, end: date) -> None:
    problems = []
    if fmt not in FORMATS:
        problems.append("Choose PDF, CSV or FHIR.")
    if end < start:
        problems.append("The end date must be on or after the start date.")
    elif (end - start).days + 1 > MAX_DAYS:
        problems.append(f"Choose at most {MAX_DAYS} days.")
    if problems:
        raise InvalidInput(problems)


def _timeline(session: Session, ward: Ward, patient_id: int, low: datetime, high: datetime) -> list:
    """Every timeline entry in the window, corrected ones marked, oldest first."""
    kinds = sorted(RecordKind, key=lambda kind: kind.value)
    entries = []
    after = None
    while True:
        positions = _page_positions(session, patient_id, kinds, low, high, after, _PAGE)
        entries += _entries(session, ward, positions)
        if len(positions) < _PAGE:
            break
        last = entries[-1]
        after = (last.at, last.kind, last.id)
    entries.reverse()
    return entries


def _rows(session: Session, query) -> list:
    return list(session.exec(query).all())


def gather(
    session: Session,
    staff: Staff,
    patient: Patient,
    *,
    start: date,
    end: date,
    now: datetime,
) -> PatientRecord:
    """Everything an export writes, read in the caller's snapshot (not audited here)."""
    ward = session.get(Ward, patient.ward_id)
    low, high = day_bounds(ward, start)[0], day_bounds(ward, end)[1]
    days, markers = read_days(session, ward, patient.id, start, end)
    nights = []
    # The first morning of the range belongs to the night before it.
    nights_of = [start - timedelta(days=1)] + [day.day for day in days]
    windows = {night: night_bounds(ward, night) for night in nights_of}
    for day in days:
        if day.sleep_estimated_hours is not None:
            night_start, night_end = windows[day.day]
            nights.append(
                NightEstimate(
                    night_of=day.day,
                    start=night_start,
                    end=night_end,
                    hours=day.sleep_estimated_hours,
                    checks=day.night_checks,
                    asleep=day.night_asleep,
                )
            )
    try:
        event = find_event(session, patient.id, None, min(now, high))
        comparison = compare_event(session, ward, patient, event, days=DEFAULT_DAYS, now=now)
    except NotFound:
        comparison = None

    checks = _rows(
        session,
        select(CheckIn)
        .where(
            CheckIn.patient_id == patient.id,
            CheckIn.observed_at >= low,
            CheckIn.observed_at < high,
            current(CheckIn),
        )
        .order_by(CheckIn.observed_at, CheckIn.id),
    )
    writers = {row.recorded_by for row in checks}
    names = dict(
        session.exec(select(Staff.id, Staff.display_name).where(Staff.id.in_(writers))).all()
    )
    attendances = _rows(
        session,
        select(GroupAttendance, GroupSession)
        .join(GroupSession, GroupSession.id == GroupAttendance.session_id)
        .where(
            GroupAttendance.patient_id == patient.id,
            GroupSession.started_at >= low,
            GroupSession.started_at < high,
            current(GroupAttendance),
        )
        .order_by(GroupSession.started_at, GroupAttendance.id),
    )

    def within(table, column):
        return (
            select(table)
            .where(table.patient_id == patient.id, column >= low, column < high, current(table))
            .order_by(column, table.id)
        )

    return PatientRecord(
        patient=read_patient(session, patient, min(now, high)),
        ward_name=ward.name,
        time_zone=ward.time_zone,
        start=start,
        end=end,
        window_start=low,
        window_end=high,
        generated_at=now,
        generated_by=staff.display_name,
        days=days,
        markers=markers,
        nights=nights,
        night_windows=windows,
        comparison=comparison,
        entries=_timeline(session, ward, patient.id, low, high),
        check_ins=[read_check_in(row, names.get(row.recorded_by, "")) for row in checks],
        sleep_reports=[
            read_sleep_report(row)
            for row in _rows(
                session,
                select(SleepReport)
                .where(
                    SleepReport.patient_id == patient.id,
                    SleepReport.night_of >= start,
                    SleepReport.night_of <= end,
                    current(SleepReport),
                )
                .order_by(SleepReport.night_of, SleepReport.id),
            )
        ],
        attendances=[
            AttendanceRow(
                attendance=read_attendance(row),
                group_type=group.group_type,
                group=group_name(group.group_type, group.title),
                started_at=group.started_at,
            )
            for row, group in attendances
        ],
        incidents=[
            read_incident(row) for row in _rows(session, within(Incident, Incident.occurred_at))
        ],
        restraints=[
            read_restraint(row, patient.display_name)
            for row in _rows(session, within(RestraintEpisode, RestraintEpisode.started_at))
        ],
        treatments=[
            read_treatment(row)
            for row in _rows(session, within(TreatmentEvent, TreatmentEvent.effective_at))
        ],
        levels=[
            read_level(row) for row in _rows(session, within(LevelChange, LevelChange.effective_at))
        ],
    )


WRITERS = {"pdf": patient_pdf, "csv": timeline_csv, "fhir": bundle_json}


def export_patient(
    db: Database,
    actor: Actor,
    patient_id: int,
    *,
    fmt: Format,
    start: date,
    end: date,
    via: str = "",
) -> bytes:
    """The patient's record over ward-local dates `start`..`end` as PDF, CSV or FHIR JSON.

    Needs the export permission on the patient's ward. Nothing is returned unless the audit
    row (action `export`, naming the format and range, and `via` such as "console") was written.
    """
    _check(fmt, start, end)
    now = db.clock()
    with db.reading() as session:
        staff, patient = authorize_patient(
            session, actor, Permission.export, patient_id, allow_discharged=True
        )
        record = gather(session, staff, patient, start=start, end=end, now=now)
    content = WRITERS[fmt](record)
    detail = f"{fmt} {start.isoformat()}..{end.isoformat()}"
    write_audit_alone(
        db,
        at=now,
        action=AuditAction.export,
        staff_id=staff.id,
        ward_id=patient.ward_id,
        patient_id=patient.id,
        detail=f"{detail} via {via}" if via else detail,
    )
    return content
