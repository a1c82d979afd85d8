"""Rows 4 and 5 of the speed bench: the running server, measured from a real Chromium.

`measure_server(url, quick)` starts a real `rounds serve` on the database at `url` and drives
Debian's Chromium through Playwright (flags as tests/browser/conftest.py):

- memory per live session: the server's RSS with the sessions signed in on the rounds screen,
  less its RSS with one session, per added session (target 1 MB or less);
- click to "Saved" for the one-tap routine check, p50/p95, with 1 and with 25 browser sessions
  open on the rounds screen (target p95 under 150 ms on loopback); timed inside the page, from
  the pointer going down on "Routine" to the "Undo check for ..." button (shown with "Saved")
  appearing in the page's accessibility tree; each check is undone after, so the next one is
  neither a duplicate nor late. Beside it, `raw_p50` is the same routine check saved through the
  service layer in this process, with no browser or server in between;
- the first load: bytes on the wire with the server's compression (target 7 MB or less), and
  the time until the rounds screen is usable (client loaded, plus signing in; typing excluded);
- row 5: a scripted round of 20 patients with routine checks, each patient tapped by name (the
  list re-sorts under the taps): taps and wall time.

Which ward: the database's ward with the most admitted patients; an empty database is first
filled with the demo ward (`rounds demo`, 20 patients, history up to yesterday). A technician
account with a known password is added for the browsers, and every patient on the ward gets a
check two minutes ago, so routine checks are on time and not duplicates. Secret keys: those of
`bench.keys()` unless `secret_file` is given, so audit rows stay in the bench's chain.

    python -m bench.speed_server [--db sqlite|postgres] [--url SERVER] [--quick] [--json FILE]
"""

import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from app.services.access import Actor
from app.services.accounts import CONSOLE, create_staff
from app.services.check_ins import record_routine_check, undo_check_in
from app.services.errors import Conflict, InvalidInput
from app.services.rounds import rounds_for
from app.storage.database import Database
from app.storage.schema import upgrade
from app.storage.secrets import Keys, load_or_create_secret
from bench import BENCH_SECRET, arguments, figures, fresh_database
from models import Patient, Ward
from models.codes import LateReason, Role
from models.fields import utc_now

PASSWORD = "bench passphrase, synthetic"
SESSIONS = 25
QUICK_SESSIONS = 3
CLICKS = 40
QUICK_CLICKS = 8
ROUND_PATIENTS = 20
MEMORY_TARGET_MB = 1.0
SAVED_P95_TARGET_MS = 150.0
FIRST_LOAD_TARGET_MB = 7.0
LOAD_TIMEOUT_MS = 90_000
# A check recorded this long ago keeps a q15 patient on time for 20 more minutes, and is
# outside the duplicate guard's minute.
FRESH_CHECK_AGE = timedelta(minutes=2)
# No answer at all to a tap for this long: the tap was lost (see RoundsTab.tap_routine).
LOST_TAP_SECONDS = 5.0
SLOW_SAVE_SECONDS = 60.0
# After the fresh checks, every open screen refreshes and re-sorts: let the lists settle.
SETTLE_SECONDS = 2.5
# Between two timed checks: a technician walks to the next bed. Still far above a ward's rate
# (a 40-bed ward's busiest hour is one check every 15 s), but each sample is then timed without
# the refresh waves of the previous check and its undo still running through every screen.
SAMPLE_GAP_SECONDS = 1.0
# With many sessions, the tabs not being tapped are frozen (Chromium's page lifecycle, as it
# freezes background tabs): their sessions stay live on the server, which sends them every
# update, but 24 Flutter tabs repainting after each save on this machine's 2 cores would
# measure Chromium rather than the server. On a ward each of them is a device of its own.
# Their browser runs at this niceness, behind the server (see tapped_device_apart).
BROWSER_NICENESS = 10
# In the environment of the browser that holds the sessions not being tapped (see
# tapped_device_apart), so its processes can be told from the tapped browser's.
OTHER_DEVICES = {"ROUNDS_BENCH_BROWSER": "other-devices"}
OTHER_DEVICES_MARK = b"\0ROUNDS_BENCH_BROWSER=other-devices\0"
TABLET_VIEWPORT = {"width": 1024, "height": 768}
PHONE_VIEWPORT = {"width": 390, "height": 844}

