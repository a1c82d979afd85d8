"""Statements run on the database driver's own connection, for the work hot enough to need it.

A ward saves a check every few seconds, and every audited read ends with an audit row. Through
SQLAlchemy each statement costs about 25 µs of Python on top of the driver's 5 µs (compile-cache
lookup, execution context, result metadata), and on PostgreSQL each one is a network round
trip of its own. Here a Core statement is compiled once for the engine's dialect and run
straight on the driver's cursor, its parameters and results converted by the statement's own
column types, so values are stored and read back exactly as SQLAlchemy would store and read
them. On PostgreSQL, statements that need no answer in between are sent together in one round
trip (psycopg's pipeline mode).

Everything else in Rounds goes through SQLAlchemy; this is only for `check_ins`' usual save,
`audit.write_audit_alone` and the reads of a timeline page (`DriverRead`).
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

# PostgreSQL: plan a transaction's prepared statements once, not afresh on every run (their
# plans do not depend on the values). Planning the save's read took three times as long as
# running it.
GENERIC_PLANS = "SET LOCAL plan_cache_mode = force_generic_plan"


class DriverStatement:
    """A Core statement compiled for one dialect, with its types' converters at hand."""

    def __init__(
        self, statement: Executable, dialect: Dialect, column_keys: list[str] | None = None
    ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        self.sql = compiled.string
        if "POSTCOMPILE" in self.sql:  # an IN list or a literal the driver cannot take as is
            raise ValueError(f"{statement} needs SQLAlchemy at run time")
        self._compiled = compiled
        self._order = compiled.positiontup  # positional styles (SQLite's "?"); None for named
        self._to_driver = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        self._columns = list(getattr(statement, "exported_columns", ()))
        self._dialect = dialect
        self.names = [column.key for column in self._columns]
        self._from_driver: list[tuple[int, Any]] | None = None  # from the first answer's types

    def parameters(self, values: dict[str, Any]) -> Any:
        """The values as the driver takes them: converted, and in order for positional styles."""
        given = self._compiled.construct_params(values)
        for name, convert in self._to_driver.items():
            if name in given:
                given[name] = convert(given[name])
        return [given[name] for name in self._order] if self._order is not None else given

    def _converters(self, cursor: Any) -> list[tuple[int, Any]]:
        """Only the columns whose type converts anything (times, JSON, booleans on SQLite).
        Some types ask what the driver said it sent (PostgreSQL's float or numeric)."""
        if self._from_driver is None:
            sent = [item[1] for item in cursor.description]
            self._from_driver = [
                (index, convert)
                for index, (column, type_code) in enumerate(zip(self._columns, sent, strict=True))
                if (
                    convert := column.type.dialect_impl(self._dialect).result_processor(
                        self._dialect, type_code
                    )
                )
            ]
        return self._from_driver

    def rows(self, cursor: Any) -> list[dict[str, Any]]:
        """The cursor's rows as the statement's columns by name, converted back from the
        driver."""
        fetched = cursor.fetchall()
        if not fetched:
            return []
        names, converting = self.names, self._converters(cursor)
        found = []
        for values in fetched:
            if converting:
                values = list(values)
                for index, convert in converting:
                    values[index] = convert(values[index])
            found.append(dict(zip(names, values, strict=True)))
        return found

    def row(self, cursor: Any) -> dict[str, Any] | None:
        """The cursor's one row (or None), as `rows` gives it."""
        found = self.rows(cursor)
        return found[0] if found else None


class DriverStatements:
    """Named statements, compiled on first use for each kind of database they run on."""

    def __init__(self, **statements: Executable | tuple[Executable, list[str]]) -> None:
        self._statements = {
            name: statement if isinstance(statement, tuple) else (statement, None)
            for name, statement in statements.items()
        }

    def for_engine(self, engine: Engine) -> dict[str, DriverStatement]:
        # What a statement compiles to depends on the dialect and driver only, not the engine.
        return {
            name: compiled_once(engine.dialect, (self, name), lambda s=statement: s, keys)
            for name, (statement, keys) in self._statements.items()
        }


# The newest few hundred shapes: a page's shape includes its size and filters, which a client
# chooses, so the statements kept are bounded.
_COMPILED: OrderedDict[tuple[str, str, Hashable], DriverStatement] = OrderedDict()
KEEP_COMPILED = 512
_COMPILED_LOCK = threading.Lock()


def compiled_once(
    dialect: Dialect,
    shape: Hashable,
    build: Callable[[], Executable],
    column_keys: list[str] | None = None,
) -> DriverStatement:
    """The statement of this shape for the dialect, built and compiled on first use.

    The shape says which statement it is, and must tell apart every statement `build` can
    make: e.g. one per number of ids in an IN list, or a `DriverStatements` and a name.
    `column_keys`: the columns an INSERT is compiled with (its values).
    """
    key = (dialect.name, dialect.driver, shape)
    with _COMPILED_LOCK:  # sessions' worker threads share the statements
        compiled = _COMPILED.get(key)
        if compiled is None:
            compiled = _COMPILED[key] = DriverStatement(build(), dialect, column_keys)
            if len(_COMPILED) > KEEP_COMPILED:
                _COMPILED.popitem(last=False)
        else:
            _COMPILED.move_to_end(key)
        return compiled


def padded(ids: list[int]) -> list[int]:
    """`ids` repeated at the end up to a power of two (at least 4): an IN list of that many
    places, so a handful of compiled statements (and PostgreSQL plans) serve every length."""
    size = 4
    while size < len(ids):
        size *= 2
    return ids + ids[-1:] * (size - len(ids))


class DriverRead:
    """Reads on the driver connection of a session's transaction, so on its snapshot.

    On PostgreSQL the statements sent inside `together()` travel in one round trip, with the
    setting that plans them once (GENERIC_PLANS), and the client waits once, when it fetches
    the first answer.
    """

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        self.dialect = connection.dialect
        self._connection = connection.connection.driver_connection
        self._pipelined = self.dialect.name == "postgresql"

    @contextmanager
    def together(self) -> Iterator[None]:
        if not self._pipelined:
            yield
            return
        with self._connection.pipeline():
            self._connection.execute(GENERIC_PLANS)
            yield

    def send(self, statement: DriverStatement, values: dict[str, Any]) -> Any:
        """Run a statement; its cursor, to give to `rows` when the answer is needed."""
        cursor = self._connection.cursor()
        cursor.execute(statement.sql, statement.parameters(values))
        return cursor

    def rows(self, statement: DriverStatement, cursor: Any) -> list[dict[str, Any]]:
        return statement.rows(cursor)


class DriverWrite:
    """One write transaction on the driver's connection.

    On PostgreSQL the whole transaction is one pipeline: statements are sent as they are run
    and travel together, and the client waits only when it fetches an answer (`one`) and at
    COMMIT. A save that reads once and inserts once waits three times in all.
    """

    def __init__(self, connection: Any, statements: dict[str, DriverStatement], dialect: str):
        self._connection = connection
        self._statements = statements
        self._pipelined = dialect == "postgresql"
        self._cursor = None if self._pipelined else connection.cursor()

    def run(self, name: str, values: dict[str, Any]) -> Any:
        """Send a statement; its cursor, to fetch from with `one` when its answer is needed."""
        statement = self._statements[name]
        # A pipeline keeps each statement's result on its own cursor until it is fetched.
        cursor = self._connection.cursor() if self._pipelined else self._cursor
        cursor.execute(statement.sql, statement.parameters(values))
        return cursor

    def one(self, name: str, cursor: Any) -> dict[str, Any] | None:
        """The statement's one row (or None), converted back from the driver."""
        return self._statements[name].row(cursor)


@contextmanager
def writing_on_driver(engine: Engine, statements: DriverStatements) -> Iterator[DriverWrite]:
    """A write transaction straight on a pooled driver connection: committed when the block
    ends, rolled back on error. On SQLite it opens with BEGIN IMMEDIATE like every write."""
    dialect = engine.dialect.name
    with engine.connect() as pooled:
        connection = pooled.connection.driver_connection
        if dialect == "sqlite":
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield DriverWrite(connection, statements.for_engine(engine), dialect)
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
            return
        # PostgreSQL: BEGIN and COMMIT are sent as statements of the pipeline, rather than by
        # psycopg on its own (which waits for the BEGIN before sending anything else).
        connection.autocommit = True
        try:
            with connection.pipeline():
                connection.execute("BEGIN")
                connection.execute(GENERIC_PLANS)
                yield DriverWrite(connection, statements.for_engine(engine), dialect)
                connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")  # a warning only, if nothing was begun
            raise
        finally:
            connection.autocommit = False  # as the pool hands it out
