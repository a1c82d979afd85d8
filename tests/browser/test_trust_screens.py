"""Break-glass and the admin's review screens in a real Chromium, through the real `rounds serve`
and its sign-in: a technician opens another ward's patient with a reason and reads the timeline
under the expiry banner; the admin finds that opening in the audit report and the break-glass
report. Outcomes are read back through the database, as any other process would.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlmodel import select

from app.cli import open_database
from app.config import Settings
from app.services.access import Actor
from app.services.accounts import CONSOLE, create_staff
from app.services.check_ins import record_check_in
from app.services.wards import admit_patient, create_ward
from app.storage.database import Database
from models import AuditEvent, BreakGlassGrant
from models.codes import AuditAction
from models.fields import utc_now
from tests.browser.conftest import CSP_RECORDER, PHONE, SCREENSHOTS, TABLET, open_app
from tests.web.live_server import LiveServer, rounds_serve

pytestmark = pytest.mark.browser

PASSWORD = "trust screens passphrase"
CHICAGO = ZoneInfo("America/Chicago")
SHOWN_MS = 30_000
REASON = "Transferred to us tonight from 4B; reading her last checks"
PATIENT = "Robin Vega"
MRN = "B0001"


@dataclass(frozen=True)
class Hospital:
    server: LiveServer
    db: Database
    patient_id: int
    tech: Actor


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hospital]:
    """Two wards: the technician works on 4A; the patient is on 4B, checked by 4B's staff."""
    data_dir: Path = tmp_path_factory.mktemp("trust-screens")
    settings = Settings(
        database_url=f"sqlite:///{data_dir / 'rounds.db'}", secret_file=data_dir / "secret.key"
    )
    db = open_database(settings)
    try:
        wards = {
            code: create_ward(
                db,
                CONSOLE,
                {"code": code, "name": f"Ward {code}", "time_zone": "America/Chicago"},
            )
            for code in ("4A", "4B")
        }
        staff = {}
        for username, name, role, ward in [
            ("tech", "Dana Tech", "technician", "4A"),
            ("charge", "Chris Charge", "charge_nurse", "4A"),
            ("tech4b", "Lee Other", "technician", "4B"),
            ("charge4b", "Kim Other", "charge_nurse", "4B"),
            ("admin", "Ari Admin", "admin", None),
        ]:
            made = create_staff(
                db,
                CONSOLE,
                {
                    "username": username,
                    "display_name": name,
                    "role": role,
                    "password": PASSWORD,
                    "ward_ids": [wards[ward].id] if ward else [],
                },
            )
            staff[username] = Actor(made.id, made.username)
        now = utc_now()
        admit_patient(
            db,
            staff["charge"],
            {
                "ward_id": wards["4A"].id,
                "mrn": "A0001",
                "given_name": "Sam",
                "family_name": "Okafor",
                "room": "101",
                "birth_date": date(1990, 1, 2),
                "admitted_at": now - timedelta(hours=2),
            },
        )
        given, family = PATIENT.split()
        patient = admit_patient(
            db,
            staff["charge4b"],
            {
                "ward_id": wards["4B"].id,
                "mrn": MRN,
                "given_name": given,
                "family_name": family,
                "room": "201",
                "birth_date": date(1985, 6, 7),
                "admitted_at": now - timedelta(hours=3),
            },
        )
        record_check_in(
            db,
            staff["tech4b"],
            {
                "patient_id": patient.id,
                "observed_at": now - timedelta(minutes=10),
                "location": "day_room",
                "status": "resting",
                "late_reason": "other",
                "client_key": "trust-check-1",
            },
        )
        env = {
            "ROUNDS_DATABASE_URL": settings.database_url,
            "ROUNDS_SECRET_FILE": str(settings.secret_file),
        }
        with rounds_serve(data_dir, env=env) as server:
            yield Hospital(server, db, patient.id, staff["tech"])
    finally:
        db.dispose()


def new_page(chromium: Browser, size: dict[str, int]) -> Page:
    context = chromium.new_context(viewport=size)
    context.add_init_script(CSP_RECORDER)
    return context.new_page()


def type_into(page: Page, label: str, text: str) -> None:
    """Type into a Flutter text field (fill() can race the field's focus)."""
    field = page.get_by_role("textbox", name=label)
    field.click()
    page.wait_for_timeout(200)  # let Flutter move its editing element to this field
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def sign_in(page: Page, hospital: Hospital, username: str) -> None:
    open_app(page, hospital.server)
    type_into(page, "Username", username)
    type_into(page, "Password", PASSWORD)
    page.keyboard.press("Enter")


