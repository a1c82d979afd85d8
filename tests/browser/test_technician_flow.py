"""A technician's shift in a real Chromium against the real `rounds serve`: sign in, one-tap
routine checks, a full check-in through the sheet, checks from elsewhere appearing, night mode,
the idle lock and PIN, drafts after a lost session, and a failure that must not blank the screen.

The ward is prepared in the server's SQLite file before it starts (tests/browser/technician_ward
.py); the tests read the outcome back through the services, as any other process would.
"""

import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from app.cli import open_database
from app.services.access import Actor
from app.services.check_ins import CheckInRead, record_check_in
from app.services.drafts import open_drafts
from app.services.rounds import rounds_for
from app.storage.database import Database
from app.ui.theme import DAY, NIGHT, SPLASH_BACKGROUND
from models.fields import utc_now
from tests.browser.conftest import (
    CSP_RECORDER,
    PHONE,
    SCREENSHOTS,
    TABLET,
    announced,
    open_app,
    wait_until_painted,
)
from tests.browser.technician_ward import PASSWORD, PIN, PreparedWard, prepare_ward
from tests.web.live_server import LiveServer, rounds_serve

pytestmark = pytest.mark.browser

SIZES = {"phone": PHONE, "tablet": TABLET}
SEEN_WITHIN_MS = 2_000  # a check saved elsewhere shows on an open rounds screen this fast


@dataclass(frozen=True)
class Ward:
    """A served ward: the server, the prepared records, and a database handle for the test."""

    server: LiveServer
    prepared: PreparedWard
    db: Database

    @property
    def tech(self) -> Actor:
        return Actor(self.prepared.tech_id, self.prepared.tech_username)

    def last_check(self, name: str) -> CheckInRead | None:
        patient_id = self.prepared.patients[name]
        rounds = rounds_for(self.db, self.tech, self.prepared.ward_id)
        return next(row.last_check for row in rounds.rows if row.patient_id == patient_id)

    def checks_of(self, name: str) -> int:
        """Every check ever stored for the patient, voided ones included."""
        with sqlite3.connect(self.prepared.database_url.removeprefix("sqlite:///")) as raw:
            return raw.execute(
                "SELECT count(*) FROM check_in WHERE patient_id = ?",
                (self.prepared.patients[name],),
            ).fetchone()[0]


def _serve_ward(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[Ward]:
    prepared = prepare_ward(data_dir)
    db = open_database(prepared.settings())
    try:
        with rounds_serve(data_dir, env=env) as server:
            yield Ward(server, prepared, db)
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def ward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ward]:
    """`rounds serve` on a prepared ward, idle lock as configured (3 min)."""
    yield from _serve_ward(tmp_path_factory.mktemp("technician-ward"))


@pytest.fixture(scope="module")
def quick_lock_ward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ward]:
    """The same ward served with a 3-second idle lock."""
    yield from _serve_ward(
        tmp_path_factory.mktemp("quick-lock-ward"), env={"ROUNDS_IDLE_LOCK_MINUTES": "0.05"}
    )


def new_page(chromium: Browser, size: str = "phone") -> Page:
    context = chromium.new_context(viewport=SIZES[size])
    context.add_init_script(CSP_RECORDER)
    return context.new_page()


@pytest.fixture
def phone(chromium: Browser) -> Iterator[Page]:
    page = new_page(chromium, "phone")
    yield page
    page.context.close()


def type_into(page: Page, label: str, text: str) -> None:
    """Type into a Flutter text field (fill() can race the field's focus)."""
    page.get_by_role("textbox", name=label).click()
    page.wait_for_timeout(200)  # let Flutter move its editing element to this field
    page.keyboard.type(text)


def sign_in(page: Page, ward: Ward, username: str = "tech") -> None:
    open_app(page, ward.server)
    type_into(page, "Username", username)
    type_into(page, "Password", PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name=re.compile("^Routine check for")).first).to_be_visible(
        timeout=20_000
    )


