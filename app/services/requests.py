"""Validating what a form sent, and saving it once however often it is sent."""

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.services.errors import Conflict, InvalidInput, explain, label
from app.storage.database import Database
from models import Patient, Ward

Model = TypeVar("Model", bound=BaseModel)
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
