"""A 30-day demo ward filled once per test run and shared by read-only tests.

The tests that use it only read records (and append audit rows, which they count as deltas), so
one fill serves them all: a SQLite file of its own, or a PostgreSQL database of its own next to
the one the other tests truncate.
"""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import select

from app.demo import fill_demo_ward
from app.services.access import Actor
from app.storage.database import Database
from app.storage.schema import upgrade
from app.storage.secrets import Keys
from models import Patient, Staff
from tests.conftest import POSTGRES_URL, TEST_SECRET, Clock

DEMO_DAYS = 30
_filled: dict[str, str] = {}


@dataclass
class FilledDemo:
    """The filled demo ward: its database (clock fixed at the fill's now), actors and patients."""

    db: Database
    clock: Clock
    actors: dict[str, Actor]
    patient_ids: dict[str, int]
    ward_id: int

    def patient(self, mrn: str) -> int:
        return self.patient_ids[mrn]


def _postgres_copy_url() -> str:
    """A database of its own beside the shared test database, made empty and migrated."""
    url = make_url(POSTGRES_URL)
    name = f"{url.database}_demo"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    demo_url = url.set(database=name).render_as_string(hide_password=False)
    upgrade(demo_url)
    return demo_url


def _filled_url(tmp_path_factory: pytest.TempPathFactory, migrated_template: str) -> str:
    if "url" not in _filled:
        if POSTGRES_URL:
            url = _postgres_copy_url()
        else:
            path = tmp_path_factory.mktemp("demo30") / "demo.db"
            shutil.copyfile(migrated_template, path)
            url = f"sqlite:///{path}"
        filler = Database(url, keys=Keys.from_secret(TEST_SECRET), clock=Clock())
        try:
            fill_demo_ward(filler, days=DEMO_DAYS)
        finally:
            filler.dispose()
        _filled["url"] = url
    return _filled["url"]


def open_filled_demo(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: str
) -> Iterator[FilledDemo]:
    """Yield the filled demo ward (filling it on first use in this run), then close it."""
    clock = Clock()
    db = Database(
        _filled_url(tmp_path_factory, migrated_template),
        keys=Keys.from_secret(TEST_SECRET),
        clock=clock,
    )
    with db.reading() as session:
        staff = session.exec(select(Staff)).all()
        patients = session.exec(select(Patient)).all()
        ward_id = patients[0].ward_id
    yield FilledDemo(
        db=db,
        clock=clock,
        actors={row.username: Actor(row.id, row.username) for row in staff},
        patient_ids={row.mrn: row.id for row in patients},
        ward_id=ward_id,
    )
    db.dispose()


def console_demo(tmp_path, monkeypatch) -> Database:
    """A short demo ward in a SQLite file the `rounds` command is pointed at, on the real
    clock as the command runs; the caller disposes of the returned database."""
    from app.cli import open_database
    from app.config import get_settings

    monkeypatch.setenv("ROUNDS_DATABASE_URL", f"sqlite:///{tmp_path}/rounds.db")
    monkeypatch.setenv("ROUNDS_SECRET_FILE", str(tmp_path / "secret.key"))
    get_settings.cache_clear()
    db = open_database(get_settings())
    fill_demo_ward(db, days=3)
    return db
