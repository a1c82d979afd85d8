"""Crash: a server writing check-ins is killed with SIGKILL at random moments and restarted.

What is killed. A "server" process runs WRITERS threads; each is a technician's device sending
check-ins, one after another, each with its own form key, through `record_check_in`, the
function the Flet check-in handler calls (via asyncio.to_thread) in `rounds serve`. Driving
the Flet web client instead would put a browser and a websocket in front of the same call for
every save, and a restarted Flet server keeps no saved record of its own (PLATFORM.md:
sessions live in memory), so the service layer in a separate process is where a kill can lose
or double a record. The kill lands anywhere: in Python, in the driver, mid-commit.

What a device does. It prints `A key` before sending and `K key` once the save returned; after
a restart it sends its unacknowledged form again, with the same key and body, as the app's
drafts and retry do. A last run without a kill resends what is still unacknowledged.

What is checked, against the database: every acknowledged check is present (lost), nothing is
present that was never sent (phantom), no check is stored twice (duplicated, by key and by
patient and time), each stored check is the one sent (altered), each has exactly one audit
row (unaudited), the audit chain verifies, and the engine's own integrity check passes.

    python -m bench.crash --db sqlite            # 200 cycles
    python -m bench.crash --db postgres --quick  # 10 cycles, on a throwaway cluster
"""

import argparse
import json
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import select

from bench import ROOT, arguments, figures, fresh_database, integrity, make_ward, open_database
from models import AuditEvent, CheckIn
from models.codes import AuditAction, Location, ObservationLevel, RecordKind, Status
from models.fields import utc_now

WRITERS = 4
# Checks of one patient two minutes apart: never a duplicate (60 s), never late (q15).
SPACING = timedelta(minutes=2)
LOCATIONS = [Location.day_room, Location.own_room, Location.hallway, Location.dining]
STATUSES = [Status.resting, Status.reading, Status.talking_with_peers, Status.eating]
# The longest a server runs before it is killed; most kills land mid-write.
MAX_LIFE_SECONDS = 0.8


def request(writer: int, index: int, patient_id: int, start: datetime) -> dict:
    """The check-in a device sends as its `index`th form: always the same for the same key."""
    return {
        "patient_id": patient_id,
        "observed_at": (start + SPACING * (index + 1)).isoformat(),
        "location": LOCATIONS[index % len(LOCATIONS)].value,
        "status": STATUSES[index % len(STATUSES)].value,
        "mood": index % 11,
        "note": f"crash bench device {writer} form {index}",
        "client_key": form_key(writer, index),
    }


def form_key(writer: int, index: int) -> str:
    return f"crash-{writer}-{index:06d}"


