"""The check-in sheet's state, without Flet: what is chosen, its form key, its draft form.

One form key per opened form; every save attempt of that form (a retry after an error, a
reconnect replay, a continued draft) reuses it, so the service stores the check once.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.services.check_ins import CheckInRead
from app.services.drafts import DraftRead
from app.services.requests import validated
from models import CheckInCreate
from models.codes import Affect, Behaviour, LateReason, Location, Status

FORM = "check_in"


@dataclass
class CheckInForm:
    patient_id: int
    observed_at: datetime  # when the sheet was opened: the moment the patient was seen
    client_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    location: Location | None = None
    status: Status | None = None
    behaviours: set[Behaviour] = field(default_factory=set)
    affect: Affect | None = None
    mood: int | None = None  # None: not asked (distinct from 0)
    anxiety: int | None = None
    note: str = ""
    late_reason: LateReason | None = None
    # The patient could not be seen (refused, off unit...): only the reason is recorded.
    missed: bool = False
    # Whether anything was changed since the sheet opened (a draft is worth keeping).
    touched: bool = False

    @classmethod
    def open(cls, patient_id: int, now: datetime, last: CheckInRead | None) -> "CheckInForm":
        """A new form, pre-filled with where and how the patient was last seen.

        Mood and anxiety are the patient's own answers at this moment, so they start as
        "not asked" rather than repeating the last answer.
        """
        form = cls(patient_id=patient_id, observed_at=now)
        if last is not None and not last.missed:
            form.location = last.location
            form.status = last.status
            form.behaviours = set(last.behaviours)
            form.affect = last.affect
        return form

    def set(self, name: str, value: Any) -> None:
        """Change one field (as the screen's chips and sliders do)."""
        if name not in _FIELDS:
            raise KeyError(name)
        setattr(self, name, value)
        self.touched = True

    def toggle_behaviour(self, code: Behaviour) -> None:
        if code in self.behaviours:
            self.behaviours.discard(code)
        else:
            self.behaviours.add(code)
            # "Calm" and a distress code together is almost always a forgotten pre-fill.
            if code != Behaviour.calm:
                self.behaviours.discard(Behaviour.calm)
        if code == Behaviour.calm and code in self.behaviours:
            self.behaviours = {Behaviour.calm}
        self.touched = True

    def missing(self) -> list[str]:
        """What must still be chosen before saving, in the screen's words."""
        problems = []
        if self.missed:
            return [] if self.late_reason else ["Choose why the patient was not seen."]
        if self.location is None:
            problems.append("Choose where the patient is.")
        if self.status is None:
            problems.append("Choose what the patient is doing.")
        return problems

    def as_request(self) -> dict[str, Any]:
        """The form as `record_check_in` takes it (a missed check carries only its reason)."""
        if self.missed:
            return {
                "patient_id": self.patient_id,
                "observed_at": self.observed_at,
                "missed": True,
                "late_reason": self.late_reason,
                "note": self.note,
                "client_key": self.client_key,
            }
        return {
            "patient_id": self.patient_id,
            "observed_at": self.observed_at,
            "location": self.location,
            "status": self.status,
            "behaviours": sorted(self.behaviours),
            "affect": self.affect,
            "mood": self.mood,
            "anxiety": self.anxiety,
            "note": self.note,
            "late_reason": self.late_reason,
            "client_key": self.client_key,
        }

    def to_create(self, now: datetime) -> CheckInCreate:
        """The validated check (InvalidInput with sentences when something is wrong)."""
        return validated(CheckInCreate, self.as_request(), now=now)

    def to_draft(self) -> dict[str, Any]:
        """The fields to keep as a draft (JSON)."""
        return {
            "observed_at": self.observed_at.isoformat(),
            "location": self.location,
            "status": self.status,
            "behaviours": sorted(self.behaviours),
            "affect": self.affect,
            "mood": self.mood,
            "anxiety": self.anxiety,
            "note": self.note,
            "late_reason": self.late_reason,
            "missed": self.missed,
        }

    @classmethod
    def from_draft(cls, draft: DraftRead) -> "CheckInForm":
        """The form as it was left, under the same form key."""
        fields = draft.fields
        return cls(
            patient_id=draft.patient_id,
            observed_at=datetime.fromisoformat(fields["observed_at"]),
            client_key=draft.client_key,
            location=_code(Location, fields.get("location")),
            status=_code(Status, fields.get("status")),
            behaviours={
                code for code in (_code(Behaviour, v) for v in fields.get("behaviours", [])) if code
            },
            affect=_code(Affect, fields.get("affect")),
            mood=_score(fields.get("mood")),
            anxiety=_score(fields.get("anxiety")),
            note=str(fields.get("note") or ""),
            late_reason=_code(LateReason, fields.get("late_reason")),
            missed=fields.get("missed") is True,
            touched=True,
        )


_FIELDS = {"location", "status", "affect", "mood", "anxiety", "note", "late_reason", "missed"}


def _code(enum, value):
    try:
        return enum(value) if value is not None else None
    except ValueError:
        return None  # a vocabulary changed since the draft was kept: ask again


def _score(value) -> int | None:
    return value if isinstance(value, int) and 0 <= value <= 10 else None
