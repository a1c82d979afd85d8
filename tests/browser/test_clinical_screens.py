"""The clinical screens (timeline, groups, incident, handoff) in a real Chromium, through the
real `rounds serve` and its sign-in, on the synthetic demo ward (30 days of history).

Screens are reached by their routes (`/patients/<id>`, `/groups`, `/patients/<id>/incident`,
`/handoff`) inside the signed-in session, as the shell's navigation does. Outcomes are read back
through the services, as any other process would.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlmodel import select

from app.cli import open_database
from app.config import Settings
from app.demo import fill_demo_ward
from app.demo.census import ACCOUNTS
from app.services.access import Actor
from app.services.timeline import EntryStatus, timeline_for
from app.storage.database import Database
from models import GroupAttendance, GroupSession, Incident, Patient, Staff
from models.codes import RecordKind
from tests.browser.conftest import CSP_RECORDER, PHONE, SCREENSHOTS, TABLET, announced, open_app
from tests.web.live_server import LiveServer, rounds_serve

pytestmark = pytest.mark.browser

SIZES = {"phone": PHONE, "tablet": TABLET}
PASSWORDS = {account.username: account.password for account in ACCOUNTS}
SHOWN_MS = 30_000  # first paint of a screen that loads a month of history, on a busy CI box
SETTLE_S = 15.0


@dataclass(frozen=True)
class DemoWard:
    server: LiveServer
    db: Database

    def patient_ids(self) -> list[int]:
        """The admitted patients by room."""
        with self.db.reading() as session:
            return list(
                session.exec(
                    select(Patient.id)
                    .where(Patient.discharged_at.is_(None))
                    .order_by(Patient.room, Patient.bed)
                )
            )

    def actor(self, username: str) -> Actor:
        with self.db.reading() as session:
            staff = session.exec(select(Staff).where(Staff.username == username)).one()
            return Actor(staff.id, staff.username)


@pytest.fixture(scope="module")
def demo_ward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWard]:
    """`rounds serve` over the demo ward, filled before the server starts."""
    data_dir: Path = tmp_path_factory.mktemp("demo-ward")
    settings = Settings(
        database_url=f"sqlite:///{data_dir / 'rounds.db'}", secret_file=data_dir / "secret.key"
    )
    db = open_database(settings)
    try:
        fill_demo_ward(db)
        env = {
            "ROUNDS_DATABASE_URL": settings.database_url,
            "ROUNDS_SECRET_FILE": str(settings.secret_file),
        }
        with rounds_serve(data_dir, env=env) as server:
            yield DemoWard(server, db)
    finally:
        db.dispose()


def new_page(chromium: Browser, size: str) -> Page:
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


def sign_in(page: Page, ward: DemoWard, username: str) -> None:
    open_app(page, ward.server)
    type_into(page, "Username", username)
    type_into(page, "Password", PASSWORDS[username])
    page.keyboard.press("Enter")
    expect(page.get_by_text("Rounds", exact=True).first).to_be_visible(timeout=SHOWN_MS)


def go(page: Page, path: str) -> None:
    """Follow an in-app link: the browser's address changes and the shell routes it."""
    page.evaluate(
        "path => { window.history.pushState(null, '', path);"
        " window.dispatchEvent(new PopStateEvent('popstate', {state: null})); }",
        path,
    )


def settle(page: Page) -> bytes:
    """The screen once three captures in a row are identical (Flutter paints a few frames
    after its semantics tree is ready)."""
    deadline = page.evaluate("Date.now()") + SETTLE_S * 1000
    previous, same = b"", 0
    while page.evaluate("Date.now()") < deadline:
        shot = page.screenshot()
        same = same + 1 if shot == previous else 0
        if same >= 2:
            return shot
        previous = shot
        page.wait_for_timeout(150)  # polling interval between captures, not an assertion
    raise AssertionError(f"screen still changing after {SETTLE_S} s")


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    (SCREENSHOTS / f"{name}.png").write_bytes(settle(page))


@pytest.mark.parametrize("size", ["phone", "tablet"])
def test_each_clinical_screen_renders_at_phone_and_tablet_size(
    chromium: Browser, demo_ward: DemoWard, size: str
) -> None:
    page = new_page(chromium, size)
    try:
        sign_in(page, demo_ward, "charge")
        first = demo_ward.patient_ids()[0]

        go(page, f"/patients/{first}")
        expect(page.get_by_text("Mood and anxiety").first).to_be_visible(timeout=SHOWN_MS)
        expect(page.get_by_role("button", name="30 days")).to_be_visible()
        page.get_by_role("button", name="30 days").click()
        expect(
            page.get_by_text(re.compile(r"1 · \w+ \d+ · Dose changed: sertraline"))
        ).to_be_visible(timeout=SHOWN_MS)
        shoot(page, f"timeline-{size}")

        go(page, "/groups")
        start = page.get_by_role("button", name="Start group and mark attendance")
        expect(start).to_be_visible(timeout=SHOWN_MS)
        shoot(page, f"groups-start-{size}")
        page.get_by_role("checkbox", name="Process group").click()
        start.click()
        expect(page.get_by_role("button", name="Everyone not marked attended")).to_be_visible(
            timeout=SHOWN_MS
        )
        shoot(page, f"groups-{size}")

        go(page, f"/patients/{first}/incident")
        expect(page.get_by_role("checkbox", name="Verbal aggression")).to_be_visible(
            timeout=SHOWN_MS
        )
        shoot(page, f"incident-{size}")

        go(page, "/handoff")
        expect(page.get_by_role("button", name=re.compile(r"^\d+-\w · "))).not_to_have_count(
            0, timeout=SHOWN_MS
        )
        shoot(page, f"handoff-{size}")
    finally:
        page.context.close()


