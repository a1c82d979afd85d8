"""One read of a ward's rounds for all the sessions of this server process that show them.

Every open rounds screen of a ward refreshes after each save (its own; another session's, told
through Flet's pubsub; another server's, seen by the 1 s poll) and every 10 s. With a tablet at
the nurses' station and a phone per technician, that was one `rounds_for` per screen per check.
Sessions that refresh together now share one read, so a check costs the server one read of the
ward, not one per screen.

A read is shared only with a session whose ward change marker (the newest audit row id it knows
of, see `check_ins.last_ward_change`) it already covers, since it started after that change was
known, and only while it is young, since overdue states move on with the clock. Each session's
own 1 s poll still authorizes its staff member for the ward.
"""

import asyncio
import time
import weakref
from dataclasses import dataclass

from app.services.access import Actor
from app.services.rounds import Rounds, rounds_for
from app.storage.database import Database
from app.ui.context import off_loop

# How long a read serves other sessions. The 10 s refreshes of a ward's screens fall within
# this of each other often enough to share, and no due time shown moves by more.
SHARED_FOR_SECONDS = 2.0


@dataclass
class _Read:
    marker: int  # the change marker of the session that started the read
    started: float  # time.monotonic()
    loop: asyncio.AbstractEventLoop
    task: asyncio.Task[Rounds]


_reads: "weakref.WeakKeyDictionary[Database, dict[int, _Read]]" = weakref.WeakKeyDictionary()


async def shared_rounds(db: Database, actor: Actor, ward_id: int, marker: int) -> Rounds:
    """The ward's rounds as of at least `marker`: a young read started by another session when
    it covers the marker, or a new read (which later sessions may share)."""
    loop = asyncio.get_running_loop()
    reads = _reads.setdefault(db, {})
    read = reads.get(ward_id)
    if (
        read is not None
        and read.loop is loop
        and read.marker >= marker
        and time.monotonic() - read.started < SHARED_FOR_SECONDS
        and not _failed(read.task)
    ):
        return await asyncio.shield(read.task)
    task = loop.create_task(off_loop(rounds_for, db, actor, ward_id))
    reads[ward_id] = _Read(marker, time.monotonic(), loop, task)
    # Shielded: a session that leaves mid-read cancels its own wait, not the others' read.
    return await asyncio.shield(task)


def _failed(task: asyncio.Task) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)
