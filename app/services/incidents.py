"""Recording incidents (with MOAS) and restraint/seclusion episodes with their CMS deadlines."""

from datetime import date, datetime

from pydantic import BaseModel
from sqlmodel import Session, select

from app.services.access import (
    NOT_ON_YOUR_WARDS,
    Actor,
    Permission,
    authorize,
    authorize_patient,
)
from app.services.audit import write_audit
from app.services.errors import Conflict, InvalidInput, NotAllowed
from app.services.records import current
from app.services.requests import (
    RecordForm,
    create_record,
    refuse_before_admission,
    request_hash,
    validated,
)
from app.storage.database import Database
from models import (
    Incident,
    IncidentCreate,
    Patient,
    RestraintEpisode,
    RestraintEpisodeCreate,
    RestraintProgress,
    Staff,
    Ward,
)
from models.codes import (
    AuditAction,
    IncidentType,
    Injury,
    Location,
    Measure,
    RecordKind,
    RestraintKind,
)
from models.incidents import FACE_TO_FACE_WITHIN, GUARDIAN_NOTICE_WITHIN, order_limit

# The names of the deadlines, as the rounds screen shows them.
ORDER_EXPIRES = "Order expires"
FACE_TO_FACE = "Face-to-face evaluation"
GUARDIAN_NOTICE = "Guardian notice"


class IncidentRead(BaseModel):
    id: int
    patient_id: int
    ward_id: int
    occurred_at: datetime
    incident_type: IncidentType
    location: Location
    antecedent: str
    behaviour: str
    means: str
    target: str
    injury: Injury
    measures: list[Measure]
    alternatives_tried: str
    staff_involved: str
    notified: str
    debrief: str
    follow_up: str
    moas_verbal: int
    moas_property: int
    moas_self: int
    moas_physical: int
    moas_total: int
    recorded_by: int
    recorded_at: datetime
    # True when this call found the incident already saved under the same form key.
    replayed: bool = False


def read_incident(row: Incident, *, replayed: bool = False) -> IncidentRead:
    read = IncidentRead.model_validate(row, from_attributes=True)
    return read.model_copy(update={"replayed": replayed})


def _build_incident(
    session: Session,
    *,
    staff: Staff,
    patient: Patient,
    data: IncidentCreate,
    now: datetime,
    replacing: int | None = None,
) -> Incident:
    refuse_before_admission(session, patient, occurred_at=data.occurred_at)
    row = Incident(
        patient_id=patient.id,
        ward_id=patient.ward_id,
        occurred_at=data.occurred_at,
        incident_type=data.incident_type,
        location=data.location,
        antecedent=data.antecedent,
        behaviour=data.behaviour,
        means=data.means,
        target=data.target,
        injury=data.injury,
        measures=[measure.value for measure in data.measures],
        alternatives_tried=data.alternatives_tried,
        staff_involved=data.staff_involved,
        notified=data.notified,
        debrief=data.debrief,
        follow_up=data.follow_up,
        moas_verbal=data.moas_verbal,
        moas_property=data.moas_property,
        moas_self=data.moas_self,
        moas_physical=data.moas_physical,
        moas_total=data.moas_total,
        recorded_by=staff.id,
        recorded_at=now,
        client_key=data.client_key,
        request_hash=request_hash(data),
    )
    session.add(row)
    session.flush()
    return row


INCIDENT = RecordForm(
    model=IncidentCreate,
    table=Incident,
    kind=RecordKind.incident,
    permission=Permission.record_incident,
    build=_build_incident,
    read=lambda session, row, replayed: read_incident(row, replayed=replayed),
    detail=lambda data: data.incident_type.value,
)


def record_incident(db: Database, actor: Actor, data: IncidentCreate | dict) -> IncidentRead:
    """Save an incident with its MOAS weighted total; a replay returns the first."""
    return create_record(db, actor, INCIDENT, data)


class RestraintDeadline(BaseModel):
    what: str
    due_at: datetime