# Times, in the page, when the pointer goes down and when a label first appears in Flutter's
# accessibility tree (what get_by_role sees): both on the page's own clock, in ms since epoch.
TIMING_SCRIPT = """
window.__rounds = {downs: []};
document.addEventListener("pointerdown", () => {
  window.__rounds.downs.push(performance.timeOrigin + performance.now());
}, true);
window.__roundsLabel = (node) => (node.getAttribute("aria-label") || "") + Array.from(
  node.childNodes).filter((child) => child.nodeType === Node.TEXT_NODE)
  .map((child) => child.textContent).join("");
// A needle shows when a label holds it as whole words: "Undo check for Sam Benchpatient1" is
// not shown by "Undo check for Sam Benchpatient12".
window.__roundsShows = (label, needle) => {
  const at = label.indexOf(needle);
  return at >= 0 && !/[0-9A-Za-z]/.test(label.charAt(at + needle.length));
};
window.__roundsCount = (needle) => Array.from(document.querySelectorAll("flt-semantics"))
  .filter((node) => window.__roundsShows(window.__roundsLabel(node), needle)).length;
window.__roundsCard = (name) => {
  const anchor = Array.from(document.querySelectorAll("flt-semantics"))
    .find((node) => window.__roundsLabel(node).startsWith(name + ", room "));
  const card = anchor && anchor.parentElement.closest("flt-semantics[role=group]");
  return card ? window.__roundsLabel(card) : null;
};
window.__roundsQuiet = (quietMs, maxMs) => new Promise((resolve) => {
  let timer = null;
  const started = performance.now();
  const watcher = new MutationObserver(() => arm());
  const arm = () => {
    clearTimeout(timer);
    const left = maxMs - (performance.now() - started);
    timer = setTimeout(() => { watcher.disconnect(); resolve(true); }, Math.min(quietMs, left));
  };
  watcher.observe(document.documentElement,
    {subtree: true, childList: true, characterData: true, attributes: true});
  arm();
});
window.__roundsUntil = (done) => new Promise((resolve) => {
  const now = () => performance.timeOrigin + performance.now();
  if (done()) { resolve(now()); return; }
  const watcher = new MutationObserver(() => {
    if (done()) { watcher.disconnect(); resolve(now()); }
  });
  watcher.observe(document.documentElement,
    {subtree: true, childList: true, characterData: true, attributes: true,
     attributeFilter: ["aria-label"]});
});
"""


@dataclass(frozen=True)
class ServedWard:
    """A ward ready for browsers: its database, secret, a technician and the patients."""

    database_url: str
    secret_file: Path
    ward_id: int
    ward_name: str
    accounts: dict[str, str]  # username -> display name (all technicians, PASSWORD)
    patients: dict[str, int]  # display name -> patient id, in room order

    def env(self) -> dict[str, str]:
        """Environment for `rounds serve` on this ward."""
        return {
            "ROUNDS_DATABASE_URL": self.database_url,
            "ROUNDS_SECRET_FILE": str(self.secret_file),
        }

    def open_database(self) -> Database:
        """The ward's database with the server's keys."""
        return Database(
            self.database_url, keys=Keys.from_secret(load_or_create_secret(self.secret_file))
        )

    def actor(self, db: Database, username: str) -> Actor:
        """The account as an Actor, for service calls made as that technician."""
        from models import Staff

        with db.reading() as session:
            staff = session.exec(select(Staff).where(Staff.username == username)).one()
            return Actor(staff.id, staff.username)


def bench_secret_file(folder: Path) -> Path:
    """A secret file holding the benches' secret (the keys of `bench.keys()`)."""
    path = folder / "bench-secret.key"
    path.write_text(BENCH_SECRET.hex() + "\n")
    path.chmod(0o600)
    return path


def prepare_served_ward(
    url: str, secret_file: Path, accounts: dict[str, str] | None = None
) -> ServedWard:
    """Migrate, fill the demo ward if empty, add technicians, and check every patient now."""
    upgrade(url)
    db = Database(url, keys=Keys.from_secret(load_or_create_secret(secret_file)))
    try:
        if _ward_with_most_patients(db) is None:
            from app.demo import fill_demo_ward

            # History ending a day or more ago: no check of it sits inside the duplicate
            # guard's minute of a check made now, whatever the ward's local date.
            fill_demo_ward(db, today=utc_now().date() - timedelta(days=2))
        ward_id, ward_name = _ward_with_most_patients(db)
        suffix = uuid.uuid4().hex[:6]
        accounts = accounts or {f"speed-tech-{suffix}": f"Speed Tech {suffix}"}
        for username, display_name in accounts.items():
            create_staff(
                db,
                CONSOLE,
                {
                    "username": username,
                    "display_name": display_name,
                    "role": Role.technician,
                    "password": PASSWORD,
                    "ward_ids": [ward_id],
                },
            )
        ward = ServedWard(url, secret_file, ward_id, ward_name, dict(accounts), {})
        actor = ward.actor(db, next(iter(accounts)))
        rows = rounds_for(db, actor, ward_id).rows
        patients = {row.display_name: row.patient_id for row in rows}
        ward = ServedWard(url, secret_file, ward_id, ward_name, dict(accounts), patients)
        check_everyone(db, actor, list(patients.values()))
        _wait_out_duplicate_guard(db, list(patients.values()))
        return ward
    finally:
        db.dispose()


