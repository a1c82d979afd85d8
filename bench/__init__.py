"""Proof scripts: crashes, load and hostile input against the real services and databases.

Run from the repository root, e.g. `python -m bench.crash --db sqlite --quick`. Each script
ends by printing one line of `name=value` figures; `--quick` is the variant CI runs.
What they share lives here: a fresh database on either engine, a synthetic ward, the figures.
"""

import argparse
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.services.access import Actor
from app.services.accounts import CONSOLE, create_staff
from app.services.wards import admit_patient, create_ward
from app.storage.database import Database
from app.storage.schema import upgrade
from app.storage.secrets import Keys
from models.codes import ObservationLevel, Role

ROOT = Path(__file__).resolve().parent.parent
# Synthetic data only: the benches never open a real ward's database.
BENCH_SECRET = b"rounds-bench-secret-not-for-production"
ZONE = "America/Chicago"


def arguments(description: str) -> argparse.ArgumentParser:
    """The options every bench takes: the engine, a server URL, and the quick variant."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--url",
        help="PostgreSQL server to use (a fresh database is created on it and dropped after); "
        "without it a throwaway cluster is started with .ci/postgres.sh",
    )
    parser.add_argument("--quick", action="store_true", help="the short variant CI runs")
    return parser


def keys() -> Keys:
    return Keys.from_secret(BENCH_SECRET)


@contextmanager
def fresh_database(kind: str, url: str | None = None) -> Iterator[str]:
    """The URL of a new, migrated, empty database, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="rounds-bench-") as folder:
        if kind == "sqlite":
            database_url = f"sqlite:///{folder}/bench.db"
            upgrade(database_url)
            yield database_url
            return
        if url is None:
            with (
                _throwaway_cluster() as server,
                _postgres_database(server) as database_url,
            ):
                yield database_url
            return
        with _postgres_database(url) as database_url:
            yield database_url


@contextmanager
def _throwaway_cluster() -> Iterator[str]:
    script = str(ROOT / ".ci" / "postgres.sh")
    # Its own folder, reachable by the unprivileged user the server runs as.
    cluster = Path(tempfile.mkdtemp(prefix="rounds-bench-pg-"))
    cluster.chmod(0o755)
    started = subprocess.run(
        ["bash", script, "start", str(cluster)], check=True, capture_output=True, text=True
    )
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run(["bash", script, "stop", str(cluster)], check=False, capture_output=True)
        shutil.rmtree(cluster, ignore_errors=True)


@contextmanager
def _postgres_database(server_url: str) -> Iterator[str]:
    name = f"rounds_bench_{uuid.uuid4().hex[:12]}"
    admin_url = make_url(server_url).set(database="postgres")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    database_url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(database_url)
        yield database_url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def open_database(url: str, **options) -> Database:
    return Database(url, keys=keys(), **options)


def integrity(db: Database) -> str:
    """'ok', or what is wrong with the database's own structure."""
    with db.reading() as session:
        if db.dialect == "sqlite":
            result = session.execute(text("PRAGMA integrity_check")).scalars().all()
            orphans = session.execute(text("PRAGMA foreign_key_check")).all()
            if result != ["ok"]:
                return "; ".join(result)[:200]
            return "ok" if not orphans else f"{len(orphans)} rows without their parent"
        # Without amcheck: every foreign key still finds its row, and unique keys are unique.
        problems = []
        for table, column, parent in (
            ("check_in", "patient_id", "patient"),
            ("check_in", "recorded_by", "staff"),
            ("audit_event", "staff_id", "staff"),
        ):
            orphans = session.execute(
                text(
                    f"SELECT count(*) FROM {table} t LEFT JOIN {parent} p ON p.id = t.{column} "
                    f"WHERE t.{column} IS NOT NULL AND p.id IS NULL"
                )
            ).scalar_one()
            if orphans:
                problems.append(f"{orphans} {table}.{column} without their {parent}")
        repeated = session.execute(
            text("SELECT count(*) - count(DISTINCT client_key) FROM check_in")
        ).scalar_one()
        if repeated:
            problems.append(f"{repeated} repeated check_in keys")
        return "; ".join(problems) or "ok"


def figures(**values: object) -> str:
    """One line of name=value figures, in the order given."""
    return " ".join(f"{name}={value}" for name, value in values.items())


def parse_figures(line: str) -> dict[str, str]:
    """The figures of a bench's last line."""
    return dict(part.split("=", 1) for part in line.split())


@dataclass
class BenchWard:
    """A synthetic ward: its id, a charge nurse, technicians and admitted patients."""

    ward_id: int
    charge: Actor
    technicians: list[Actor]
    patient_ids: list[int]


def make_ward(
    db: Database,
    *,
    code: str,
    levels: list[ObservationLevel],
    technicians: int,
    admitted_at: datetime,
) -> BenchWard:
    """Create a ward through the services, with one patient per level given."""
    ward = create_ward(db, CONSOLE, {"code": code, "name": f"Bench {code}", "time_zone": ZONE})

    def account(role: Role, number: int) -> Actor:
        staff = create_staff(
            db,
            CONSOLE,
            {
                "username": f"{code}-{role.value}-{number}".lower(),
                "display_name": f"Bench {role.value} {number}",
                "role": role,
                "password": "bench passphrase, synthetic",
                "ward_ids": [ward.id],
            },
        )
        return Actor(staff.id, staff.username)

    charge = account(Role.charge_nurse, 1)
    patients = [
        admit_patient(
            db,
            charge,
            {
                "ward_id": ward.id,
                "mrn": f"{code}{bed:03d}",
                "family_name": f"Benchpatient{bed}",
                "given_name": "Sam",
                "room": str(100 + bed),
                "birth_date": date(1985, 1, 1) + timedelta(days=bed * 97),
                "admitted_at": admitted_at,
            },
            level=level,
        ).id
        for bed, level in enumerate(levels, start=1)
    ]
    return BenchWard(
        ward.id, charge, [account(Role.technician, n + 1) for n in range(technicians)], patients
    )
