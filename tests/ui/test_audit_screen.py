"""The admin shell and its audit report screen, driven through the real shell over a real
database: sign-in as an admin, the report of a technician's view, filters and their messages."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import flet as ft
import pytest
from sqlmodel import select

from app.services.audit_report import AuditRow
from app.services.timeline import timeline_for
from app.ui.date_range import DayRange
from app.ui.routes import destinations
from app.ui.screens import audit_report as screen
from app.ui.screens.audit_report import audit_line, showing
from models import AuditEvent
from models.codes import AuditAction, RecordKind, Role
from tests.factories import Ward
from tests.ui.ward_screens import button, chip, field, open_app, run, select_chip, shown, sign_in

CHICAGO = ZoneInfo("America/Chicago")
AUDIT = "/admin/audit"


@pytest.fixture
def viewed(ward, clock):
    """Five minutes after admission, the technician opened the first patient's timeline."""
    clock.advance(minutes=5)
    timeline_for(ward.db, ward.tech, ward.patients[0].id)
    clock.advance(minutes=5)
    return ward


def tech_view_lines(harness, ward) -> list[str]:
    name = "Test technician"
    return [
        text for text in harness.texts() if text.startswith(name) and ward.tech.username in text
    ]


def report_done(texts: list[str]) -> bool:
    """The count line says the report is drawn (or why it is not)."""
    return "Loading the audit report…" not in texts and any(
        "newest first" in text or text.startswith(("No audit rows", "No report shown"))
        for text in texts
    )


async def report_shown(harness) -> None:
    await harness.until(lambda: report_done(harness.texts()))


def test_an_admin_gets_the_admin_desk_with_only_review_screens(viewed):
    ward = viewed

    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.admin.username, lands_on=AUDIT)
        await report_shown(harness)
        bar = harness.page.views[0].navigation_bar
        assert [d.label for d in bar.destinations] == ["Audit report", "Break-glass report"]
        text = shown(harness)
        assert "Administration · Test admin" in text
        # No ward to choose and no patient anywhere: the report names patients by MRN only.
        assert not any(patient.display_name in text for patient in ward.patients)
        menu = [c.content for c in harness.find(lambda c: isinstance(c, ft.PopupMenuItem))]
        assert menu == ["Sign out"]

        for clinical in ["/rounds", f"/patients/{ward.patients[0].id}", "/handoff", "/groups"]:
            await harness.page.push_route(clinical)
            assert harness.page.route == clinical
            await harness.until(lambda: harness.page.route == AUDIT)
            await report_shown(harness)
            assert harness.page.views[0].appbar.title.controls[0].value == "Audit report"
        assert not any(patient.display_name in shown(harness) for patient in ward.patients)

    run(scenario)


def test_no_clinical_screen_is_a_destination_of_the_admin_role():
    assert [screen.pattern for screen in destinations(Role.admin)] == [
        "/admin/audit",
        "/admin/break-glass",
    ]
    for role in (Role.technician, Role.nurse, Role.charge_nurse):
        assert not any(s.pattern.startswith("/admin") for s in destinations(role))


def test_the_admin_sees_the_technicians_view_with_local_time_and_mrn(viewed, clock):
    ward = viewed
    patient = ward.patients[0]

    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.admin.username, lands_on=AUDIT)
        await report_shown(harness)
        text = shown(harness)
        assert "Viewed" in text
        # The view was at 12:05 on the ward (18:05 UTC), and names the patient by MRN.
        assert "12:05:00" in text
        assert f"MRN {patient.mrn} · ward {ward.ward.code}" in text
        assert tech_view_lines(harness, ward)
        assert "timeline" in harness.texts()
        assert "Fri 20 Nov 2026" in text

    run(scenario)


def test_opening_the_report_is_itself_audited(viewed):
    ward = viewed

    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.admin.username, lands_on=AUDIT)
        await report_shown(harness)

    run(scenario)
    with ward.db.reading() as session:
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.staff_id == ward.admin.staff_id)
        ).all()
    reports = [row for row in rows if row.detail.startswith("audit report")]
    assert len(reports) == 1
    assert reports[0].action == AuditAction.view


