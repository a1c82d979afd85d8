"""One engine factory and one place that opens units of work."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from app.storage.secrets import Keys
from models.fields import utc_now

SQLITE_BUSY_TIMEOUT_MS = 10_000


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, *, for_writing: bool = True) -> Engine:
    """An engine for the URL. SQLite gets WAL, foreign keys, a busy timeout and full sync.

    On SQLite, writing engines open every transaction with BEGIN IMMEDIATE, so a transaction
    that reads and then writes waits for the write lock instead of failing with
    "database is locked"; reading engines use a plain deferred BEGIN so readers never queue
    behind writers.
    """
    if not is_sqlite(url):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)

    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Take transaction control away from pysqlite so the begin hook below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # A confirmed save must survive a power cut, not just a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if for_writing else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        # Straight to the driver: every unit of work starts here, and SQLAlchemy's statement
        # machinery has nothing to add to a fixed BEGIN.
        connection.connection.driver_connection.execute(begin)

    return engine


class Database:
    """The app's database: where units of work are opened, and the clock they share."""

    def __init__(self, url: str, *, keys: Keys, clock: Callable[[], datetime] = utc_now) -> None:
        self.url = url
        self.keys = keys
        self.clock = clock
        self.writer = make_engine(url, for_writing=True)
        self.reader = make_engine(url, for_writing=False) if is_sqlite(url) else self.writer

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A unit of work that writes: committed when the block ends, rolled back on error."""
        with Session(self.writer, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A unit of work that only reads, over one consistent snapshot.

        Objects stay loaded after the block (no expiry), so callers may build read models late.
        """
        with Session(self.reader, expire_on_commit=False) as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()