def reveal(page: Page, locator: Locator, tries: int = 20) -> Locator:
    """Scroll the screen until a control is built and on screen (lists build what is near)."""
    size = page.viewport_size
    page.mouse.move(size["width"] * 0.5, size["height"] * 0.55)
    for _ in range(tries):
        if locator.count() and locator.first.is_visible():
            break
        page.mouse.wheel(0, 350)
        page.wait_for_timeout(150)  # let the list build and paint what scrolled in
    return locator.first


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)  # a few frames after the semantics tree, for the pixels
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_break_glass_then_the_admins_audit_and_break_glass_reports(
    chromium: Browser, hospital: Hospital
) -> None:
    tech = new_page(chromium, PHONE)
    try:
        sign_in(tech, hospital, "tech")
        expect(tech.get_by_role("tab", name="Rounds")).to_be_visible(timeout=SHOWN_MS)
        expect(tech.get_by_text(PATIENT)).to_have_count(0)
        # The menu button is named where a screen reader focuses it.
        tech.get_by_role("button", name="More", exact=True).click()
        tech.get_by_role("menuitem", name="Break-glass access").click()
        expect(tech.get_by_text("Open a patient who is not on your wards")).to_be_visible(
            timeout=SHOWN_MS
        )
        type_into(tech, "Patient MRN", MRN)
        tech.get_by_role("button", name="Continue").click()
        # No reason: nothing opens, and the form says why.
        expect(tech.get_by_text("Say why you need this patient's record.")).to_be_visible()
        type_into(tech, "Why do you need this record? (required)", REASON)
        tech.get_by_role("button", name="Continue").click()
        expect(tech.get_by_text(f"Break the glass for MRN {MRN}?")).to_be_visible(timeout=SHOWN_MS)
        expect(tech.get_by_text(re.compile("go into the audit trail"))).to_be_visible()
        shoot(tech, "break-glass-warning-phone")
        tech.get_by_role("button", name="Open record").click()

        banner = tech.get_by_text(re.compile(r"Break-glass access — expires \d\d:\d\d"))
        expect(banner).to_be_visible(timeout=SHOWN_MS)
        with hospital.db.reading() as session:
            grant = session.exec(select(BreakGlassGrant)).one()
        assert (grant.staff_id, grant.patient_id, grant.reason) == (
            hospital.tech.staff_id,
            hospital.patient_id,
            REASON,
        )
        expires = f"{grant.expires_at.astimezone(CHICAGO):%H:%M}"
        expect(banner).to_contain_text(f"Break-glass access — expires {expires}")
        expect(tech.get_by_role("group", name=re.compile(f"^{PATIENT} Room 201"))).to_be_visible(
            timeout=SHOWN_MS
        )
        expect(tech.get_by_role("button", name="Check-in")).to_have_count(0)
        shoot(tech, "break-glass-timeline-phone")
        # The other ward's record is there to read.
        expect(reveal(tech, tech.get_by_text("by Lee Other"))).to_be_visible(timeout=SHOWN_MS)
    finally:
        tech.context.close()

    admin = new_page(chromium, TABLET)
    try:
        sign_in(admin, hospital, "admin")
        expect(
            admin.get_by_text("Who did what, to which patient, when.", exact=False)
        ).to_be_visible(timeout=SHOWN_MS)
        # The admin desk: the two review screens, no rounds and no patient names.
        expect(admin.get_by_text("Rounds", exact=True)).to_have_count(0)
        expect(admin.get_by_text(PATIENT)).to_have_count(0)
        type_into(admin, "User (username)", "tech")
        admin.get_by_role("button", name="Show report").click()
        expect(admin.get_by_text("Break-glass opened")).to_be_visible(timeout=SHOWN_MS)
        expect(admin.get_by_text(f"MRN {MRN} · ward 4B").first).to_be_visible()
        expect(admin.get_by_text(re.compile(r"^\d+ rows, newest first$"))).to_be_visible()
        shoot(admin, "audit-report-tablet")
        # Today only, from the chips: the opening was today, so it is still there.
        admin.get_by_role("checkbox", name="Today").click()
        expect(admin.get_by_role("checkbox", name="Today")).to_be_checked(timeout=SHOWN_MS)
        today = datetime.now(CHICAGO).date()
        day = f"{today:%a} {today.day} {today:%b} {today.year} · 1 day"
        expect(admin.get_by_role("group", name=day)).to_be_visible(timeout=SHOWN_MS)
        expect(admin.get_by_text("Break-glass opened")).to_be_visible(timeout=SHOWN_MS)

        type_into(admin, "Patient MRN", "NOSUCH")
        admin.get_by_role("button", name="Show report").click()
        expect(admin.get_by_text("No patient has MRN 'NOSUCH'.")).to_be_visible(timeout=SHOWN_MS)

        admin.get_by_role("button", name=re.compile("^Break-glass report")).click()
        expect(admin.get_by_text(f"Reason: {REASON}")).to_be_visible(timeout=SHOWN_MS)
        expect(admin.get_by_text("Dana Tech (tech, technician)")).to_be_visible()
        expect(admin.get_by_text(re.compile(r"· Viewed [1-9]\d* times?$"))).to_be_visible()
        shoot(admin, "break-glass-report-tablet")
    finally:
        admin.context.close()

    with hospital.db.reading() as session:
        reviews = session.exec(
            select(AuditEvent.detail).where(AuditEvent.action == AuditAction.view.value)
        ).all()
    assert any(detail.startswith("audit report") for detail in reviews)
    assert any(detail.startswith("break-glass report") for detail in reviews)