def _ward_with_most_patients(db: Database) -> tuple[int, str] | None:
    with db.reading() as session:
        found = session.exec(
            select(Ward.id, Ward.name, func.count(Patient.id))
            .join(Patient, Patient.ward_id == Ward.id)
            .where(Patient.discharged_at.is_(None))
            .group_by(Ward.id, Ward.name)
            .order_by(func.count(Patient.id).desc(), Ward.id)
            .limit(1)
        ).first()
    return (found[0], found[1]) if found else None


def check_everyone(db: Database, actor: Actor, patient_ids: list[int]) -> None:
    """A routine check two minutes ago for every patient, so the next ones are on time."""
    observed_at = db.clock() - FRESH_CHECK_AGE
    for patient_id in patient_ids:
        request = {
            "patient_id": patient_id,
            "observed_at": observed_at,
            "client_key": f"speed-fresh-{uuid.uuid4().hex}",
        }
        try:
            record_routine_check(db, actor, request)
        except InvalidInput:
            record_routine_check(db, actor, {**request, "late_reason": LateReason.other})
        except Conflict:
            pass  # checked within the minute already: fresh enough


def _wait_out_duplicate_guard(db: Database, patient_ids: list[int]) -> None:
    """Sleep until no current check is inside the duplicate guard's minute of now.

    Only a database whose history runs up to this moment has such checks; the demo ward's
    history ends yesterday and the fresh checks are two minutes old.
    """
    from app.services.check_ins import DUPLICATE_WINDOW
    from app.services.records import current
    from models import CheckIn

    with db.reading() as session:
        newest = session.exec(
            select(func.max(CheckIn.observed_at)).where(
                CheckIn.patient_id.in_(patient_ids), current(CheckIn)
            )
        ).one()
    if newest is not None:
        wait = (newest + DUPLICATE_WINDOW - db.clock()).total_seconds() + 1
        if wait > 0:
            time.sleep(wait)


# --- the browser side ---------------------------------------------------------------------


def chromium_options() -> dict[str, Any]:
    """Playwright launch options: Debian's Chromium with the browser tests' flags."""
    from tests.browser.conftest import CHROMIUM_ARGS, CHROMIUM_PATH

    return {"executable_path": CHROMIUM_PATH, "args": CHROMIUM_ARGS}


