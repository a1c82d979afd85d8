"""Before/after and a PDF export in a real Chromium, through the real `rounds serve` and its
sign-in, on the synthetic demo ward: the comparison is read on a phone, and the PDF arrives as
a browser download with nothing about the patient in any URL."""

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from app.cli import open_database
from app.config import Settings
from app.demo import fill_demo_ward
from app.services.ward_time import local_date
from models import AuditEvent, Patient, Ward
from models.codes import AuditAction
from tests.browser.test_clinical_screens import (
    SHOWN_MS,
    DemoWard,
    go,
    new_page,
    shoot,
    sign_in,
)
from tests.web.live_server import rounds_serve

pytestmark = pytest.mark.browser

DOWNLOAD_MS = 60_000  # a month's PDF with charts, on a busy 2-core machine


@pytest.fixture(scope="module")
def demo_ward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWard]:
    """`rounds serve` over the demo ward, filled before the server starts."""
    data_dir: Path = tmp_path_factory.mktemp("effect-ward")
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


@pytest.fixture
def phone(chromium: Browser) -> Iterator[Page]:
    page = new_page(chromium, "phone")
    yield page
    page.context.close()


def test_before_after_on_a_phone_and_a_pdf_downloaded(
    phone: Page, demo_ward: DemoWard, tmp_path: Path
) -> None:
    with demo_ward.db.reading() as session:
        patient = session.exec(select(Patient).where(Patient.mrn == "D0001")).one()
        ward = session.get(Ward, patient.ward_id)
    requested: list[str] = []
    phone.on("request", lambda request: requested.append(request.url))
    sign_in(phone, demo_ward, "charge")

    go(phone, f"/patients/{patient.id}")
    phone.get_by_role("button", name="Before / after").click()
    expect(
        phone.get_by_text(re.compile(r"^Dose changed: sertraline \(50 mg -> 100 mg"))
    ).to_be_visible(timeout=SHOWN_MS)
    # Flutter reads a card out as one text: title, verdict, then the figures.
    expect(phone.get_by_text(re.compile(r"Mood\s+Better\s+Before\s+\d"))).to_be_visible()
    expect(
        phone.get_by_text(re.compile(r"Mood rose from [\d.]+ to [\d.]+ \(0-10\) in the 7 days"))
    ).to_be_visible()
    # The treatment change dropdown is a button named for what it is and what is chosen.
    expect(
        phone.get_by_role(
            "button", name=re.compile(r"^Treatment change .* Dose changed · sertraline$")
        )
    ).to_be_visible()
    shoot(phone, "effect-phone")
    three = phone.get_by_role("checkbox", name="3 days")
    three.click()
    expect(phone.get_by_text(re.compile(r"3 days before \("))).to_be_visible(timeout=SHOWN_MS)
    expect(three).to_be_checked()

    go(phone, f"/patients/{patient.id}/export")
    download_pdf = phone.get_by_role("button", name="Download PDF")
    expect(download_pdf).to_be_visible(timeout=SHOWN_MS)
    shoot(phone, "export-phone")
    with phone.expect_download(timeout=DOWNLOAD_MS) as arrived:
        download_pdf.click()
    download = arrived.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)

    content = saved.read_bytes()
    assert content.startswith(b"%PDF-") and len(content) > 10_000
    today = local_date(ward, demo_ward.db.clock())
    assert download.suggested_filename == (f"rounds-{today - timedelta(days=29)}-to-{today}.pdf")
    # Handed over from the page's memory, not fetched from a URL.
    assert urlsplit(download.url).scheme == "blob"
    # The screen's texts read out together, as the label of its group.
    confirmed = re.compile(
        r"PDF of Avery Demoson \(MRN D0001\) .* handed to your browser as rounds-"
    )
    expect(phone.get_by_role("group", name=confirmed)).to_be_visible(timeout=SHOWN_MS)
    with demo_ward.db.reading() as session:
        exported = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == AuditAction.export, AuditEvent.patient_id == patient.id
            )
        ).all()
    assert [row.detail for row in exported] == [
        f"pdf {today - timedelta(days=29)}..{today} via web app"
    ]
    server = urlsplit(demo_ward.server.base_url).netloc
    for url in requested:
        parts = urlsplit(url)
        assert parts.scheme == "blob" or parts.netloc == server, url
        for secret in (patient.mrn, patient.family_name, patient.given_name):
            assert secret not in url, url

    go(phone, "/compliance")
    expect(phone.get_by_text("Checks by shift")).to_be_visible(timeout=SHOWN_MS)
    shoot(phone, "compliance-phone")
    # Other dates, tapped in Flutter's own calendar: the ward days come back as tapped.
    first, last = today - timedelta(days=10), today - timedelta(days=4)
    phone.get_by_role("checkbox", name="Other dates").click()
    for day in (first, last):
        phone.get_by_role("button", name=calendar_name(day), exact=True).click()
    phone.get_by_role("button", name="Use these dates").click()
    expect(phone.get_by_role("group", name=f"{first:%a} {first.day} {first:%b} to ")).to_be_visible(
        timeout=SHOWN_MS
    )
    expect(phone.get_by_text("Checks by shift")).to_be_visible(timeout=SHOWN_MS)
    with demo_ward.db.reading() as session:
        viewed = session.exec(
            select(AuditEvent.detail)
            .where(AuditEvent.action == AuditAction.view, AuditEvent.ward_id == ward.id)
            .order_by(AuditEvent.id.desc())
        ).first()
    assert viewed == f"compliance {first}..{last}"


def calendar_name(day: date) -> str:
    """How Flutter's calendar names a day to a screen reader: "2, Monday, November 2, 2026"."""
    return f"{day.day}, {day:%A}, {day:%B} {day.day}, {day.year}"
