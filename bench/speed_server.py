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
- row 5: a scripted round of 20 patients with routine checks: taps and wall time.

Which ward: the database's ward with the most admitted patients; an empty database is first
filled with the demo ward (`rounds demo`, 20 patients, history up to yesterday). A technician
account with a known password is added for the browsers, and every patient on the ward gets a
check two minutes ago, so routine checks are on time and not duplicates. Secret keys: those of
`bench.keys()` unless `secret_file` is given, so audit rows stay in the bench's chain.

    python -m bench.speed_server [--db sqlite|postgres] [--url SERVER] [--quick] [--json FILE]
"""

import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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
QUICK_SESSIONS = 5
CLICKS = 40
QUICK_CLICKS = 10
ROUND_PATIENTS = 20
MEMORY_TARGET_MB = 1.0
SAVED_P95_TARGET_MS = 150.0
FIRST_LOAD_TARGET_MB = 7.0
LOAD_TIMEOUT_MS = 90_000
# A check recorded this long ago keeps a q15 patient on time for 20 more minutes, and is
# outside the duplicate guard's minute.
FRESH_CHECK_AGE = timedelta(minutes=2)

# Times, in the page, when the pointer goes down and when a label first appears in Flutter's
# accessibility tree (what get_by_role sees): both on the page's own clock, in ms since epoch.
TIMING_SCRIPT = """
window.__rounds = {downs: []};
document.addEventListener("pointerdown", () => {
  window.__rounds.downs.push(performance.timeOrigin + performance.now());
}, true);
window.__roundsCount = (needle) => Array.from(document.querySelectorAll("flt-semantics"))
  .filter((node) => (node.getAttribute("aria-label") || "").includes(needle)
    || Array.from(node.childNodes).some((child) =>
      child.nodeType === Node.TEXT_NODE && child.textContent.includes(needle))).length;
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


@dataclass
class RoundsTab:
    """One browser tab on Rounds: open, sign in, tap routine checks, time what appears."""

    page: Any  # playwright.sync_api.Page
    taps: int = 0
    server_bytes: int = 0  # bytes on the wire for HTTP responses (CDP), once `record_bytes`
    _cdp: Any = field(default=None, repr=False)

    @classmethod
    def new(cls, context: Any) -> "RoundsTab":
        """A tab in `context` with the timing script installed."""
        page = context.new_page()
        page.add_init_script(TIMING_SCRIPT)
        return cls(page)

    def record_bytes(self) -> None:
        """Count bytes on the wire (headers and compressed bodies) from now on."""
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
        return self.page.get_by_role("button", name=f"{kind} check for {name}")

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
        """When the watched label appeared (page clock, ms since epoch)."""
        return float(
            self.page.evaluate(
                """(timeout) => Promise.race([window.__watch, new Promise((_, no) =>
                     setTimeout(() => no(new Error("not seen")), timeout))])""",
                timeout_s * 1000,
            )
        )

    def last_down(self) -> float:
        """When the pointer last went down on the page (page clock, ms since epoch)."""
        return float(self.page.evaluate("window.__rounds.downs[window.__rounds.downs.length-1]"))

    def tap_routine(self, name: str) -> float:
        """Tap "Routine" for a patient; ms from the tap until "Saved" (with Undo) is on screen."""
        target = self.reveal(self.button(name))
        self.watch(f"Undo check for {name}")
        target.click()
        self.taps += 1
        shown = self.seen_at()
        return shown - self.last_down()

    def undo(self, name: str) -> None:
        """Undo the check just saved, and wait until it is undone (the row may move away)."""
        self.watch(f"Undo check for {name}", "Undoing", shown=False)
        self.button(name, "Undo").click()
        self.seen_at()


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


def _click_latencies(tabs: list[RoundsTab], names: list[str], clicks: int) -> list[float]:
    """Routine check, Saved, Undo, in turn across the tabs and patients; the click-to-Saved ms."""
    times = []
    for number in range(clicks):
        tab = tabs[number % len(tabs)]
        name = names[number % len(names)]
        tab.page.bring_to_front()
        times.append(tab.tap_routine(name))
        tab.undo(name)
    return times


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


def _latency_row(label: str, times: list[float], raw: list[float]) -> dict[str, Any]:
    p50, p95 = statistics.median(times), percentile(times, 0.95)
    raw_p50 = statistics.median(raw)
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

    with rounds_serve(folder, env=ward.env()) as server:
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
        with _served(ward, folder / "server") as server, sync_playwright() as driver:
            browser = driver.chromium.launch(**chromium_options())
            try:
                # First load: a fresh profile, nothing cached.
                rss_empty = rss_mb(server.process.pid)
                cold = browser.new_context(viewport={"width": 1024, "height": 768})
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
                # One session: click to Saved.
                raw = _raw_saves(ward, username, names, max(clicks, 20))
                check_everyone_again(ward, username)
                one = _click_latencies([first], names, clicks)
                rows.append(_latency_row("Click to Saved, routine check, 1 session", one, raw))
                rss_one = rss_mb(server.process.pid)

                # Many sessions on the rounds screen: memory, then click to Saved.
                warm = browser.new_context(viewport={"width": 1024, "height": 768})
                tabs = [first]
                for _ in range(sessions - 1):
                    tab = RoundsTab.new(warm)
                    tab.open(server.url("/"))
                    tab.sign_in(username)
                    tabs.append(tab)
                time.sleep(3)  # let every session settle after its first refresh
                rss_many = rss_mb(server.process.pid)
                per_session = (rss_many - rss_one) / (sessions - 1)
                rows.append(
                    _row(
                        f"Server memory per live session ({sessions} on the rounds screen)",
                        f"{per_session:.2f} MB",
                        raw_p50=f"{rss_empty:.0f} MB idle",
                        target=f"<= {MEMORY_TARGET_MB:.0f} MB",
                        met=per_session <= MEMORY_TARGET_MB,
                    )
                )
                check_everyone_again(ward, username)
                many = _click_latencies(tabs, names, clicks)
                rows.append(
                    _latency_row(f"Click to Saved, routine check, {sessions} sessions", many, raw)
                )
                for tab in tabs[1:]:
                    tab.page.close()
                warm.close()

                # Row 5: a round of 20 patients, one tap each, as fast as the screen allows.
                check_everyone_again(ward, username)
                rows.append(_scripted_round(first, names[:ROUND_PATIENTS]))
            finally:
                browser.close()
        return rows


def check_everyone_again(ward: ServedWard, username: str) -> None:
    """Another fresh check for every patient (a phase may outlast the last one's margin)."""
    db = ward.open_database()
    try:
        check_everyone(db, ward.actor(db, username), list(ward.patients.values()))
    finally:
        db.dispose()


def _scripted_round(tab: RoundsTab, names: list[str]) -> dict[str, Any]:
    taps_before = tab.taps
    started = time.monotonic()
    for name in names:
        tab.tap_routine(name)
    wall = time.monotonic() - started
    taps = tab.taps - taps_before
    return _row(
        f"Scripted round: {len(names)} patients, routine checks (taps, wall time)",
        f"{taps} taps, {wall:.1f} s",
        target=f"{len(names)} taps",
        met=taps == len(names),
    )


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
    with fresh_database(args.db, args.url) as url:
        rows = measure_server(url, args.quick)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print(figures(rows=len(rows), missed=sum(not row["met"] for row in rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