def reveal(page: Page, locator, tries: int = 30):
    """Scroll the screen until a control is built and on screen (lists build what is near)."""
    size = page.viewport_size
    page.mouse.move(size["width"] * 0.5, size["height"] * 0.55)
    for _ in range(tries):
        if locator.count() and locator.first.is_visible():
            return locator.first
        page.mouse.wheel(0, 350)
        page.wait_for_timeout(150)  # let the list build and paint what scrolled in
    return locator.first


def tap_until_checked(page: Page, checkbox, tries: int = 3) -> None:
    """Tap a filter chip until it reads as checked.

    Flutter replaces its accessibility nodes when the screen redraws; while the timeline was
    still loading, the chip's node was once replaced faster than Playwright's click waits for
    a node to hold still (30 s of "detached from the DOM" on CI). Tap again, and then without
    waiting for it to hold still, as a finger would."""
    for attempt in range(tries):
        try:
            reveal(page, checkbox).click(timeout=10_000, force=attempt > 0)
            expect(checkbox).to_be_checked(timeout=5_000)
            return
        except (PlaywrightTimeout, AssertionError):
            if attempt == tries - 1:
                raise


def correct_newest(page: Page, action: str) -> None:
    """Open the newest entry's Amend or void menu and choose action.

    A redraw (a filter, or the ward's records changing) can replace the entry between finding
    its button and tapping it on a loaded machine, closing the menu: tap again as a person
    would."""
    for attempt in range(3):
        try:
            reveal(page, page.get_by_role("button", name="Amend or void")).click(timeout=10_000)
            page.get_by_role("menuitem", name=action).click(timeout=10_000)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def test_a_nurse_voids_an_entry_and_it_stays_struck_through(
    phone: Page, demo_ward: DemoWard
) -> None:
    patient = demo_ward.patient_ids()[2]
    nurse = demo_ward.actor("nurse")
    newest = timeline_for(demo_ward.db, nurse, patient, limit=1).entries[0]
    sign_in(phone, demo_ward, "nurse")
    go(phone, f"/patients/{patient}")

    correct_newest(phone, "Void")
    type_into(phone, "Reason (required)", "Entered for the wrong patient")
    phone.get_by_role("button", name="Void", exact=True).click()

    expect(
        phone.get_by_text(re.compile("Voided by Demo Nurse, .*: Entered for the wrong patient"))
    ).to_be_visible(timeout=SHOWN_MS)
    again = timeline_for(demo_ward.db, nurse, patient, limit=1).entries[0]
    assert (again.kind, again.id) == (newest.kind, newest.id)
    assert again.status == EntryStatus.voided
    assert again.correction.reason == "Entered for the wrong patient"
    assert again.correction.corrected_by == "Demo Nurse"
    phone.mouse.wheel(0, 250)  # the struck entry into view, above the message
    shoot(phone, "timeline-voided-phone")


def test_a_technician_sees_the_record_without_correction_actions_and_older_pages_load(
    phone: Page, demo_ward: DemoWard
) -> None:
    patient = demo_ward.patient_ids()[1]
    sign_in(phone, demo_ward, "tech")
    go(phone, f"/patients/{patient}")
    expect(phone.get_by_role("button", name="Check-in")).to_be_visible(timeout=SHOWN_MS)
    # One page is 40 entries (about ten hours of q15 checks): yesterday's heading is only
    # there once scrolling has fetched the next page.
    older = reveal(phone, phone.get_by_text(re.compile("Yesterday · ")), tries=80)
    expect(older).to_be_visible()
    assert phone.get_by_role("button", name="Amend or void").count() == 0


def test_a_group_is_marked_and_saved_all_at_once(phone: Page, demo_ward: DemoWard) -> None:
    sign_in(phone, demo_ward, "tech")
    go(phone, "/groups")
    phone.get_by_role("checkbox", name="Art / music").click()
    phone.get_by_role("button", name="Start group and mark attendance").click()
    phone.get_by_role("button", name="Everyone not marked attended").click()
    expect(phone.get_by_role("checkbox", name="Attended").first).to_be_checked()
    # The first patient refused after all.
    phone.get_by_role("checkbox", name="Refused").first.click()
    expect(phone.get_by_role("checkbox", name="Refused").first).to_be_checked()
    reveal(phone, phone.get_by_role("button", name="Save attendance (20)")).click()

    expect(phone.get_by_text("All saved.")).to_be_visible(timeout=SHOWN_MS)
    with demo_ward.db.reading() as session:
        group = session.exec(
            select(GroupSession)
            .where(GroupSession.group_type == "art_music")
            .order_by(GroupSession.id.desc())
        ).first()
        rows = session.exec(
            select(GroupAttendance).where(GroupAttendance.session_id == group.id)
        ).all()
    assert group.recorded_by == demo_ward.actor("tech").staff_id
    assert len(rows) == 20
    assert sorted(row.attendance for row in rows).count("refused") == 1


