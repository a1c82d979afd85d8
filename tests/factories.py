"""Small factories for tests: a ward with staff of each role and admitted patients."""

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from app.services.access import Actor
from app.services.accounts import CONSOLE, create_staff
from app.services.wards import PatientRead, WardRead, admit_patient, create_ward
from app.storage.database import Database
from models.codes import ObservationLevel, Role

_codes = itertools.count(1)
PASSWORD = "correct horse battery staple"


def key() -> str:
    """A fresh form key, as a client makes one per opened form."""
    return uuid.uuid4().hex


def check_form(patient_id: int, observed_at: datetime, **fields) -> dict:
    """A routine-looking check-in form under a fresh key; `fields` change or add to it."""
    return {
        "patient_id": patient_id,
        "observed_at": observed_at,
        "location": "day_room",
        "status": "watching_tv",
        "behaviours": ["calm"],
        "client_key": key(),
        **fields,
    }


@dataclass
class Ward:
    db: Database
    ward: WardRead
    tech: Actor
    nurse: Actor
    charge: Actor
    admin: Actor
    patients: list[PatientRead] = field(default_factory=list)

    @classmethod
    def create(cls, db: Database, *, patients: int = 3, code: str | None = None) -> "Ward":
        code = code or f"W{next(_codes)}"
        ward = create_ward(
            db, CONSOLE, {"code": code, "name": f"Ward {code}", "time_zone": "America/Chicago"}
        )
        actors = {}
        for role in Role:
            staff = create_staff(
                db,
                CONSOLE,
                {
                    "username": f"{role.value}-{code}".lower(),
                    "display_name": f"Test {role.value.replace('_', ' ')} {code}",
                    "role": role,
                    "password": PASSWORD,
                    "ward_ids": [ward.id],
                },
            )
            actors[role] = Actor(staff.id, staff.username)
        made = cls(
            db,
            ward,
            actors[Role.technician],
            actors[Role.nurse],
            actors[Role.charge_nurse],
            actors[Role.admin],
        )
        for _ in range(patients):
            made.admit()
        return made

    def admit(
        self,
        *,
        level: ObservationLevel = ObservationLevel.q15,
        admitted_at: datetime | None = None,
        birth_date: date = date(1990, 5, 17),
        **fields,
    ) -> PatientRead:
        number = next(_codes)
        patient = admit_patient(
            self.db,
            self.charge,
            {
                "ward_id": self.ward.id,
                "mrn": f"T{number:05d}",
                "family_name": f"Testpatient{number}",
                "given_name": "Alex",
                "room": str(100 + number),
                "birth_date": birth_date,
                "admitted_at": admitted_at or self.db.clock() - timedelta(minutes=10),
                **fields,
            },
            level=level,
        )
        self.patients.append(patient)
        return patient
