"""Load: check-ins and live rounds screens at three times a ward's busiest hour.

A ward's peak: 40 beds, a quarter of them on q5 (12 checks an hour each), the rest on q15
(4 an hour): 10 x 12 + 30 x 4 = 240 checks an hour, entered by 2 technicians, watched by 6 open
screens (tablets, the station, the charge nurse). Three times that is three such wards at once,
in one server process whose threads stand for the Flet handlers (which run database work in
asyncio.to_thread). Every check is due on its patient's interval; a technician thread takes the
patient due soonest and saves the check when due.

Time is compressed by --speed (default 30: two real seconds are one ward minute), so minutes
show hours; the service clock is that ward clock, so due times, lateness and the duplicate
guard see ward time while the database and the threads run at full real speed. Each screen
polls `last_ward_change` every 2 real seconds, reloads `rounds_for` when the ward changed, and
opens a patient's timeline about every 20 s. Latencies are wall-clock times of the service
calls. Errors a user would see are counted by kind: "database is locked", pool exhaustion,
anything else; all must be 0.

    python -m bench.load --db sqlite             # 5 minutes (150 ward minutes at --speed 30)
    python -m bench.load --db postgres --quick   # 15 seconds
"""

import heapq
import random
import statistics
import sys
import threading
import time
from datetime import datetime, timedelta

from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.services.access import Actor
from app.services.check_ins import DUPLICATE_WINDOW, ON_TIME_FACTOR, last_ward_change
from app.services.check_ins import record_check_in as save_check
from app.services.rounds import rounds_for
from app.services.timeline import timeline_for
from bench import BenchWard, arguments, figures, fresh_database, make_ward, open_database
from models.codes import LateReason, Location, ObservationLevel, Status
from models.fields import utc_now

WARDS = 3
BEDS = 40
Q5_BEDS = BEDS // 4
TECHNICIANS = 2
SCREENS = 6
POLL_SECONDS = 2.0
TIMELINE_EVERY_SECONDS = 20.0


class WardClock:
    """Ward time running `speed` times faster than real time from `start`."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start = start
        self.speed = speed
        self.began = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self.began) * self.speed)

    def real_seconds_until(self, moment: datetime) -> float:
        return max(0.0, (moment - self()).total_seconds() / self.speed)


class Tally:
    """Latencies and errors, shared by every thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {
            "save": [],
            "poll": [],
            "rounds": [],
            "timeline": [],
        }
        self.errors = {"locked": 0, "pool": 0, "other": 0}
        self.examples: list[str] = []
        self.late = 0
        self.polls = 0

    def timed(self, what: str, call) -> object:
        began = time.perf_counter()
        try:
            result = call()
        except Exception as error:  # counted and shown below the figures
            self.failed(error)
            return None
        with self.lock:
            self.latencies[what].append((time.perf_counter() - began) * 1000)
        return result

    def failed(self, error: Exception) -> None:
        message = str(error).lower()
        if "database is locked" in message or "database is busy" in message:
            kind = "locked"
        elif isinstance(error, PoolTimeout) or "queuepool" in message:
            kind = "pool"
        else:
            kind = "other"
        with self.lock:
            self.errors[kind] += 1
            if len(self.examples) < 10:
                self.examples.append(f"{kind}: {type(error).__name__}: {error}"[:300])


def technician(db, clock: WardClock, actor: Actor, due: list, lock, stop, tally: Tally) -> None:
    """Check the patient due soonest, when due, until stopped."""
    rng = random.Random(actor.staff_id)
    while not stop.is_set():
        with lock:
            when, patient_id, interval = heapq.heappop(due)
        if stop.wait(clock.real_seconds_until(when)):
            return
        seen = clock()
        late = seen > when - interval + interval * ON_TIME_FACTOR - DUPLICATE_WINDOW
        form = {
            "patient_id": patient_id,
            "observed_at": seen,
            "location": rng.choice([Location.day_room, Location.own_room]).value,
            "status": rng.choice([Status.resting, Status.reading, Status.eating]).value,
            "mood": rng.randint(3, 8),
            "late_reason": LateReason.staff_emergency.value if late else None,
            "client_key": f"load-{patient_id}-{seen.timestamp():.0f}-{rng.random():.6f}",
        }
        if late:
            with tally.lock:
                tally.late += 1
        tally.timed("save", lambda form=form: save_check(db, actor, form))
        with lock:
            heapq.heappush(due, (seen + interval, patient_id, interval))


