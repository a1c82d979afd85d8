"""Wards and patients: create a ward, admit and discharge, read a patient's header."""

from datetime import date, datetime

from pydantic import BaseModel
from sqlmodel import Session, select

from app.services.access import Actor, Permission, authorize, authorize_patient, ward_ids_of
from app.services.accounts import Console
from app.services.audit import write_audit
from app.services.errors import Conflict, NotFound
from app.services.levels import LevelRead, level_at
from app.services.requests import validated
from app.storage.database import Database
from models import LevelChange, Patient, PatientCreate, Ward, WardCreate
from models.codes import AuditAction, ObservationLevel, Precaution, RecordKind


class WardRead(BaseModel):
    id: int
    code: str
    name: str
    time_zone: str
    night_start_hour: int
    night_end_hour: int
    shift_start_hours: list[int]


class PatientRead(BaseModel):
    """A patient's header: who, where, at what level, with which precautions."""

    id: int
    ward_id: int
    mrn: str
    display_name: str
    given_name: str
    family_name: str
    preferred_name: str
    room: str
    bed: str
    birth_date: date
    admitted_at: datetime
    discharged_at: datetime | None
    precautions: list[Precaution]
    substance_use_program: bool
    level: LevelRead | None

    @property
    def room_bed(self) -> str:
        return f"{self.room}{'-' + self.bed if self.bed else ''}"


def read_patient(session: Session, patient: Patient, now: datetime) -> PatientRead:
    return PatientRead(
        id=patient.id,
        ward_id=patient.ward_id,
        mrn=patient.mrn,
        display_name=patient.display_name,
        given_name=patient.given_name,
        family_name=patient.family_name,
        preferred_name=patient.preferred_name,
        room=patient.room,
        bed=patient.bed,
        birth_date=patient.birth_date,
        admitted_at=patient.admitted_at,
        discharged_at=patient.discharged_at,
        precautions=patient.precautions,
        substance_use_program=patient.substance_use_program,
        level=level_at(session, patient.id, now),
    )


def create_ward(db: Database, actor: Actor | Console, data: WardCreate | dict) -> WardRead:
    now = db.clock()
    data = validated(WardCreate, data, now=now)
    with db.writing() as session:
        staff_id = None
        if not isinstance(actor, Console):
            staff_id = authorize(session, actor, Permission.manage_wards).id
        if session.exec(select(Ward).where(Ward.code == data.code)).first():
            raise Conflict(f"A ward with code {data.code!r} exists.")
        ward = Ward(**data.model_dump())
        session.add(ward)
        session.flush()
        write_audit(
            session,
            key=db.keys.audit,
            at=now,
            action=AuditAction.account_change,
            staff_id=staff_id,
            username="" if staff_id else "console",
            ward_id=ward.id,
            detail=f"created ward {ward.code}",
        )
        return WardRead.model_validate(ward, from_attributes=True)


def admit_patient(
    db: Database,
    actor: Actor,
    data: PatientCreate | dict,
    *,
    level: ObservationLevel = ObservationLevel.q15,
    ordered_by: str = "Admitting physician",
) -> PatientRead:
    """Admit a patient to a ward at an initial observation level."""
    now = db.clock()
    data = validated(PatientCreate, data, now=now)
    with db.writing() as session:
        staff = authorize(session, actor, Permission.admit_patient, ward_id=data.ward_id)
        if session.exec(select(Patient).where(Patient.mrn == data.mrn)).first():
            raise Conflict(f"MRN {data.mrn} is already in use.")
        patient = Patient(**data.model_dump())
        session.add(patient)
        session.flush()
        order = LevelChange(
            patient_id=patient.id,
            level=level,
            effective_at=data.admitted_at,
            ordered_by=ordered_by,
            reason="Admission",
            recorded_by=staff.id,
            recorded_at=now,
            client_key=f"admission:{patient.id}",
            request_hash="admission",
        )
        session.add(order)
        session.flush()
        write_audit(
            session,
            key=db.keys.audit,
            at=now,
            action=AuditAction.create,
            staff_id=staff.id,
            ward_id=patient.ward_id,
            patient_id=patient.id,
            record_kind=RecordKind.level_change,
            record_id=order.id,
            detail="admitted",
        )
        return read_patient(session, patient, now)


def discharge_patient(db: Database, actor: Actor, patient_id: int) -> PatientRead:
    """Discharge a patient: their record stays, read-only, and they leave the rounds list."""
    now = db.clock()
    with db.writing() as session:
        staff, patient = authorize_patient(session, actor, Permission.admit_patient, patient_id)
        patient.discharged_at = now
        session.add(patient)
        write_audit(
            session,
            key=db.keys.audit,
            at=now,
            action=AuditAction.account_change,
            staff_id=staff.id,
            ward_id=patient.ward_id,
            patient_id=patient.id,
            detail="discharged",
        )
        return read_patient(session, patient, now)


def patient_header(db: Database, actor: Actor, patient_id: int) -> PatientRead:
    """A patient's header for a screen (the timeline's view audits the read)."""
    with db.reading() as session:
        _, patient = authorize_patient(
            session,
            actor,
            Permission.view_timeline,
            patient_id,
            allow_discharged=True,
            now=db.clock(),
        )
        return read_patient(session, patient, db.clock())


def my_wards(db: Database, actor: Actor) -> list[WardRead]:
    """The wards the actor works on."""
    with db.reading() as session:
        ids = ward_ids_of(session, actor.staff_id)
        wards = session.exec(select(Ward).where(Ward.id.in_(ids)).order_by(Ward.name)).all()
        return [WardRead.model_validate(ward, from_attributes=True) for ward in wards]


def ward(db: Database, ward_id: int) -> WardRead:
    with db.reading() as session:
        row = session.get(Ward, ward_id)
        if row is None:
            raise NotFound("No such ward.")
        return WardRead.model_validate(row, from_attributes=True)