class RestraintRead(BaseModel):
    id: int
    patient_id: int
    patient_name: str
    ward_id: int
    incident_id: int | None
    kind: RestraintKind
    ordered_at: datetime
    ordered_by: str
    started_at: datetime
    age_at_order: int
    order_expires_at: datetime
    face_to_face_due_at: datetime
    guardian_notice_due_at: datetime
    release_criteria: str
    face_to_face_at: datetime | None
    guardian_notified_at: datetime | None
    ended_at: datetime | None
    debrief: str
    recorded_by: int
    recorded_at: datetime
    # True when this call found the episode already saved under the same form key.
    replayed: bool = False

    @property
    def open(self) -> bool:
        return self.ended_at is None

    def pending_deadlines(self) -> list[RestraintDeadline]:
        """Deadlines not yet met, earliest first; the guardian notice is owed even after release."""
        items = []
        if self.ended_at is None:
            items.append(RestraintDeadline(what=ORDER_EXPIRES, due_at=self.order_expires_at))
        if self.face_to_face_at is None:
            items.append(RestraintDeadline(what=FACE_TO_FACE, due_at=self.face_to_face_due_at))
        if self.guardian_notified_at is None:
            items.append(
                RestraintDeadline(what=GUARDIAN_NOTICE, due_at=self.guardian_notice_due_at)
            )
        return sorted(items, key=lambda item: item.due_at)

    def overdue_items(self, now: datetime) -> list[str]:
        """The names of the deadlines that have passed without being met."""
        return [item.what for item in self.pending_deadlines() if item.due_at <= now]


def read_restraint(
    row: RestraintEpisode, patient_name: str, *, replayed: bool = False
) -> RestraintRead:
    return RestraintRead.model_validate(
        {**row.model_dump(), "patient_name": patient_name, "replayed": replayed}
    )


def age_on(birth_date: date, day: date) -> int:
    """Age in whole years on a day (a 29 February birthday counts from 1 March)."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - before_birthday


# Facts recorded after the start, each once: field -> how messages and the audit name it.
_PROGRESS = {
    "face_to_face_at": "face-to-face evaluation time",
    "guardian_notified_at": "guardian notice time",
    "ended_at": "end time",
}
_AUDIT_NAMES = {
    "face_to_face_at": "face-to-face",
    "guardian_notified_at": "guardian notified",
    "ended_at": "ended",
    "debrief": "debrief",
}


def _build_restraint(
    session: Session,
    *,
    staff: Staff,
    patient: Patient,
    data: RestraintEpisodeCreate,
    now: datetime,
    replacing: int | None = None,
) -> RestraintEpisode:
    """Build an episode; an amendment (`replacing`) keeps the original's recorded progress."""
    refuse_before_admission(
        session, patient, ordered_at=data.ordered_at, started_at=data.started_at
    )
    if data.incident_id is not None:
        incident = session.get(Incident, data.incident_id)
        if incident is None or incident.patient_id != patient.id:
            raise InvalidInput(["The linked incident is not one of this patient's incidents."])
    ward = session.get(Ward, patient.ward_id)
    age = age_on(patient.birth_date, data.ordered_at.astimezone(ward.zone).date())
    if age < 0:
        raise InvalidInput(["Order time is before the patient's date of birth."])
    row = RestraintEpisode(
        patient_id=patient.id,
        ward_id=patient.ward_id,
        incident_id=data.incident_id,
        kind=data.kind,
        ordered_at=data.ordered_at,
        ordered_by=data.ordered_by,
        started_at=data.started_at,
        age_at_order=age,
        order_expires_at=data.ordered_at + order_limit(age),
        face_to_face_due_at=data.started_at + FACE_TO_FACE_WITHIN,
        guardian_notice_due_at=data.started_at + GUARDIAN_NOTICE_WITHIN,
        release_criteria=data.release_criteria,
        recorded_by=staff.id,
        recorded_at=now,
        client_key=data.client_key,
        request_hash=request_hash(data),
    )
    if replacing is not None:
        # Locked and reread, so an end recorded at this moment is carried over, not lost.
        original = session.get(
            RestraintEpisode, replacing, with_for_update=True, populate_existing=True
        )
        for field, name in _PROGRESS.items():
            moment = getattr(original, field)
            if moment is not None and moment < row.started_at:
                raise InvalidInput(
                    [f"Start time is after the recorded {name}; check the start time."]
                )
            setattr(row, field, moment)
        row.debrief = original.debrief
    session.add(row)
    session.flush()
    return row


