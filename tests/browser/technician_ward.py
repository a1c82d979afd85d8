"""A small synthetic ward in a SQLite file, prepared before `rounds serve` starts on it.

Made through the services with the real clock (the server uses it too): seven patients, one
overdue, one on 1:1 in seclusion, and a technician with a known password and PIN.
Run `python -m tests.browser.technician_ward DIR` to make one by hand for a look.
"""

import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from app.config import Settings
from app.services.access import Actor
from app.services.accounts import CONSOLE, create_staff, issue_pin
from app.services.check_ins import record_check_in
from app.services.incidents import start_restraint
from app.services.wards import admit_patient, create_ward
from models.codes import ObservationLevel
from models.fields import utc_now

PASSWORD = "night shift passphrase"
PIN = "246810"


@dataclass(frozen=True)
class PreparedWard:
    database_url: str
    secret_file: Path
    ward_id: int
    tech_username: str
    tech_name: str
    tech_id: int
    patients: dict[str, int]  # display name -> patient id

    def env(self) -> dict[str, str]:
        """Environment for `rounds serve` on this ward."""
        return {
            "ROUNDS_DATABASE_URL": self.database_url,
            "ROUNDS_SECRET_FILE": str(self.secret_file),
        }

    def settings(self) -> Settings:
        return Settings(database_url=self.database_url, secret_file=self.secret_file)


def prepare_ward(data_dir: Path) -> PreparedWard:
    """Create the database, secret and ward in `data_dir`.

    The ward's night hours are set to start 12 hours from now, so the tests see the day look
    first whatever time they run (night mode is switched on by hand).
    """
    from app.cli import open_database

    local_hour = utc_now().astimezone(ZoneInfo("America/Chicago")).hour
    night_start_hour = (local_hour + 12) % 24
    night_end_hour = (local_hour + 14) % 24

    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{data_dir / 'rounds.db'}"
    secret = data_dir / "secret.key"
    db = open_database(Settings(database_url=url, secret_file=secret))
    try:
        ward = create_ward(
            db,
            CONSOLE,
            {
                "code": "4B",
                "name": "Ward 4B",
                "time_zone": "America/Chicago",
                "night_start_hour": night_start_hour,
                "night_end_hour": night_end_hour,
            },
        )
        staff = {}
        for username, name, role in [
            ("tech", "Dana Tech", "technician"),
            ("charge", "Chris Charge", "charge_nurse"),
        ]:
            made = create_staff(
                db,
                CONSOLE,
                {
                    "username": username,
                    "display_name": name,
                    "role": role,
                    "password": PASSWORD,
                    "ward_ids": [ward.id],
                },
            )
            issue_pin(db, CONSOLE, made.id, pin=PIN)
            staff[username] = Actor(made.id, made.username)
        now = utc_now()
        # (given, family, room, level, precautions, admitted min ago, last checked min ago)
        people = [
            ("Alex", "Rivera", "101", ObservationLevel.q15, ["suicide"], 40, None),
            ("Sam", "Okafor", "102", ObservationLevel.q15, [], 90, 5),
            ("Jordan", "Lee", "103", ObservationLevel.routine_q30, ["fall"], 120, 12),
            ("Morgan", "Diaz", "104", ObservationLevel.one_to_one_eyesight, ["self_harm"], 60, 9),
            ("Riley", "Chen", "105", ObservationLevel.q15, [], 80, 4),
            ("Taylor", "Brooks", "106", ObservationLevel.q15, ["elopement"], 70, 3),
            ("Casey", "Park", "107", ObservationLevel.routine_q30, [], 150, 8),
        ]
        patients = {}
        for number, (given, family, room, level, precautions, admitted, checked) in enumerate(
            people, start=1
        ):
            patient = admit_patient(
                db,
                staff["charge"],
                {
                    "ward_id": ward.id,
                    "mrn": f"B{number:04d}",
                    "given_name": given,
                    "family_name": family,
                    "room": room,
                    "birth_date": date(1988, 3, number),
                    "admitted_at": now - timedelta(minutes=admitted),
                    "precautions": precautions,
                },
                level=level,
            )
            patients[patient.display_name] = patient.id
            if checked is not None:
                record_check_in(
                    db,
                    staff["tech"],
                    {
                        "patient_id": patient.id,
                        "observed_at": now - timedelta(minutes=checked),
                        "location": "day_room",
                        "status": "watching_tv" if number % 2 else "resting",
                        "behaviours": ["calm"],
                        "late_reason": "other",
                        "client_key": f"prepared-{number}-check",
                    },
                )
        # A seclusion running for 20 minutes: its deadlines count down on the rounds screen.
        start_restraint(
            db,
            staff["charge"],
            {
                "patient_id": patients["Morgan Diaz"],
                "kind": "seclusion",
                "ordered_at": now - timedelta(minutes=20),
                "ordered_by": "Dr. Demo Physician",
                "started_at": now - timedelta(minutes=20),
                "client_key": "prepared-seclusion",
            },
        )
        return PreparedWard(
            database_url=url,
            secret_file=secret,
            ward_id=ward.id,
            tech_username="tech",
            tech_name="Dana Tech",
            tech_id=staff["tech"].staff_id,
            patients=patients,
        )
    finally:
        db.dispose()


if __name__ == "__main__":
    made = prepare_ward(Path(sys.argv[1]))
    print("\n".join(f"{name}={value}" for name, value in made.env().items()))
