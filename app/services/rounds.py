"""The rounds list: each patient with their level, last check, and when the next is due."""

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from app.services.access import Actor, Permission, authorize
from app.services.check_ins import CheckInRead, Due, due_for, read_check_in
from app.services.levels import LevelRead, read_level
from app.services.records import current
from app.services.ward_time import is_night
from app.storage.database import Database
from models import CheckIn, LevelChange, Patient, RestraintEpisode, Staff, Ward
from models.codes import Precaution

# CLINICAL.md: overdue alerts escalate to staff, charge nurse and manager at 0/5/10/15 minutes.
ESCALATION_MINUTES = (0, 5, 10, 15)


class DueState(StrEnum):
    upcoming = "upcoming"  # not yet due
    due = "due"  # due now, still on time (within 1.5 intervals)
    overdue = "overdue"  # past 1.5 intervals
    not_observed = "not_observed"  # observations stopped


class Deadline(BaseModel):
    """A restraint/seclusion deadline the rounds screen counts down."""

    episode_id: int
    what: str
    due_at: datetime
    passed: bool


class RoundsRow(BaseModel):
    patient_id: int
    mrn: str
    display_name: str
    room: str
    bed: str
    precautions: list[Precaution]
    level: LevelRead | None
    last_check: CheckInRead | None
    due_at: datetime | None
    late_at: datetime | None
    state: DueState
    minutes_overdue: int
    escalation: int  # 0 none, 1 staff, 2 charge nurse, 3 manager, 4 past the last step
    deadlines: list[Deadline]


class Rounds(BaseModel):
    ward_id: int
    at: datetime
    night: bool
    rows: list[RoundsRow]

    @property
    def overdue_count(self) -> int:
        return sum(row.state == DueState.overdue for row in self.rows)


def _state(due: Due, now: datetime) -> tuple[DueState, int, int]:
    if due.due_at is None:
        return DueState.not_observed, 0, 0
    if now < due.due_at:
        return DueState.upcoming, 0, 0
    if now <= due.late_at:
        return DueState.due, 0, 0
    minutes = int((now - due.late_at).total_seconds() // 60)
    escalation = sum(minutes >= step for step in ESCALATION_MINUTES)
    return DueState.overdue, minutes, escalation


def latest_per_patient(latest, patient_ids: list[int]):
    """What `latest` (a scalar subquery correlated to Patient) finds for each patient, as a
    table of `found_id` to join: PostgreSQL then runs it once per patient, where as
    `id IN (...)` it ran it twice."""
    return select(latest.label("found_id")).where(Patient.id.in_(patient_ids)).subquery()


def _last_checks(session: Session, patient_ids: list[int]) -> dict[int, tuple[CheckIn, str]]:
    """Each patient's latest current check with its writer's name: one index seek per
    patient, one round trip."""
    latest = (
        sa_select(CheckIn.id)
        .where(CheckIn.patient_id == Patient.id, current(CheckIn))
        .order_by(CheckIn.observed_at.desc(), CheckIn.id.desc())
        .limit(1)
        .correlate(Patient)
        .scalar_subquery()
    )
    found = latest_per_patient(latest, patient_ids)
    rows = session.exec(
        select(CheckIn, Staff.display_name)
        .join(found, CheckIn.id == found.c.found_id)
        .outerjoin(Staff, Staff.id == CheckIn.recorded_by)
    ).all()
    return {row.patient_id: (row, name or "") for row, name in rows}


def levels_at(session: Session, patient_ids: list[int], moment: datetime) -> dict[int, LevelRead]:
    """Each patient's level order in effect at `moment` (as `levels.level_at` finds it), for
    many patients in one round trip; patients without one are left out."""
    latest = (
        sa_select(LevelChange.id)
        .where(
            LevelChange.patient_id == Patient.id,
            LevelChange.effective_at <= moment,
            current(LevelChange),
        )
        .order_by(LevelChange.effective_at.desc(), LevelChange.id.desc())
        .limit(1)
        .correlate(Patient)
        .scalar_subquery()
    )
    found = latest_per_patient(latest, patient_ids)
    rows = session.exec(select(LevelChange).join(found, LevelChange.id == found.c.found_id)).all()
    return {row.patient_id: read_level(row) for row in rows}


def _deadlines(session: Session, ward_id: int, now: datetime) -> dict[int, list[Deadline]]:
    episodes = session.exec(
        select(RestraintEpisode).where(
            RestraintEpisode.ward_id == ward_id,
            RestraintEpisode.ended_at.is_(None),
            current(RestraintEpisode),
        )
    ).all()
    deadlines: dict[int, list[Deadline]] = {}
    for episode in episodes:
        items = [("Order expires", episode.order_expires_at)]
        if episode.face_to_face_at is None:
            items.append(("Face-to-face evaluation", episode.face_to_face_due_at))
        if episode.guardian_notified_at is None:
            items.append(("Guardian notice", episode.guardian_notice_due_at))
        deadlines.setdefault(episode.patient_id, []).extend(
            Deadline(episode_id=episode.id, what=what, due_at=at, passed=at <= now)
            for what, at in sorted(items, key=lambda item: item[1])
        )
    return deadlines


def rounds_for(db: Database, actor: Actor, ward_id: int) -> Rounds:
    """The ward's admitted patients, most urgent first: overdue, then by next due time."""
    now = db.clock()
    with db.reading() as session:
        authorize(session, actor, Permission.view_rounds, ward_id=ward_id)
        ward = session.get(Ward, ward_id)
        patients = session.exec(
            select(Patient)
            .where(Patient.ward_id == ward_id, Patient.discharged_at.is_(None))
            .order_by(Patient.room, Patient.bed)
        ).all()
        ids = [patient.id for patient in patients]
        checks = _last_checks(session, ids)
        levels = levels_at(session, ids, now)
        deadlines = _deadlines(session, ward_id, now)
        rows = []
        for patient in patients:
            last, staff_name = checks.get(patient.id, (None, ""))
            due = due_for(levels.get(patient.id), last.observed_at if last else None)
            state, minutes, escalation = _state(due, now)
            rows.append(
                RoundsRow(
                    patient_id=patient.id,
                    mrn=patient.mrn,
                    display_name=patient.display_name,
                    room=patient.room,
                    bed=patient.bed,
                    precautions=patient.precautions,
                    level=due.level,
                    last_check=read_check_in(last, staff_name) if last else None,
                    due_at=due.due_at,
                    late_at=due.late_at,
                    state=state,
                    minutes_overdue=minutes,
                    escalation=escalation,
                    deadlines=deadlines.get(patient.id, []),
                )
            )
    far = now + timedelta(days=3650)
    rows.sort(key=lambda row: (row.state != DueState.overdue, row.due_at or far, row.room))
    return Rounds(ward_id=ward_id, at=now, night=is_night(ward, now), rows=rows)
