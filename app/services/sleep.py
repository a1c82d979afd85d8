"""Recording the patient's own morning report of last night's sleep."""

from datetime import date, datetime

from pydantic import BaseModel
from sqlmodel import Session, select

from app.services.access import Actor, Permission
from app.services.errors import Conflict, InvalidInput
from app.services.records import current
from app.services.requests import (
    RecordForm,
    create_record,
    refuse_before_admission,
    request_hash,
)
from app.services.ward_time import night_bounds
from app.storage.database import Database
from models import Patient, SleepReport, SleepReportCreate, Staff, Ward
from models.codes import RecordKind, SleepQuality


class SleepReportRead(BaseModel):
    id: int
    patient_id: int
    night_of: date
    reported_at: datetime
    hours_slept: float
    quality: SleepQuality
    awakenings: int
    nightmares: bool
    note: str
    recorded_by: int
    recorded_at: datetime
    # True when this call found the report already saved under the same form key.
    replayed: bool = False


def read_sleep_report(row: SleepReport, *, replayed: bool = False) -> SleepReportRead:
    read = SleepReportRead.model_validate(row, from_attributes=True)
    return read.model_copy(update={"replayed": replayed})


def _build_sleep_report(
    session: Session,
    *,
    staff: Staff,
    patient: Patient,
    data: SleepReportCreate,
    now: datetime,
    replacing: int | None = None,
) -> SleepReport:
    # The night itself may precede admission: the patient reports how they slept at home.
    refuse_before_admission(session, patient, reported_at=data.reported_at)
    ward = session.get(Ward, patient.ward_id)
    night_start, _ = night_bounds(ward, data.night_of)
    if data.reported_at < night_start:
        raise InvalidInput(
            [f"The night of {data.night_of:%d %b} had not begun at the time reported."]
        )
    # One report per night: a second one would count the night twice in the sleep trend.
    # Locking the patient row makes a simultaneous second report wait, then see the first.
    session.get(Patient, patient.id, with_for_update=True)
    query = select(SleepReport).where(
        SleepReport.patient_id == patient.id,
        SleepReport.night_of == data.night_of,
        current(SleepReport),
    )
    if replacing is not None:
        query = query.where(SleepReport.id != replacing)
    if session.exec(query.limit(1)).first() is not None:
        raise Conflict(
            f"{patient.display_name}'s sleep for the night of {data.night_of:%d %b} is already "
            "recorded. Amend that report to change it."
        )
    row = SleepReport(
        patient_id=patient.id,
        night_of=data.night_of,
        reported_at=data.reported_at,
        hours_slept=data.hours_slept,
        quality=data.quality,
        awakenings=data.awakenings,
        nightmares=data.nightmares,
        note=data.note,
        recorded_by=staff.id,
        recorded_at=now,
        client_key=data.client_key,
        request_hash=request_hash(data),
    )
    session.add(row)
    session.flush()
    return row


SLEEP_REPORT = RecordForm(
    model=SleepReportCreate,
    table=SleepReport,
    kind=RecordKind.sleep_report,
    permission=Permission.record_sleep,
    build=_build_sleep_report,
    read=lambda session, row, replayed: read_sleep_report(row, replayed=replayed),
)


def record_sleep_report(
    db: Database, actor: Actor, data: SleepReportCreate | dict
) -> SleepReportRead:
    """Save a morning sleep report, one per patient per night; a replay returns the first."""
    return create_record(db, actor, SLEEP_REPORT, data)
