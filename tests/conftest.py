"""Fixtures shared by every test: a real database (SQLite file, or PostgreSQL by URL) and a clock.

Set ROUNDS_TEST_DATABASE_URL to a PostgreSQL URL to run the suite against PostgreSQL;
otherwise each test gets its own SQLite file.
"""

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from app.storage.database import Database, is_sqlite, make_engine
from app.storage.schema import upgrade
from app.storage.secrets import Keys
from tests.factories import Ward as WardFactory

POSTGRES_URL = os.environ.get("ROUNDS_TEST_DATABASE_URL", "")
TEST_SECRET = b"rounds-test-secret-not-for-production"
# A Friday noon in the demo ward's zone (America/Chicago), well clear of DST changes.
START = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


def pytest_collection_modifyitems(config, items):
    if POSTGRES_URL and not is_sqlite(POSTGRES_URL):
        return
    skip = pytest.mark.skip(reason="needs ROUNDS_TEST_DATABASE_URL pointing at PostgreSQL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> str:
    """A database upgraded once per run: a SQLite file to copy, or the PostgreSQL URL."""
    if POSTGRES_URL:
        upgrade(POSTGRES_URL)
        return POSTGRES_URL
    path = tmp_path_factory.mktemp("template") / "rounds.db"
    upgrade(f"sqlite:///{path}")
    return str(path)


def _empty_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        tables = [
            row[0]
            for row in connection.execute(
                text(
                    "SELECT tablename FROM pg_tables "
                    "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            )
        ]
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        connection.execute(
            text(
                "INSERT INTO audit_chain_head (id, last_event_id, last_hash) VALUES (1, NULL, :h)"
            ),
            {"h": "0" * 64},
        )
    engine.dispose()


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path) -> str:
    """The URL of an empty, fully migrated database for this test alone."""
    if POSTGRES_URL:
        _empty_postgres(POSTGRES_URL)
        return POSTGRES_URL
    path = tmp_path / "rounds.db"
    shutil.copyfile(migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(database_url: str, clock: Clock) -> Iterator[Database]:
    database = Database(database_url, keys=Keys.from_secret(TEST_SECRET), clock=clock)
    yield database
    database.dispose()


@pytest.fixture
def ward(db: Database) -> WardFactory:
    """A ward with one staff member of each role and a few admitted patients."""
    return WardFactory.create(db)