@contextmanager
def tapped_device_apart(server_pid: int, niceness: int = BROWSER_NICENESS) -> Iterator[None]:
    """While the block runs, keep the tapped browser on a CPU of its own, and the browser of
    the other sessions (launched with `OTHER_DEVICES`) behind the server on the other CPUs.

    On a ward the tapped tablet has its own CPU, and so has every other device. Here they all
    share this machine's two cores with the server, and the same code measured 64 ms one run
    and 300 ms the next: the 24 frozen tabs still took half a core between them (each handles
    its socket's updates), and whichever process lost the race, the tapped tab painting
    "Saved" or the server, added its wait to the tap. So the tapped browser gets the last CPU;
    the server, the other devices' browser (at a lower priority than the server), the
    Playwright driver and this bench share the rest. With one CPU only the priorities are
    kept. Chromium run as root raises its own GPU process to nice -8 and its visible
    renderers to 0, and starts threads and processes as it goes, so all this is set again
    every half second.
    """
    cpus = sorted(os.sched_getaffinity(0))
    tapped_cpus, rest_cpus = set(cpus[-1:]), set(cpus[:-1] or cpus)
    stop = threading.Event()

    # What is already known, so each pass costs little of the CPU the server shares: whether
    # a process was launched with the mark, and how many threads it had when placed (new
    # threads start on their creator's CPUs).
    marked: dict[int, bool] = {}
    placed: dict[int, int] = {}

    def place(pid: int, cpus: set[int], niceness: int | None) -> None:
        with suppress(OSError):
            if niceness is not None and os.getpriority(os.PRIO_PROCESS, pid) != niceness:
                os.setpriority(os.PRIO_PROCESS, pid, niceness)
            threads = len(os.listdir(f"/proc/{pid}/task"))
            if placed.get(pid) != threads:
                _place(pid, cpus)
                placed[pid] = threads

    def keep() -> None:
        while True:
            parents = _parents()
            mine = _under(parents, os.getpid(), leaving_out=server_pid)
            for pid in mine:
                if pid not in marked:
                    marked[pid] = _marked(pid)
            others = {pid for pid in mine if marked[pid]}
            for pid in mine:
                if others & _lineage(parents, pid):
                    place(pid, rest_cpus, niceness)
                elif _is_chromium(pid):
                    place(pid, tapped_cpus, 0)
                else:  # the Playwright driver
                    place(pid, rest_cpus, 0)
            place(os.getpid(), rest_cpus, None)
            place(server_pid, rest_cpus, None)
            if stop.wait(0.5):
                return

    watcher = threading.Thread(target=keep, name="tapped-device-apart", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        _place(os.getpid(), set(cpus))


def _parents() -> dict[int, int]:
    """Every process's parent."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                # "pid (comm) state ppid ...": comm may hold spaces, so split after the ")".
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    return parents


def _lineage(parents: dict[int, int], pid: int) -> set[int]:
    """The process and its ancestors."""
    found = set()
    while pid and pid not in found:
        found.add(pid)
        pid = parents.get(pid, 0)
    return found


def _under(parents: dict[int, int], root: int, leaving_out: int) -> list[int]:
    """Processes under root, except leaving_out and its own descendants."""
    found = []
    for pid in parents:
        lineage = _lineage(parents, pid)
        if pid != root and root in lineage and leaving_out not in lineage:
            found.append(pid)
    return found


def _marked(pid: int) -> bool:
    """Launched with OTHER_DEVICES (Chromium's own children get a fresh environment)."""
    with suppress(OSError):
        return OTHER_DEVICES_MARK in b"\0" + Path(f"/proc/{pid}/environ").read_bytes()
    return False


def _is_chromium(pid: int) -> bool:
    with suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().startswith(("chromium", "chrome"))
    return False


def _place(pid: int, cpus: set[int]) -> None:
    """Keep every thread of a process on these CPUs."""
    with suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with suppress(OSError):
                if os.sched_getaffinity(int(task.name)) != cpus:
                    os.sched_setaffinity(int(task.name), cpus)


@dataclass
class RoundsTab:
    """One browser tab on Rounds: open, sign in, tap routine checks, time what appears."""

    page: Any  # playwright.sync_api.Page
    taps: int = 0
    lost_taps: int = 0
    server_bytes: int = 0  # bytes on the wire for HTTP responses (CDP), once `record_bytes`
    _cdp: Any = field(default=None, repr=False)

    @classmethod
    def new(cls, context: Any) -> "RoundsTab":
        """A tab in `context` with the timing script installed."""
        page = context.new_page()
        page.add_init_script(TIMING_SCRIPT)
        return cls(page)

    def freeze(self, frozen: bool = True) -> None:
        """Freeze or thaw the page: a frozen page runs no script or painting, while its
        connection, and so its session on the server, stays open."""
        if self._cdp is None:
            self._cdp = self.page.context.new_cdp_session(self.page)
        self._cdp.send("Page.setWebLifecycleState", {"state": "frozen" if frozen else "active"})

    def record_bytes(self) -> None:
        """Count bytes on the wire (headers and compressed bodies) from now on."""
        if self._cdp is None:
            self._cdp = self.page.context.new_cdp_session(self.page)
        self._cdp.send("Network.enable")
        self._cdp.on("Network.loadingFinished", self._loaded)

    def _loaded(self, event: dict[str, Any]) -> None:
        self.server_bytes += int(event["encodedDataLength"])

    def open(self, url: str) -> float:
        """Load Rounds at url; seconds until the sign-in screen can be used."""
        started = time.monotonic()
        self.page.goto(url)
        self.page.wait_for_selector("#loading", state="detached", timeout=LOAD_TIMEOUT_MS)
        self.enable_semantics()
        self.page.get_by_role("textbox", name="Username").wait_for(timeout=LOAD_TIMEOUT_MS)
        return time.monotonic() - started

    def enable_semantics(self) -> None:
        """Turn on Flutter's accessibility tree (see tests/browser/conftest.py)."""
        self.page.locator("flt-semantics-placeholder").wait_for(
            state="attached", timeout=LOAD_TIMEOUT_MS
        )
        self.page.evaluate("document.querySelector('flt-semantics-placeholder').click()")
        self.page.locator("flt-semantics").first.wait_for(state="attached", timeout=LOAD_TIMEOUT_MS)

    def type_into(self, label: str, text: str) -> None:
        """Type into a Flutter text field (fill() can race the field's focus)."""
        self.page.get_by_role("textbox", name=label).click()
        self.page.wait_for_timeout(200)  # Flutter moves its editing element to the field
        self.page.keyboard.type(text)

    def sign_in(self, username: str, password: str = PASSWORD) -> float:
        """Sign in; seconds from pressing Enter until the rounds list can be tapped."""
        self.type_into("Username", username)
        self.type_into("Password", password)
        started = time.monotonic()
        self.page.keyboard.press("Enter")
        self.routine_buttons().first.wait_for(timeout=LOAD_TIMEOUT_MS)
        return time.monotonic() - started

    def routine_buttons(self) -> Any:
        import re

        return self.page.get_by_role("button", name=re.compile("^Routine check for "))

    def button(self, name: str, kind: str = "Routine") -> Any:
        return self.page.get_by_role("button", name=f"{kind} check for {name}", exact=True)

    def settle(self, quiet_ms: int = 400, max_ms: int = 15_000) -> None:
        """Wait until the page has not changed for `quiet_ms` (a list may still be re-sorting
        after a throttled tab caught up, and a tap then lands on the wrong row)."""
        self.page.evaluate("([q, m]) => window.__roundsQuiet(q, m)", [quiet_ms, max_ms])

    def back_to_rounds(self) -> None:
        """If a tap opened a patient's check-in instead, go back to the rounds list."""
        if self.routine_buttons().count():
            return
        back = self.page.get_by_role("button", name="Back")
        if back.count():
            back.first.click()
        self.routine_buttons().first.wait_for(timeout=LOAD_TIMEOUT_MS)

    def scroll_down(self, screens: float = 0.66) -> None:
        """Scroll the list down by so many screen heights (negative: up)."""
        size = self.page.viewport_size
        self.page.mouse.move(size["width"] * 0.6, size["height"] * 0.55)
        self.page.mouse.wheel(0, size["height"] * screens)
        self.page.wait_for_timeout(250)  # let the list scroll and build

    def reveal(self, locator: Any, tries: int = 40) -> Any:
        """Scroll until a control is fully on screen (Flutter builds only what is near)."""
        size = self.page.viewport_size
        self.page.mouse.move(size["width"] * 0.6, size["height"] * 0.55)
        top, bottom = 72, size["height"] - 96  # clear of the app bar and the bottom bar
        for step in range(tries):
            box = locator.first.bounding_box() if locator.count() else None
            if box and box["y"] >= top and box["y"] + box["height"] <= bottom:
                return locator
            if box is not None:
                delta = box["y"] - size["height"] / 3
            else:
                delta = 300 if step < tries // 2 else -600  # down first, then up
            self.page.mouse.wheel(0, delta)
            self.page.wait_for_timeout(150)  # let the list scroll and build
        raise AssertionError(f"could not bring {locator} on screen")

    def watch(self, *needles: str, shown: bool = True) -> None:
        """Start waiting, in the page, until every needle is shown (or, shown=False, gone)."""
        self.page.evaluate(
            """([needles, shown]) => { window.__watch = window.__roundsUntil(() =>
                 needles.every((needle) => (window.__roundsCount(needle) > 0) === shown)); }""",
            [list(needles), shown],
        )

    def count(self, needle: str) -> int:
        """How many controls on screen show `needle` (in a label or as text)."""
        return int(self.page.evaluate("(needle) => window.__roundsCount(needle)", needle))

    def watch_count(self, needle: str, at_least: int) -> None:
        """Start waiting, in the page, until `needle` shows on at least so many controls."""
        self.page.evaluate(
            """([needle, n]) => { window.__watch = window.__roundsUntil(() =>
                 window.__roundsCount(needle) >= n); }""",
            [needle, at_least],
        )

    def seen_at(self, timeout_s: float = 20.0) -> float:
        """When the watched change happened (page clock, ms since epoch)."""
        seen = self.page.evaluate(
            """(timeout) => Promise.race([window.__watch,
                 new Promise((resolve) => setTimeout(() => resolve(null), timeout))])""",
            timeout_s * 1000,
        )
        if seen is None:
            shown = self.page.evaluate(
                """() => Array.from(document.querySelectorAll("flt-semantics"))
                     .map((node) => node.getAttribute("aria-label") || "").filter(Boolean)"""
            )
            raise AssertionError(f"not seen within {timeout_s} s; the screen shows {shown}")
        return float(seen)

    def last_down(self) -> float:
        """When the pointer last went down on the page (page clock, ms since epoch)."""
        return float(self.page.evaluate("window.__rounds.downs[window.__rounds.downs.length-1]"))

    def tap_routine(self, name: str) -> float:
        """Tap "Routine" for a patient; ms from the tap until "Saved" (with Undo) is on screen.

        A tap that missed (no "Saving…" and no "Saved" after LOST_TAP_SECONDS, or the row had
        moved and the tap opened a check-in instead) is counted in `lost_taps` and made again.
        """
        for _ in range(3):
            target = self.reveal(self.button(name))
            self.watch(f"Undo check for {name}")
            target.click()
            self.taps += 1
            tapped = self.last_down()
            try:
                return self.seen_at(timeout_s=LOST_TAP_SECONDS) - tapped
            except AssertionError:
                card = self.page.evaluate("(name) => window.__roundsCard(name)", name)
                if card is not None and "Saving" in card:
                    return self.seen_at(timeout_s=SLOW_SAVE_SECONDS) - tapped  # only slow
                if not self.routine_buttons().count():
                    # The row moved under the pointer and the tap opened a check-in.
                    self.back_to_rounds()
                elif not self.button(name).count():
                    return self.seen_at(timeout_s=SLOW_SAVE_SECONDS) - tapped  # taken
                self.lost_taps += 1
                self.taps -= 1  # counted apart: not a tap the task needed
                self.settle()
        raise AssertionError(
            f"three taps on Routine for {name} went unanswered; its row shows {card!r}"
        )


def rss_mb(pid: int) -> float:
    """A process's resident set size, MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share 0.95 for p95)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


# --- the measures --------------------------------------------------------------------------


def _row(
    measure: str,
    rounds_p50: str,
    rounds_p95: str = "",
    raw_p50: str = "",
    ratio: str = "",
    target: str = "",
    met: bool = True,
) -> dict[str, Any]:
    return {
        "measure": measure,
        "rounds_p50": rounds_p50,
        "rounds_p95": rounds_p95,
        "raw_p50": raw_p50,
        "ratio": ratio,
        "target": target,
        "met": met,
    }


def _click_latencies(
    tabs: list[RoundsTab], ward: ServedWard, username: str, clicks: int
) -> tuple[list[float], int]:
    """Routine checks on the first tab, patient after patient, while the other tabs' sessions
    stay live with their pages frozen: the click-to-Saved times (ms) and how many taps missed
    and were made again.

    Each check is voided right after through the service layer (as Undo would), so the next
    check of that patient is neither a duplicate nor late.
    """
    names = list(ward.patients)
    active, passive = tabs[0], tabs[1:]
    lost_before = active.lost_taps
    times = []
    db = ward.open_database()
    for tab in passive:
        tab.freeze()
    try:
        actor = ward.actor(db, username)
        for number in range(clicks):
            name = names[number % len(names)]
            times.append(active.tap_routine(name))
            _void_last_check(db, actor, ward.patients[name])
            time.sleep(SAMPLE_GAP_SECONDS)
    finally:
        db.dispose()
        for tab in passive:
            tab.freeze(False)
    return times, active.lost_taps - lost_before


def _void_last_check(db: Database, actor: Actor, patient_id: int) -> None:
    """Undo the actor's newest check of the patient (what the Undo button does)."""
    from app.services.records import current
    from models import CheckIn

    with db.reading() as session:
        check_id = session.exec(
            select(CheckIn.id)
            .where(
                CheckIn.patient_id == patient_id,
                CheckIn.recorded_by == actor.staff_id,
                current(CheckIn),
            )
            .order_by(CheckIn.id.desc())
            .limit(1)
        ).one()
    undo_check_in(db, actor, check_id)


def _raw_saves(ward: ServedWard, username: str, names: list[str], count: int) -> list[float]:
    """The same routine check (and undo) through the service layer alone: ms per save."""
    db = ward.open_database()
    try:
        actor = ward.actor(db, username)
        times = []
        for number in range(count):
            patient_id = ward.patients[names[number % len(names)]]
            started = time.perf_counter()
            saved = record_routine_check(
                db,
                actor,
                {
                    "patient_id": patient_id,
                    "observed_at": db.clock(),
                    "client_key": f"speed-raw-{uuid.uuid4().hex}",
                },
            )
            times.append((time.perf_counter() - started) * 1000)
            undo_check_in(db, actor, saved.id)
        return times
    finally:
        db.dispose()


def _latency_row(label: str, times: list[float], lost: int, raw: list[float]) -> dict[str, Any]:
    p50, p95 = statistics.median(times), percentile(times, 0.95)
    raw_p50 = statistics.median(raw)
    if lost:
        label += f" ({lost} of {len(times) + lost} taps missed and were made again)"
    return _row(
        label,
        f"{p50:.0f} ms",
        f"{p95:.0f} ms",
        f"{raw_p50:.1f} ms",
        f"{p50 / raw_p50:.1f}",
        f"p95 < {SAVED_P95_TARGET_MS:.0f} ms",
        p95 < SAVED_P95_TARGET_MS,
    )


@contextmanager
def _served(ward: ServedWard, folder: Path) -> Iterator[Any]:
    from tests.web.live_server import rounds_serve

    # Open sessions wait minutes for their turn to be tapped: longer than a ward's idle lock.
    env = {**ward.env(), "ROUNDS_IDLE_LOCK_MINUTES": "120", "ROUNDS_IDLE_SIGN_OUT_MINUTES": "240"}
    with rounds_serve(folder, env=env) as server:
        yield server


def measure_server(url: str, quick: bool, *, secret_file: Path | None = None) -> list[dict]:
    """Rows 4 and 5 of the speed table, measured against a real `rounds serve` on `url`."""
    from playwright.sync_api import sync_playwright

    sessions = QUICK_SESSIONS if quick else SESSIONS
    clicks = QUICK_CLICKS if quick else CLICKS
    with tempfile.TemporaryDirectory(prefix="rounds-speed-server-") as folder_name:
        folder = Path(folder_name)
        secret = secret_file or bench_secret_file(folder)
        ward = prepare_served_ward(url, secret)
        username = next(iter(ward.accounts))
        names = list(ward.patients)
        rows: list[dict] = []
        began = time.monotonic()

        def progress(what: str) -> None:
            print(f"speed_server [{time.monotonic() - began:4.0f} s] {what}", file=sys.stderr)

        with (
            _served(ward, folder / "server") as server,
            sync_playwright() as driver,
            tapped_device_apart(server.process.pid),
        ):
            browser = driver.chromium.launch(**chromium_options())
            others = None
            try:
                # First load: a fresh profile, nothing cached.
                rss_empty = rss_mb(server.process.pid)
                cold = browser.new_context(viewport=TABLET_VIEWPORT)
                first = RoundsTab.new(cold)
                first.record_bytes()
                loaded_in = first.open(server.url("/"))
                signed_in_in = first.sign_in(username)
                first_bytes = first.server_bytes
                mb = first_bytes / 1e6
                rows.append(
                    _row(
                        "First load: bytes on the wire (gzip)",
                        f"{mb:.2f} MB",
                        target=f"<= {FIRST_LOAD_TARGET_MB:.0f} MB",
                        met=mb <= FIRST_LOAD_TARGET_MB,
                    )
                )
                rows.append(
                    _row(
                        "First load: until the rounds screen is usable (load + sign-in)",
                        f"{loaded_in + signed_in_in:.1f} s ({loaded_in:.1f} + {signed_in_in:.1f})",
                    )
                )
                progress("first load measured")
                # One session: click to Saved.
                raw = _raw_saves(ward, username, names, max(clicks, 20))
                check_everyone_again(ward, username)
                one, lost = _click_latencies([first], ward, username, clicks)
                rows.append(
                    _latency_row("Click to Saved, routine check, 1 session", one, lost, raw)
                )
                rss_one = rss_mb(server.process.pid)
                progress("one session measured")

                # Many sessions on the rounds screen: memory, then click to Saved.
                tabs = [first]
                # The other devices: a browser of their own, kept at a lower priority.
                others = driver.chromium.launch(
                    **chromium_options(), env={**os.environ, **OTHER_DEVICES}
                )
                for _ in range(sessions - 1):
                    # A browser context each: its own renderer process, so one tab can be
                    # frozen without stopping another. Phones: what most technicians carry,
                    # and a quarter of the tablet's pixels to paint.
                    tab = RoundsTab.new(others.new_context(viewport=PHONE_VIEWPORT))
                    tab.open(server.url("/"))
                    tab.sign_in(username)
                    tabs.append(tab)
                progress(f"{sessions} sessions open")
                time.sleep(3)  # let every session settle after its first refresh
                rss_many = rss_mb(server.process.pid)
                per_session = (rss_many - rss_one) / (sessions - 1)
                rows.append(
                    _row(
                        f"Server memory per live session on the rounds screen ({len(names)} "
                        f"patients; RSS {rss_empty:.0f} MB idle, {rss_one:.0f} MB with 1 "
                        f"session, {rss_many:.0f} MB with {sessions}; per session after the "
                        "first, whose one-time imports are not per session)",
                        f"{per_session:.2f} MB",
                        target=f"<= {MEMORY_TARGET_MB:.0f} MB",
                        met=per_session <= MEMORY_TARGET_MB,
                    )
                )
                check_everyone_again(ward, username)
                many, lost = _click_latencies(tabs, ward, username, clicks)
                rows.append(
                    _latency_row(
                        f"Click to Saved, routine check, {sessions} sessions", many, lost, raw
                    )
                )
                progress(f"{sessions} sessions measured")
                others.close()
                others = None

                # Row 5: a round of 20 patients, one tap each, as fast as the screen allows.
                check_everyone_again(ward, username)
                rows.append(_scripted_round(first, ward, username, min(ROUND_PATIENTS, len(names))))
                progress("scripted round measured")
            finally:
                if others is not None:
                    others.close()
                browser.close()
        return rows


def check_everyone_again(ward: ServedWard, username: str) -> None:
    """Another fresh check for every patient (a phase may outlast the last one's margin)."""
    db = ward.open_database()
    try:
        check_everyone(db, ward.actor(db, username), list(ward.patients.values()))
    finally:
        db.dispose()
    time.sleep(SETTLE_SECONDS)  # a list re-sorting under the pointer would take the tap


def _scripted_round(
    tab: RoundsTab, ward: ServedWard, username: str, patients: int
) -> dict[str, Any]:
    """A round as a technician makes it: down the list, one tap on "Routine" per patient.

    The patients are chosen by name before the round starts: the first `patients` of the
    ward's rounds list in its order at that moment (the service's order, which the settled
    screen shows). Not by place on the screen: the list re-sorts under the taps (a checked
    patient moves down once its Undo offer ends), so a walk by position skipped patients and
    ran out of list. `tap_routine` scrolls each one's button into view and makes a missed tap
    again (counted apart). Met when the round took one tap per patient and the database holds
    one new check for each of them and none for anyone else.
    """
    names = _round_order(ward, username)[:patients]
    newest = _newest_check_id(ward)
    taps_before, lost_before = tab.taps, tab.lost_taps
    tab.scroll_down(-50)  # the top of the list, where a round starts
    started = time.monotonic()
    for name in names:
        tab.tap_routine(name)
    wall = time.monotonic() - started
    taps = tab.taps - taps_before
    lost = tab.lost_taps - lost_before
    saved = _checks_since(ward, newest)
    wanted = {ward.patients[name]: 1 for name in names}
    measure = f"Scripted round: {len(names)} patients, routine checks (taps, wall time)"
    if lost:
        measure += f" ({lost} missed taps made again, not counted)"
    if saved != wanted:
        measure += (
            f" (checks saved: {sum(saved.values())} for {len(saved)} patients, "
            f"{sum(1 for patient in wanted if saved.get(patient) != 1)} of the round's "
            f"{len(wanted)} patients without exactly one)"
        )
    return _row(
        measure,
        f"{taps} taps, {wall:.1f} s",
        target=f"{patients} taps",
        met=taps == patients == len(set(names)) and saved == wanted,
    )


def _round_order(ward: ServedWard, username: str) -> list[str]:
    """The ward's patients by name, in the rounds list's order now."""
    db = ward.open_database()
    try:
        return [
            row.display_name for row in rounds_for(db, ward.actor(db, username), ward.ward_id).rows
        ]
    finally:
        db.dispose()


def _newest_check_id(ward: ServedWard) -> int:
    """The id of the newest check on the database (0 without any)."""
    from models import CheckIn

    db = ward.open_database()
    try:
        with db.reading() as session:
            return session.exec(select(func.max(CheckIn.id))).one() or 0
    finally:
        db.dispose()


def _checks_since(ward: ServedWard, newest: int) -> dict[int, int]:
    """Current checks added after check `newest`: how many for each patient."""
    from app.services.records import current
    from models import CheckIn

    db = ward.open_database()
    try:
        with db.reading() as session:
            found = session.exec(
                select(CheckIn.patient_id, func.count(CheckIn.id))
                .where(CheckIn.id > newest, current(CheckIn))
                .group_by(CheckIn.patient_id)
            ).all()
    finally:
        db.dispose()
    return {patient_id: count for patient_id, count in found}


def table(rows: list[dict]) -> str:
    """The rows as a markdown table."""
    lines = [
        "| measure | Rounds p50 | Rounds p95 | raw p50 | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        met = "yes" if row["met"] else "**no**"
        lines.append(
            f"| {row['measure']} | {row['rounds_p50']} | {row['rounds_p95']} | "
            f"{row['raw_p50']} | {row['ratio']} | {row['target']} | {met} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run rows 4-5 on a fresh database and print the table and a figures line."""
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with fresh_database(args.db, args.url) as url:
        rows = measure_server(url, args.quick)
    print(table(rows))
    print(
        f"\n{args.db}, {os.cpu_count()} CPUs, load average {load_before:.1f} before and "
        f"{os.getloadavg()[0]:.1f} after (other work on the machine slows every figure)"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print(figures(rows=len(rows), missed=sum(not row["met"] for row in rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