def screen(db, actor: Actor, ward: BenchWard, stop, tally: Tally, seed: int) -> None:
    """An open rounds screen: poll, reload when the ward changed, open a timeline now and then."""
    rng = random.Random(seed)
    seen = 0
    next_timeline = time.monotonic() + rng.uniform(0, TIMELINE_EVERY_SECONDS)
    stop.wait(rng.uniform(0, POLL_SECONDS))
    while not stop.is_set():
        newest = tally.timed(
            "poll", lambda seen=seen: last_ward_change(db, actor, ward.ward_id, after=seen)
        )
        with tally.lock:
            tally.polls += 1
        if newest is not None and newest != seen:
            seen = newest
            tally.timed("rounds", lambda: rounds_for(db, actor, ward.ward_id))
        if time.monotonic() >= next_timeline:
            patient_id = rng.choice(ward.patient_ids)
            tally.timed("timeline", lambda p=patient_id: timeline_for(db, actor, p, limit=50))
            next_timeline += TIMELINE_EVERY_SECONDS
        stop.wait(POLL_SECONDS)


def percentile(values: list[float], point: int) -> float:
    if len(values) < 2:
        return round(values[0], 1) if values else 0.0
    return round(statistics.quantiles(values, n=100, method="inclusive")[point - 1], 1)


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300, help="real seconds of load")
    parser.add_argument("--speed", type=float, default=30, help="ward seconds per real second")
    args = parser.parse_args(argv)
    seconds = 15 if args.quick else args.seconds
    levels = [ObservationLevel.q5] * Q5_BEDS + [ObservationLevel.q15] * (BEDS - Q5_BEDS)
    with fresh_database(args.db, args.url) as url:
        setup = open_database(url)
        start = utc_now()
        wards = [
            make_ward(
                setup,
                code=f"LOAD{number}",
                levels=levels,
                technicians=TECHNICIANS,
                # Admitted now: each patient's first check falls due within its interval.
                admitted_at=start,
            )
            for number in range(WARDS)
        ]
        setup.dispose()
        clock = WardClock(utc_now(), args.speed)
        db = open_database(url, clock=clock)
        tally = Tally()
        stop = threading.Event()
        threads = []
        rng = random.Random(7)
        for ward in wards:
            # Each patient's first check is due somewhere in its first interval.
            due = []
            for patient_id, level in zip(ward.patient_ids, levels, strict=True):
                interval = level.check_interval
                first = clock.start + interval * rng.uniform(0.05, 1.0)
                due.append((first, patient_id, interval))
            heapq.heapify(due)
            lock = threading.Lock()
            for actor in ward.technicians:
                threads.append(
                    threading.Thread(
                        target=technician, args=(db, clock, actor, due, lock, stop, tally)
                    )
                )
            viewers = [ward.charge, *ward.technicians]
            for number in range(SCREENS):
                threads.append(
                    threading.Thread(
                        target=screen,
                        args=(db, viewers[number % len(viewers)], ward, stop, tally, number),
                    )
                )
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        db.dispose()
    saves = tally.latencies["save"]
    hour_share = seconds * args.speed / 3600
    for example in tally.examples:
        print(example)
    print(
        figures(
            engine=args.db,
            wards=WARDS,
            beds=WARDS * BEDS,
            screens=WARDS * SCREENS,
            speed=args.speed,
            seconds=seconds,
            saves=len(saves),
            # The peak of one ward is 240 checks an hour: this run's rate in those units.
            times_ward_peak=round(len(saves) / (240 * hour_share), 2) if hour_share else 0,
            saves_per_s=round(len(saves) / seconds, 2),
            save_p50_ms=percentile(saves, 50),
            save_p95_ms=percentile(saves, 95),
            save_p99_ms=percentile(saves, 99),
            save_max_ms=round(max(saves), 1) if saves else 0,
            polls=tally.polls,
            rounds_p95_ms=percentile(tally.latencies["rounds"], 95),
            timeline_p95_ms=percentile(tally.latencies["timeline"], 95),
            late_checks=tally.late,
            locked=tally.errors["locked"],
            pool=tally.errors["pool"],
            other_errors=tally.errors["other"],
            errors_shown=sum(tally.errors.values()),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
