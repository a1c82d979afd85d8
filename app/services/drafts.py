"""Drafts: half-filled forms kept on the server, so a Wi-Fi drop or a restart loses nothing.

A draft is not a clinical record: it is never audited, only its author sees it, and it is
closed (not deleted) when the form is saved or discarded. Writing a draft of a patient's form
still needs that patient to be on the author's wards, because the fields hold patient data.
"""

import json
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as PydanticField
from sqlmodel import Session, select

from app.services.access import Actor, Permission, authorize_patient
from app.services.errors import NotAllowed
from app.services.requests import validated
from app.storage.database import Database
from models import Draft, Staff
from models.fields import ClientKey

# A draft holds a few dozen short fields; anything bigger is not a form in progress.
FIELDS_LIMIT = 20_000
# A form left for longer than a shift is not offered again.
DRAFT_LIFETIME = timedelta(hours=12)


class DraftInput(BaseModel):
    """A form in progress as the screen sends it."""

    model_config = ConfigDict(extra="forbid")

    client_key: ClientKey
    form: str = PydanticField(min_length=1, max_length=30, pattern=r"^[a-z_]+$")
    patient_id: int | None = None
    fields: dict[str, Any]

    @field_validator("fields")
    @classmethod
    def _small_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            size = len(json.dumps(value, sort_keys=True, default=str))
        except (TypeError, ValueError) as error:
            raise ValueError("cannot be stored") from error
        if size > FIELDS_LIMIT:
            raise ValueError("are too long to keep as a draft")
        return json.loads(json.dumps(value, default=str))


class _DraftKey(BaseModel):
    """The form key a draft is closed by, checked like the one it was saved under."""

    model_config = ConfigDict(extra="forbid")

    client_key: ClientKey


class DraftRead(BaseModel):
    id: int
    client_key: str
    form: str
    patient_id: int | None
    fields: dict[str, Any]
    updated_at: datetime
    closed_at: datetime | None


def _read(row: Draft) -> DraftRead:
    return DraftRead.model_validate(row, from_attributes=True)


def _author(session: Session, actor: Actor, patient_id: int | None) -> int:
    """The author's staff id, if they may keep a draft (of this patient's form)."""
    if patient_id is not None:
        staff, _ = authorize_patient(session, actor, Permission.view_rounds, patient_id)
        return staff.id
    staff = session.get(Staff, actor.staff_id)
    if staff is None or not staff.active:
        raise NotAllowed("Your account is not active. Ask the charge nurse.")
    return staff.id


def save_draft(
    db: Database,
    actor: Actor,
    *,
    client_key: str,
    form: str,
    patient_id: int | None,
    fields: dict[str, Any],
) -> DraftRead:
    """Keep the form's current fields under its form key. A closed draft stays closed."""
    now = db.clock()
    data = validated(
        DraftInput,
        {"client_key": client_key, "form": form, "patient_id": patient_id, "fields": fields},
        now=now,
    )
    with db.writing() as session:
        staff_id = _author(session, actor, data.patient_id)
        row = session.exec(
            select(Draft).where(Draft.staff_id == staff_id, Draft.client_key == data.client_key)
        ).first()
        if row is not None and row.closed_at is not None:
            # A late debounced save after the form was saved must not bring the draft back.
            return _read(row)
        if row is None:
            row = Draft(staff_id=staff_id, client_key=data.client_key)
        row.form = data.form
        row.patient_id = data.patient_id
        row.fields = data.fields
        row.updated_at = now
        session.add(row)
        session.flush()
        return _read(row)


def open_drafts(
    db: Database, actor: Actor, *, lifetime: timedelta | None = DRAFT_LIFETIME
) -> list[DraftRead]:
    """The actor's drafts not yet saved or discarded, newest first (within `lifetime`)."""
    now = db.clock()
    with db.reading() as session:
        query = select(Draft).where(Draft.staff_id == actor.staff_id, Draft.closed_at.is_(None))
        if lifetime is not None:
            query = query.where(Draft.updated_at >= now - lifetime)
        rows = session.exec(query.order_by(Draft.updated_at.desc(), Draft.id.desc())).all()
        return [_read(row) for row in rows]


def close_draft(db: Database, actor: Actor, client_key: str) -> None:
    """Close the actor's draft under this form key (saved or discarded); no draft is fine."""
    now = db.clock()
    client_key = validated(_DraftKey, {"client_key": client_key}, now=now).client_key
    with db.writing() as session:
        row = session.exec(
            select(Draft).where(Draft.staff_id == actor.staff_id, Draft.client_key == client_key)
        ).first()
        if row is not None and row.closed_at is None:
            row.closed_at = now
            session.add(row)