def reveal(page: Page, locator: Locator, tries: int = 30) -> Locator:
    """Scroll until a control is fully on screen (Flutter lists build only what is near the
    view, and a tap on a half-hidden control lands on whatever the browser scrolls under it)."""
    size = page.viewport_size
    page.mouse.move(size["width"] * 0.6, size["height"] * 0.55)
    top, bottom = 72, size["height"] - 96  # clear of the app bar and the bottom bar
    for step in range(tries):
        box = locator.first.bounding_box() if locator.count() else None
        if box and box["y"] >= top and box["y"] + box["height"] <= bottom:
            page.wait_for_timeout(300)  # let the scroll settle before anyone taps
            return locator
        if box is not None:
            delta = box["y"] - size["height"] / 3
        else:
            # Not built yet: search down first, then up.
            delta = 300 if step < tries // 2 else -600
        page.mouse.wheel(0, delta)
        page.wait_for_timeout(200)
    return locator


class Taps:
    """Counts the taps a task takes, as a technician would make them."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.count = 0

    def on(self, role: str, name: str | re.Pattern[str]) -> None:
        target = reveal(self.page, self.page.get_by_role(role, name=name))
        target.click()
        self.count += 1


def routine_button(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=f"Routine check for {name}")


def open_sheet(name: str, room: str) -> str:
    return f"{name}, room {room}: open check-in"


def shoot(page: Page, name: str, corner: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    # Park the pointer on the app bar's title: no hover highlight on the picture.
    page.mouse.move(page.viewport_size["width"] / 2 - 40, 20)
    png = wait_until_painted(page, corner)
    (SCREENSHOTS / f"technician-{name}.png").write_bytes(png)


def test_one_tap_records_a_routine_check_and_says_saved(ward: Ward, phone: Page) -> None:
    sign_in(phone, ward)
    before = ward.checks_of("Sam Okafor")
    taps = Taps(phone)

    taps.on("button", "Routine check for Sam Okafor")

    expect(phone.get_by_role("button", name="Undo check for Sam Okafor")).to_be_visible()
    assert taps.count == 1
    assert ward.checks_of("Sam Okafor") == before + 1
    saved = ward.last_check("Sam Okafor")
    assert saved.staff_name == "Dana Tech"
    assert utc_now() - saved.recorded_at < timedelta(seconds=30)
    # "Saved" shows where the button was; after about 5 s the button is back.
    expect(phone.get_by_role("group", name=re.compile("^Saved"))).to_have_count(1)
    undo = phone.get_by_role("button", name="Undo check for Sam Okafor")
    expect(undo).to_have_count(0, timeout=8_000)
    expect(reveal(phone, routine_button(phone, "Sam Okafor"))).to_have_count(1)


def test_a_double_tap_makes_one_check(ward: Ward, phone: Page) -> None:
    sign_in(phone, ward)
    before = ward.checks_of("Riley Chen")
    reveal(phone, routine_button(phone, "Riley Chen")).dblclick()
    expect(phone.get_by_role("button", name="Undo check for Riley Chen")).to_be_visible()
    phone.wait_for_timeout(1_000)  # a second save, if one were made, would have landed
    assert ward.checks_of("Riley Chen") == before + 1


def test_a_late_check_asks_why_then_undo_voids_it(ward: Ward, phone: Page) -> None:
    sign_in(phone, ward)
    card = phone.get_by_role("group", name=re.compile("min overdue"))
    expect(card.first).to_be_visible()
    shoot(phone, "rounds-phone", DAY.card)

    routine_button(phone, "Alex Rivera").click()
    expect(phone.get_by_role("button", name="Patient refused")).to_be_visible()
    assert ward.checks_of("Alex Rivera") == 0  # nothing saved until a reason is given
    shoot(phone, "late-reason-phone", DAY.card)
    phone.get_by_role("button", name="Patient refused").click()

    expect(phone.get_by_role("button", name="Undo check for Alex Rivera")).to_be_visible()
    saved = ward.last_check("Alex Rivera")
    assert saved.late and saved.late_reason == "patient_refused"
    # The Undo countdown changes the frame each second: a plain capture, not a settled one.
    phone.screenshot(path=SCREENSHOTS / "technician-routine-saved-phone.png")

    phone.get_by_role("button", name="Undo check for Alex Rivera").click()
    expect(routine_button(phone, "Alex Rivera")).to_be_visible()
    assert ward.last_check("Alex Rivera") is None  # voided, still stored
    assert ward.checks_of("Alex Rivera") == 1


def test_a_full_check_in_through_the_sheet_takes_six_taps(ward: Ward, phone: Page) -> None:
    sign_in(phone, ward)
    taps = Taps(phone)

    taps.on("button", open_sheet("Morgan Diaz", "104"))
    expect(phone.get_by_role("button", name="Save check")).to_be_visible()
    shoot(phone, "check-in-phone", DAY.card)
    taps.on("button", "Dining room")
    taps.on("button", "Eating")
    taps.on("button", "Restless")
    taps.on("button", "Mood 4")
    taps.on("button", "Save check")

    expect(routine_button(phone, "Morgan Diaz")).to_be_visible()
    assert taps.count == 6
    saved = ward.last_check("Morgan Diaz")
    assert (saved.location, saved.status) == ("dining", "eating")
    assert saved.behaviours == ["restless"]  # "calm" from the pre-fill gave way to restless
    assert (saved.mood, saved.anxiety) == (4, None)  # anxiety not asked, which is not 0
    assert open_drafts(ward.db, ward.tech) == []


def test_a_check_saved_elsewhere_shows_within_two_seconds(ward: Ward, phone: Page) -> None:
    sign_in(phone, ward)
    jordan = phone.get_by_role("group", name=re.compile("Group room · in group"))
    expect(jordan).to_have_count(0)
    # A just-checked q30 patient goes to the end of the list: look there.
    phone.mouse.move(200, 400)
    phone.mouse.wheel(0, 5_000)
    phone.wait_for_timeout(500)

    started = time.monotonic()
    record_check_in(
        ward.db,
        ward.tech,
        {
            "patient_id": ward.prepared.patients["Jordan Lee"],
            "observed_at": utc_now(),
            "location": "group_room",
            "status": "in_group",
            "client_key": "elsewhere-jordan-1",
        },
    )
    expect(jordan).to_have_count(1, timeout=SEEN_WITHIN_MS)
    assert time.monotonic() - started < SEEN_WITHIN_MS / 1000 + 1


def test_night_mode_dims_the_screen_and_back(ward: Ward, phone: Page) -> None:
    sign_in(phone, ward)
    night_button = phone.get_by_role("button", name="Night mode")
    day_button = phone.get_by_role("button", name="Day mode")

    night_button.click()
    expect(day_button).to_be_visible()
    shoot(phone, "rounds-night-phone", NIGHT.card)
    day_button.click()
    expect(night_button).to_be_visible()
    wait_until_painted(phone, DAY.card)


def test_idle_lock_hides_patients_and_the_pin_unlocks(
    quick_lock_ward: Ward, chromium: Browser
) -> None:
    page = new_page(chromium, "phone")
    try:
        sign_in(page, quick_lock_ward)
        expect(page.get_by_role("button", name="PIN digit 1")).to_be_visible(timeout=10_000)
        # Only the user's name and the pad: no patient is in the page any more.
        assert "Rivera" not in page.locator("flt-semantics-host").inner_text()
        expect(page.get_by_text("Dana Tech")).to_have_count(1)
        shoot(page, "lock-phone", DAY.background)

        for digit in "000000":
            page.get_by_role("button", name=f"PIN digit {digit}").click()
        expect(page.get_by_text("Wrong PIN. 4 tries left.")).to_be_visible()

        for digit in PIN:
            page.get_by_role("button", name=f"PIN digit {digit}").click()
        expect(routine_button(page, "Alex Rivera")).to_be_visible()

        # Locked again after 3 idle seconds; 5 wrong PINs end the session.
        expect(page.get_by_role("button", name="PIN digit 1")).to_be_visible(timeout=10_000)
        for left in (4, 3, 2, 1, 0):
            for digit in "999999":
                page.get_by_role("button", name=f"PIN digit {digit}").click()
            if left:
                message = f"Wrong PIN. {left} {'try' if left == 1 else 'tries'} left."
                expect(page.get_by_text(message)).to_be_visible()
        expect(page.get_by_role("textbox", name="Username")).to_be_visible()
        expect(page.get_by_text("Too many wrong PINs. Please sign in again.")).to_be_visible()
    finally:
        page.context.close()


def test_switch_user_on_the_lock_screen_goes_to_sign_in(ward: Ward, phone: Page) -> None:
    sign_in(phone, ward)
    phone.get_by_role("button", name="Lock screen").click()
    expect(phone.get_by_role("button", name="PIN digit 1")).to_be_visible()
    phone.get_by_role("button", name="Switch user").click()
    expect(phone.get_by_role("textbox", name="Username")).to_be_visible()


def test_an_unfinished_check_in_is_offered_after_the_session_is_lost(
    ward: Ward, chromium: Browser
) -> None:
    first = new_page(chromium, "phone")
    sign_in(first, ward)
    reveal(first, first.get_by_role("button", name=open_sheet("Casey Park", "107"))).click()
    expect(first.get_by_role("button", name="Save check")).to_be_visible()
    reveal(first, first.get_by_role("button", name="Reading")).click()
    first.wait_for_timeout(2_500)  # the draft is written after a second of quiet
    [kept] = open_drafts(ward.db, ward.tech)
    assert kept.fields["status"] == "reading"
    first.context.close()  # like a dropped tablet or a restarted server: the session is gone

    second = new_page(chromium, "phone")
    try:
        sign_in(second, ward)
        offer = second.get_by_role("group", name=re.compile("Continue the check-in you started at"))
        expect(offer).to_have_count(1)
        expect(offer).to_have_accessible_name(re.compile("Casey Park"))
        second.get_by_role("button", name="Continue").click()
        expect(second.get_by_role("button", name="Save check")).to_be_visible()
        second.get_by_role("button", name="Save check").click()
        # Not the Save button going away: it reads "Saving…" until the check is stored.
        expect(announced(second, re.compile("^Saved: Casey Park"))).to_be_visible()
        assert ward.last_check("Casey Park").status == "reading"
        assert open_drafts(ward.db, ward.tech) == []
    finally:
        second.context.close()


def test_a_stuck_database_shows_a_message_and_retry_saves_once(ward: Ward, phone: Page) -> None:
    sign_in(phone, ward)
    before = ward.checks_of("Taylor Brooks")
    blocker = sqlite3.connect(ward.prepared.database_url.removeprefix("sqlite:///"), timeout=1)
    blocker.isolation_level = None
    blocker.execute("BEGIN EXCLUSIVE")  # holds the write lock past the server's busy timeout
    try:
        reveal(phone, routine_button(phone, "Taylor Brooks")).click()
        not_saved = phone.get_by_role("group", name=re.compile("Not saved: the records did not"))
        expect(not_saved).to_have_count(1, timeout=20_000)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    # The page is still the app, not Flet's "Error running app" screen.
    expect(phone.get_by_text(re.compile("Error running app"))).to_have_count(0)
    expect(phone.get_by_role("button", name="Night mode")).to_be_visible()
    assert ward.checks_of("Taylor Brooks") == before

    phone.get_by_role("button", name="Routine check for Taylor Brooks").click()  # "Retry"
    expect(phone.get_by_role("button", name="Undo check for Taylor Brooks")).to_be_visible()
    assert ward.checks_of("Taylor Brooks") == before + 1


@pytest.mark.parametrize("size", ["phone", "tablet"])
def test_screens_at_phone_and_tablet_size(ward: Ward, chromium: Browser, size: str) -> None:
    page = new_page(chromium, size)
    try:
        open_app(page, ward.server)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        shoot(page, f"sign-in-{size}", SPLASH_BACKGROUND)
        sign_in(page, ward)
        if size == "tablet":
            expect(page.get_by_role("tab")).to_have_count(0)  # a rail, not a bottom bar
        else:
            expect(page.get_by_role("tab", name="Rounds")).to_be_visible()
        shoot(page, f"rounds-{size}", DAY.card)
        reveal(page, page.get_by_role("button", name=open_sheet("Sam Okafor", "102"))).click()
        expect(page.get_by_role("button", name="Save check")).to_be_visible()
        shoot(page, f"check-in-{size}", DAY.card)
        page.get_by_role("button", name="Night mode").click()
        expect(page.get_by_role("button", name="Day mode")).to_be_visible()
        shoot(page, f"check-in-night-{size}", NIGHT.card)
        page.get_by_role("button", name="Back").click()
        expect(page.get_by_role("button", name="Routine check for Sam Okafor")).to_be_attached()
        shoot(page, f"rounds-night-{size}", NIGHT.card)
        page.get_by_role("button", name="Lock screen").click()
        expect(page.get_by_role("button", name="PIN digit 1")).to_be_visible()
        shoot(page, f"lock-{size}", NIGHT.background)
    finally:
        page.context.close()
