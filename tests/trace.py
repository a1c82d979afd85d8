"""What a piece of code sends to the database, counted where the driver meets it: SQLite's own
statement trace, and on PostgreSQL libpq's trace of the protocol (each Flush or Sync is a wait
for the server). Only connections opened inside the block are traced, so the engine's pool is
emptied first and again after."""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from psycopg.pq import Trace
from sqlalchemy import Engine, event


@dataclass
class Traced:
    # SQLite: each statement, its whitespace collapsed. PostgreSQL: each frontend message.
    lines: list[str] = field(default_factory=list)

    def statements(self, words: int = 3) -> list[str]:
        """SQLite: the first `words` words of each statement."""
        return [" ".join(line.split()[:words]) for line in self.lines]

    def messages(self) -> list[str]:
        """PostgreSQL: the messages the client sent (Parse, Bind, Execute, Sync, Query...)."""
        return [line.split("\t")[2] for line in self.lines if line.startswith("F\t")]

    def waits(self) -> int:
        """PostgreSQL: how often the client waited for the server (a Flush or Sync, or a pair
        sent together, or a simple Query)."""
        sent = self.messages()
        ends = ("Flush", "Sync")
        return sum(
            1
            for at, message in enumerate(sent)
            if message == "Query" or (message in ends and (at == 0 or sent[at - 1] not in ends))
        )


@contextmanager
def traced(engine: Engine) -> Iterator[Traced]:
    found = Traced()
    with tempfile.TemporaryFile("w+") as out:
        engine.dispose()

        @event.listens_for(engine, "connect")
        def trace(connection, _record) -> None:
            if engine.dialect.name == "sqlite":
                connection.set_trace_callback(lambda sql: out.write(" ".join(sql.split()) + "\n"))
            else:
                connection.pgconn.trace(out.fileno())
                connection.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)

        try:
            yield found
        finally:
            engine.dispose()
            event.remove(engine, "connect", trace)
            out.flush()
            out.seek(0)
            found.lines = out.read().splitlines()