RESTRAINT = RecordForm(
    model=RestraintEpisodeCreate,
    table=RestraintEpisode,
    kind=RecordKind.restraint,
    permission=Permission.record_restraint,
    build=_build_restraint,
    read=lambda session, row, replayed: read_restraint(
        row, session.get(Patient, row.patient_id).display_name, replayed=replayed
    ),
    detail=lambda data: f"started {data.kind.value}",
)


def start_restraint(
    db: Database, actor: Actor, data: RestraintEpisodeCreate | dict
) -> RestraintRead:
    """Record a restraint or seclusion order and start, timing its deadlines by the patient's age
    at the order: order 4 h (adult) / 2 h (9-17) / 1 h (under 9), face-to-face 1 h,
    guardian notice 24 h."""
    return create_record(db, actor, RESTRAINT, data)


def update_restraint(
    db: Database, actor: Actor, episode_id: int, progress: RestraintProgress | dict
) -> RestraintRead:
    """Record the face-to-face evaluation, guardian notice, end and debrief, each once.

    Sending a fact again with the same value is accepted (a replay); a different value is a
    Conflict. Audited as `create` naming the facts added: nothing recorded is changed.
    """
    now = db.clock()
    progress = validated(RestraintProgress, progress, now=now)
    with db.writing() as session:
        # Locked so two nurses recording the end at once cannot both fill it.
        episode = session.get(RestraintEpisode, episode_id, with_for_update=True)
        if episode is None:
            # Refused like another ward's episode, so episode ids cannot be probed.
            authorize(session, actor, Permission.record_restraint)
            raise NotAllowed(NOT_ON_YOUR_WARDS)
        staff, patient = authorize_patient(
            session, actor, Permission.record_restraint, episode.patient_id
        )
        is_current = session.exec(
            select(RestraintEpisode.id).where(
                RestraintEpisode.id == episode_id, current(RestraintEpisode)
            )
        ).first()
        if is_current is None:
            raise Conflict("This episode was corrected; update the newest version of it.")
        zone = session.get(Ward, patient.ward_id).zone
        added: dict[str, object] = {}
        for field, name in _PROGRESS.items():
            moment = getattr(progress, field)
            if moment is None:
                continue
            recorded = getattr(episode, field)
            if recorded is not None:
                if recorded != moment:
                    raise Conflict(
                        f"The {name} is already recorded ({recorded.astimezone(zone):%H:%M}); "
                        "it is recorded once and cannot be changed."
                    )
                continue
            if moment < episode.started_at:
                raise InvalidInput(
                    [
                        f"The {name} is before the episode started "
                        f"({episode.started_at.astimezone(zone):%H:%M})."
                    ]
                )
            added[field] = moment
        if progress.debrief:
            if episode.debrief and episode.debrief != progress.debrief:
                raise Conflict("The debrief is already recorded; it is recorded once.")
            if not episode.debrief:
                if episode.ended_at is None and "ended_at" not in added:
                    raise InvalidInput(["A debrief is recorded after the episode has ended."])
                added["debrief"] = progress.debrief
        if added:
            for field, value in added.items():
                setattr(episode, field, value)
            session.add(episode)
            session.flush()
            write_audit(
                session,
                key=db.keys.audit,
                at=now,
                action=AuditAction.create,
                staff_id=staff.id,
                ward_id=patient.ward_id,
                patient_id=patient.id,
                record_kind=RecordKind.restraint,
                record_id=episode.id,
                detail="recorded " + ", ".join(_AUDIT_NAMES[field] for field in added),
            )
        return read_restraint(episode, patient.display_name)


def open_restraints(db: Database, actor: Actor, ward_id: int) -> list[RestraintRead]:
    """The ward's episodes still running, earliest start first, with their deadlines."""
    with db.reading() as session:
        authorize(session, actor, Permission.view_rounds, ward_id=ward_id)
        rows = session.exec(
            select(RestraintEpisode, Patient)
            .join(Patient, Patient.id == RestraintEpisode.patient_id)
            .where(
                RestraintEpisode.ward_id == ward_id,
                RestraintEpisode.ended_at.is_(None),
                current(RestraintEpisode),
            )
            .order_by(RestraintEpisode.started_at, RestraintEpisode.id)
        ).all()
        return [read_restraint(episode, patient.display_name) for episode, patient in rows]