def serve(plan: dict) -> None:
    """The server side: write each device's forms from its start index until killed."""
    from app.services.access import Actor
    from app.services.check_ins import record_check_in

    db = open_database(plan["url"])
    start = datetime.fromisoformat(plan["start"])
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def device(writer: dict) -> None:
        actor = Actor(writer["staff_id"], writer["username"])
        for index in range(writer["first"], writer["last"]):
            say(f"A {writer['number']} {index}")
            try:
                saved = record_check_in(
                    db, actor, request(writer["number"], index, writer["patient_id"], start)
                )
            except Exception as error:  # the bench reports it; a kill never gets here
                say(f"E {writer['number']} {index} {type(error).__name__}: {error}")
                return
            say(f"K {writer['number']} {index} {'replayed' if saved.replayed else 'saved'}")

    say("ready")
    threads = [threading.Thread(target=device, args=(writer,)) for writer in plan["writers"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.dispose()


class Device:
    """What one device knows: the forms it sent and the ones the server confirmed."""

    def __init__(self, number: int, staff_id: int, username: str, patient_id: int) -> None:
        self.number = number
        self.staff_id = staff_id
        self.username = username
        self.patient_id = patient_id
        self.next = 0
        self.in_flight: int | None = None

    def plan(self, forms: int) -> dict:
        first = self.in_flight if self.in_flight is not None else self.next
        return {
            "number": self.number,
            "staff_id": self.staff_id,
            "username": self.username,
            "patient_id": self.patient_id,
            "first": first,
            "last": first + forms,
        }


def run_server(url: str, start: datetime, writers: list[dict], *, kill_after: float | None):
    """Start a server, kill it after `kill_after` seconds of writing (None: let it finish)."""
    plan = json.dumps({"url": url, "start": start.isoformat(), "writers": writers})
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.crash", "--serve", plan],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line.strip())
            if line.startswith("ready"):
                ready.set()
        ready.set()

    reader = threading.Thread(target=read)
    reader.start()
    ready.wait(timeout=120)
    if kill_after is not None:
        time.sleep(kill_after)
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=None if kill_after is not None else 600)
    reader.join()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200, help="kills and restarts")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(json.loads(args.serve))
        return 0
    cycles = 10 if args.quick else args.cycles
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    chance = random.Random(seed)
    began = time.monotonic()
    with fresh_database(args.db, args.url) as url:
        db = open_database(url)
        # Far enough back that every form's time is in the past.
        start = (utc_now() - timedelta(days=60)).replace(microsecond=0)
        ward = make_ward(
            db,
            code="CRASH",
            levels=[ObservationLevel.q15] * WRITERS,
            technicians=WRITERS,
            admitted_at=start,
        )
        devices = [
            Device(number, actor.staff_id, actor.username, patient_id)
            for number, (actor, patient_id) in enumerate(
                zip(ward.technicians, ward.patient_ids, strict=True)
            )
        ]
        attempted: set[str] = set()
        acknowledged: set[str] = set()
        errors: list[str] = []
        replays = 0

        def absorb(lines: list[str]) -> None:
            nonlocal replays
            for line in lines:
                kind, *rest = line.split(" ", 3)
                if kind not in {"A", "K", "E"}:
                    continue
                device, index = devices[int(rest[0])], int(rest[1])
                if kind == "A":
                    attempted.add(form_key(device.number, index))
                    device.in_flight = index
                elif kind == "K":
                    acknowledged.add(form_key(device.number, index))
                    replays += rest[2] == "replayed"
                    device.in_flight = None
                    device.next = index + 1
                else:
                    errors.append(line)

        for _ in range(cycles):
            writers = [device.plan(10_000) for device in devices]
            absorb(run_server(url, start, writers, kill_after=chance.uniform(0, MAX_LIFE_SECONDS)))
        # Devices resend whatever is still unacknowledged, and the server is left to finish.
        unsent = [device.plan(1) for device in devices if device.in_flight is not None]
        if unsent:
            absorb(run_server(url, start, unsent, kill_after=None))
        report = check(db, start, devices, attempted, acknowledged)
        db.dispose()
    for line in errors[:10]:
        print(line)
    print(
        figures(
            engine=args.db,
            cycles=cycles,
            seed=seed,
            attempted=len(attempted),
            acknowledged=len(acknowledged),
            **report,
            replays=replays,
            errors=len(errors),
            seconds=round(time.monotonic() - began, 1),
        )
    )
    return 0


def check(db, start, devices, attempted, acknowledged) -> dict:
    """The database against what the devices sent and were told."""
    from app.services.audit import verify_chain

    by_key = {
        form_key(device.number, index): request(device.number, index, device.patient_id, start)
        for device in devices
        for index in range(device.next + 1)
    }
    with db.reading() as session:
        rows = session.exec(select(CheckIn).where(CheckIn.client_key.like("crash-%"))).all()
        present = {row.client_key for row in rows}
        same_moment = session.exec(
            select(func.count())
            .select_from(CheckIn)
            .group_by(CheckIn.patient_id, CheckIn.observed_at)
            .having(func.count() > 1)
        ).all()
        audits = dict(
            session.exec(
                select(AuditEvent.record_id, func.count())
                .where(
                    AuditEvent.action == AuditAction.create.value,
                    AuditEvent.record_kind == RecordKind.check_in.value,
                )
                .group_by(AuditEvent.record_id)
            ).all()
        )
        chain = verify_chain(session, key=db.keys.audit)
    altered = 0
    for row in rows:
        sent = by_key.get(row.client_key)
        if sent is None:
            continue
        stored = (row.observed_at.isoformat(), row.location, row.status, row.mood, row.note)
        expected = (sent["observed_at"], sent["location"], sent["status"], sent["mood"])
        if stored != (*expected, sent["note"]):
            altered += 1
    return {
        "present": len(rows),
        "lost": len(acknowledged - present),
        "phantom": len(present - attempted),
        "duplicated": (len(rows) - len(present)) + sum(count - 1 for count in same_moment),
        "altered": altered,
        "unsaved_after_retry": len(attempted - present),
        "unaudited": sum(1 for row in rows if audits.get(row.id) != 1),
        "integrity": integrity(db),
        "audit_chain": "verified" if chain.first_bad_id is None else f"broken@{chain.first_bad_id}",
        "audit_rows": chain.rows_checked,
    }


if __name__ == "__main__":
    sys.exit(main())
