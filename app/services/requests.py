"""Validating what a form sent, and saving it once however often it is sent."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.services.access import Actor, Permission, authorize_patient
from app.services.audit import write_audit
from app.services.errors import Conflict, InvalidInput, explain, label
from app.storage.database import Database
from models import Patient, Ward
from models.codes import AuditAction, RecordKind

Model = TypeVar("Model", bound=BaseModel)
Row = TypeVar("Row")
Result = TypeVar("Result")


def validated(model: type[Model], data: Model | dict[str, Any], *, now: datetime) -> Model:
    """Validate (again) against the service clock; InvalidInput with sentences on failure."""
    raw = data.model_dump() if isinstance(data, BaseModel) else data
    try:
        return model.model_validate(raw, context={"now": now})
    except ValidationError as error:
        raise explain(error) from None


def request_hash(data: BaseModel) -> str:
    """A fingerprint of a request's content, without its form key."""
    payload = data.model_dump(mode="json", exclude={"client_key"})
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def find_replay(session: Session, table: type, data: BaseModel) -> Any | None:
    """The record first saved under this form key, or None; Conflict if the content differs."""
    row = session.exec(select(table).where(table.client_key == data.client_key)).first()
    if row is not None and row.request_hash != request_hash(data):
        raise Conflict(
            "This form was already saved with different details. Open a new form to add another."
        )
    return row


def save_once(db: Database, save: Callable[[Session], Result]) -> Result:
    """Run `save` in a write unit; when a concurrent copy of the same form won the race for its
    key (PostgreSQL), run it again: it then finds and returns the first copy."""
    try:
        with db.writing() as session:
            return save(session)
    except IntegrityError as error:
        if "client_key" not in str(error.orig):
            raise
    with db.writing() as session:
        return save(session)


def refuse_before_admission(session: Session, patient: Patient, **moments: datetime) -> None:
    """InvalidInput when a record's time (named by its field) is before the patient's admission.

    Nothing is observed of a patient on the ward before they arrive: such a time is a wrong
    date, a device clock far behind, or the wrong patient.
    """
    early = [field for field, moment in moments.items() if moment < patient.admitted_at]
    if early:
        zone = session.get(Ward, patient.ward_id).zone
        admitted = f"{patient.admitted_at.astimezone(zone):%d %b %H:%M}"
        raise InvalidInput(
            [
                f"{label(field)} is before {patient.display_name} was admitted ({admitted})."
                for field in early
            ]
        )


def _no_detail(data: BaseModel) -> str:
    return ""


@dataclass(frozen=True)
class RecordForm(Generic[Model, Row, Result]):
    """What saving one kind of patient record from its form takes (see `create_record`)."""

    model: type[Model]
    table: type[Row]
    kind: RecordKind
    permission: Permission
    # _build_<kind>(session, *, staff, patient, data, now): adds and flushes the row (corrections
    # call it too, to build an amendment's replacement).
    build: Callable[..., Row]
    # The read model of a row; `replayed` when it was found already saved, not saved now.
    read: Callable[[Session, Row, bool], Result]
    # What the audit row says besides the record, e.g. an incident's type.
    detail: Callable[[Model], str] = _no_detail
    action: AuditAction = AuditAction.create
    # The same record already saved under another form key, returned as a replay.
    same: Callable[[Session, Model, Patient], Row | None] | None = None


def save_record(
    session: Session,
    db: Database,
    actor: Actor,
    form: RecordForm[Model, Row, Result],
    data: Model,
    now: datetime,
) -> Result:
    """Authorize, replay or build, and audit one validated form in the caller's transaction."""
    staff, patient = authorize_patient(session, actor, form.permission, data.patient_id)
    replay = find_replay(session, form.table, data)
    if replay is None and form.same is not None:
        replay = form.same(session, data, patient)
    if replay is not None:
        return form.read(session, replay, True)
    row = form.build(session, staff=staff, patient=patient, data=data, now=now)
    write_audit(
        session,
        key=db.keys.audit,
        at=now,
        action=form.action,
        staff_id=staff.id,
        ward_id=patient.ward_id,
        patient_id=patient.id,
        record_kind=form.kind,
        record_id=row.id,
        detail=form.detail(data),
    )
    return form.read(session, row, False)


def create_record(
    db: Database,
    actor: Actor,
    form: RecordForm[Model, Row, Result],
    data: Model | dict[str, Any],
) -> Result:
    """Save one patient's record from its form, once however often it is sent: validated
    against the service clock, authorized, built and audited in one transaction; a replay
    under the same form key returns the first result."""
    now = db.clock()
    checked = validated(form.model, data, now=now)
    return save_once(db, lambda session: save_record(session, db, actor, form, checked, now))