def test_an_incident_is_saved_with_its_moas_and_shown_on_the_timeline(
    phone: Page, demo_ward: DemoWard
) -> None:
    patient = demo_ward.patient_ids()[3]
    sign_in(phone, demo_ward, "tech")
    go(phone, f"/patients/{patient}/incident")
    for name in ["Property damage", "Hallway"]:
        chip = reveal(phone, phone.get_by_role("checkbox", name=name))
        chip.click()
        expect(chip).to_be_checked()
    # A MOAS rating is a tile (its anchor wraps on a phone) holding the radio.
    for anchor in ["2 · Throws objects down", "1 · Shouts angrily"]:
        tile = reveal(phone, phone.get_by_role("button", name=re.compile(f"^{anchor}")))
        tile.click()
        expect(tile.get_by_role("radio")).to_be_checked()
    expect(reveal(phone, phone.get_by_text(re.compile(r"^MOAS 5 of 40")))).to_be_visible()
    shoot(phone, "incident-filled-phone")
    reveal(phone, phone.get_by_role("button", name="Save incident")).click()

    expect(announced(phone, re.compile(r"^Incident saved \(MOAS 5 of 40\)"))).to_be_visible(
        timeout=SHOWN_MS
    )
    expect(phone.get_by_role("button", name="Check-in")).to_be_visible(timeout=SHOWN_MS)
    with demo_ward.db.reading() as session:
        saved = session.exec(
            select(Incident).where(
                Incident.patient_id == patient,
                Incident.recorded_by == demo_ward.actor("tech").staff_id,
            )
        ).one()
    assert (saved.incident_type, saved.location) == ("property_damage", "hallway")
    assert (saved.moas_verbal, saved.moas_property, saved.moas_total) == (1, 2, 5)
    page = timeline_for(demo_ward.db, demo_ward.actor("tech"), patient, kinds={RecordKind.incident})
    assert page.entries[0].id == saved.id


def test_the_timeline_stays_readable_at_night(phone: Page, demo_ward: DemoWard) -> None:
    sign_in(phone, demo_ward, "charge")
    go(phone, f"/patients/{demo_ward.patient_ids()[0]}")
    expect(phone.get_by_role("button", name="Check-in")).to_be_visible(timeout=SHOWN_MS)
    if phone.get_by_role("button", name="Night mode").count():
        phone.get_by_role("button", name="Night mode").click()
    expect(phone.get_by_role("button", name="Day mode")).to_be_visible(timeout=SHOWN_MS)
    expect(phone.get_by_text(re.compile("Mood and anxiety")).first).to_be_visible(timeout=SHOWN_MS)
    shoot(phone, "timeline-night-phone")


def test_a_nurse_amends_a_check_from_a_prefilled_form(phone: Page, demo_ward: DemoWard) -> None:
    patient = demo_ward.patient_ids()[4]
    nurse = demo_ward.actor("nurse")
    newest = timeline_for(
        demo_ward.db, nurse, patient, kinds={RecordKind.check_in}, limit=1
    ).entries[0]
    sign_in(phone, demo_ward, "nurse")
    go(phone, f"/patients/{patient}")
    expect(phone.get_by_role("button", name="Check-in")).to_be_visible(timeout=SHOWN_MS)
    checks_only = phone.get_by_role("checkbox", name="Checks")
    tap_until_checked(phone, checks_only)
    # "All" clears when the server has redrawn the list for the filter.
    expect(phone.get_by_role("checkbox", name="All")).not_to_be_checked()
    correct_newest(phone, "Amend")
    anxious = phone.get_by_role("checkbox", name="Anxious")
    expect(anxious).not_to_be_checked()
    anxious.click()
    expect(anxious).to_be_checked()
    type_into(phone, "Reason (required)", "Anxiety was noted on the paper sheet")
    shoot(phone, "timeline-amend-phone")
    phone.get_by_role("button", name="Save amendment").click()

    expect(
        phone.get_by_text(re.compile("Amended by Demo Nurse, .*: Anxiety was noted"))
    ).to_be_visible(timeout=SHOWN_MS)
    replacement, original = timeline_for(
        demo_ward.db, nurse, patient, kinds={RecordKind.check_in}, limit=2
    ).entries
    assert (original.id, original.status) == (newest.id, EntryStatus.amended)
    assert replacement.amends_id == newest.id
    assert "anxious" in replacement.title
    assert replacement.mood == newest.mood and replacement.at == newest.at
