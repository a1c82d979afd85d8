"""Fixtures for the demo ward: a filled short demo ward, and further empty databases."""

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.demo import DemoSummary, fill_demo_ward
from app.storage.database import Database
from app.storage.secrets import Keys
from tests.conftest import POSTGRES_URL, TEST_SECRET, Clock, _empty_postgres

SHORT_DAYS = 3


@pytest.fixture
def demo(db: Database) -> DemoSummary:
    """The demo ward with a short (3-day) history, filled into the test's database."""
    return fill_demo_ward(db, days=SHORT_DAYS)


@pytest.fixture
def empty_database(
    migrated_template: str, tmp_path: Path, clock: Clock
) -> Iterator[Callable[[], Database]]:
    """Opens another empty, migrated database on the same engine.

    PostgreSQL tests share one database, so on PostgreSQL each call empties it again: read what
    you need from one database before opening the next.
    """
    opened: list[Database] = []

    def open_empty() -> Database:
        if POSTGRES_URL:
            _empty_postgres(POSTGRES_URL)
            url = POSTGRES_URL
        else:
            path = tmp_path / f"empty-{len(opened)}.db"
            shutil.copyfile(migrated_template, path)
            url = f"sqlite:///{path}"
        database = Database(url, keys=Keys.from_secret(TEST_SECRET), clock=clock)
        opened.append(database)
        return database

    yield open_empty
    for database in opened:
        database.dispose()