def test_the_user_and_patient_filters_narrow_the_report(viewed, clock):
    ward = viewed
    other = ward.patients[1]

    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.admin.username, lands_on=AUDIT)
        await report_shown(harness)
        assert "Signed in" in shown(harness)  # the admin's own sign-in

        field(harness, "User (username)").value = ward.tech.username
        await harness.click(harness.button("Show report"))
        await report_shown(harness)
        text = shown(harness)
        assert text.count("Viewed") == 1 and "Signed in" not in text
        assert "1 row, newest first" in harness.texts()

        field(harness, "User (username)").value = ""
        field(harness, "Patient MRN").value = other.mrn
        await harness.click(harness.button("Show report"))
        await report_shown(harness)
        text = shown(harness)
        # Only the second patient's admission: not the first patient's view.
        assert "Viewed" not in text
        assert f"MRN {other.mrn}" in text
        assert f"MRN {ward.patients[0].mrn}" not in text

    run(scenario)


def test_an_unknown_mrn_says_so_and_shows_no_rows(viewed):
    ward = viewed

    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.admin.username, lands_on=AUDIT)
        await report_shown(harness)
        field(harness, "Patient MRN").value = "NOSUCH1"
        await harness.click(harness.button("Show report"))
        await report_shown(harness)
        text = shown(harness)
        assert "No patient has MRN 'NOSUCH1'." in text
        assert "No report shown: change the filters and try again." in text
        assert "Viewed" not in text and "Signed in" not in text

    run(scenario)


def report_reads(db) -> int:
    with db.reading() as session:
        details = session.exec(select(AuditEvent.detail)).all()
    return sum(detail.startswith("audit report") for detail in details)


def test_a_calendar_period_longer_than_92_days_is_refused_without_a_read(viewed):
    ward = viewed

    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.admin.username, lands_on=AUDIT)
        await report_shown(harness)
        reads = report_reads(ward.db)
        await select_chip(harness, "Other dates")
        picker = harness.find(lambda c: isinstance(c, ft.DateRangePicker))[-1]
        assert picker.help_text == "Choose up to 92 days"
        picker.start_value, picker.end_value = datetime(2026, 1, 1), datetime(2026, 11, 20)
        await harness.session.dispatch_event(picker._i, "change", None)
        [problem] = harness.find(
            lambda c: isinstance(c, ft.Text) and c.value == "Choose at most 92 days."
        )
        assert problem.visible and chip(harness, "7 days").selected
        assert report_reads(ward.db) == reads
        # The week shown stays shown.
        assert "Viewed" in shown(harness)

        picker.start_value, picker.end_value = datetime(2026, 11, 20), datetime(2026, 11, 20)
        await harness.session.dispatch_event(picker._i, "change", None)
        await harness.until(lambda: report_reads(ward.db) == reads + 1)
        await report_shown(harness)
        assert not problem.visible and chip(harness, "Other dates").selected
        assert "Fri 20 Nov 2026 · 1 day" in harness.texts()
        assert "Viewed" in shown(harness)

        # Drawn again (night mode): the calendar's days are kept, not the default week.
        await harness.click(harness.by_semantics("Night mode"))
        await harness.until(lambda: "Day mode" in harness.labels())
        await report_shown(harness)
        assert chip(harness, "Other dates").selected
        assert "Fri 20 Nov 2026 · 1 day" in harness.texts()

    run(scenario)


def page_reads(db) -> list[str]:
    """The audit rows of each page of the report read, oldest first."""
    with db.reading() as session:
        details = session.exec(select(AuditEvent.detail).order_by(AuditEvent.id)).all()
    return [detail for detail in details if detail.startswith("audit report")]


def test_a_long_report_is_fetched_a_page_at_a_time(viewed, clock, monkeypatch):
    ward = viewed
    monkeypatch.setattr(screen, "PAGE_SIZE", 3)
    for _ in range(5):
        timeline_for(ward.db, ward.tech, ward.patients[1].id)

    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.admin.username, lands_on=AUDIT)
        await report_shown(harness)
        total = next(t for t in harness.texts() if t.startswith("Showing 3 of "))
        rows = int(total.split(" of ")[1].split()[0])
        assert rows > 6
        # Only the first page was read from the service.
        assert page_reads(ward.db)[-1].endswith(f": 3 of {rows} rows")
        # Newest first: the admin's sign-in is the top row.
        actions = [t for t in harness.texts() if t in screen.ACTION_WORDS.values()]
        assert actions[0] == "Signed in" and len(actions) == 3

        await harness.click(button(harness, "Show older"))
        await harness.until(lambda: f"Showing 6 of {rows} rows, newest first" in harness.texts())
        assert "before=" in page_reads(ward.db)[-1]
        actions = [t for t in harness.texts() if t in screen.ACTION_WORDS.values()]
        assert actions[0] == "Signed in" and len(actions) == 6
        # To the last page; the button goes when nothing older is left.
        while harness.find(
            lambda c: isinstance(c, ft.OutlinedButton) and c.content == "Show older"
        ):
            shown_before = len(harness.find(lambda c: isinstance(c, ft.Text)))
            await harness.click(button(harness, "Show older"))
            await harness.until(
                lambda n=shown_before: len(harness.find(lambda c: isinstance(c, ft.Text))) > n
            )
        assert f"{rows} rows, newest first" in harness.texts()
        # Every row once: the technician's six views among them, none drawn twice.
        actions = [t for t in harness.texts() if t in screen.ACTION_WORDS.values()]
        assert len(actions) == rows and actions.count("Viewed") == 6

    run(scenario)


def test_a_preset_chip_runs_the_report_over_its_days(viewed, clock):
    ward = viewed
    clock.advance(days=3)

    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.admin.username, lands_on=AUDIT)
        await report_shown(harness)
        assert "Viewed" in shown(harness)
        assert chip(harness, "7 days").selected
        await select_chip(harness, "Today")
        await harness.until(lambda: "timeline" not in harness.texts())
        await report_shown(harness)
        assert chip(harness, "Today").selected
        assert "Mon 23 Nov 2026 · 1 day" in harness.texts()
        # Three days later, today holds only the admin's sign-in and first report.
        assert "timeline" not in harness.texts()
        assert "Signed in" in harness.texts()
        assert "2 rows, newest first" in harness.texts()

    run(scenario)


def test_a_row_reads_in_the_hospitals_zone(viewed, clock):
    row = AuditRow(
        id=7,
        at=clock(),
        staff_id=3,
        username="tech-w1",
        staff_name="Test technician W1",
        action=AuditAction.create,
        ward_id=1,
        ward_code="W1",
        patient_id=4,
        mrn="T00004",
        record_kind=RecordKind.check_in,
        record_id=12,
        detail="line one\nline\x1b two",
    )
    line = audit_line(row, CHICAGO)
    assert (line.day, line.time, line.action) == (date(2026, 11, 20), "12:10:00", "Recorded")
    assert line.who == "Test technician W1 (tech-w1)"
    assert line.patient == "MRN T00004 · ward W1 · check in 12"
    assert line.detail == "line one line two"
    failed = row.model_copy(update={"action": AuditAction.sign_in_failed, "staff_name": ""})
    assert audit_line(failed, CHICAGO).alert and audit_line(failed, CHICAGO).who == "tech-w1"
    assert showing(0, 0) == "No audit rows for these filters."
    assert showing(100, 3412) == "Showing 100 of 3,412 rows, newest first"


def test_a_period_is_whole_local_days_across_a_dst_change():
    start, end = DayRange(date(2026, 10, 31), date(2026, 11, 1)).utc_bounds(CHICAGO)
    # Midnight CDT (UTC-5) to midnight CST (UTC-6) two days later: 49 hours.
    assert start.isoformat() == "2026-10-31T05:00:00+00:00"
    assert end - start == timedelta(hours=49)


def test_another_wards_admin_sees_the_same_trail(viewed, db):
    """The audit report is the hospital's: another ward's admin reads this ward's rows too."""
    other = Ward.create(db, patients=0)
    ward = viewed

    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, other.admin.username, lands_on=AUDIT)
        await report_shown(harness)
        assert f"MRN {ward.patients[0].mrn} · ward {ward.ward.code}" in shown(harness)

    run(scenario)


def test_an_admin_who_opened_a_review_address_lands_there_after_sign_in(viewed):
    ward = viewed

    async def scenario():
        harness, _ = await open_app(ward.db, route="/admin/break-glass")
        await sign_in(harness, ward.admin.username, lands_on="/admin/break-glass")
        await harness.until(lambda: "No break-glass openings in this period." in harness.texts())

    run(scenario)
