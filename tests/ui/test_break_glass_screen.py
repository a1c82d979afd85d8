"""Break-glass through the real shell over a real database: a technician opens another ward's
patient with a reason, reads the timeline under the expiry banner, and loses it at expiry."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import flet as ft
import pytest
from sqlmodel import func, select

from app.services.break_glass import open_break_glass
from app.services.check_ins import record_check_in
from app.services.timeline import timeline_for
from app.ui.screens.break_glass import banner_text, reason_problem
from models import AuditEvent, BreakGlassGrant
from models.codes import AuditAction
from tests.factories import Ward, key
from tests.ui.ward_screens import button, field, open_app, run, select_chip, shown, sign_in

REASON = "Transferred to us tonight; reading the last day of checks"
BANNER = "Break-glass access — expires 13:00"  # opened at noon on the ward, for 60 minutes
FORM = "/break-glass"
MRN_LABEL = "Patient MRN"
REASON_LABEL = "Why do you need this record? (required)"


@pytest.fixture
def elsewhere(db, clock) -> Ward:
    """Another ward, whose first patient had a check by that ward's technician."""
    other = Ward.create(db, patients=2)
    record_check_in(
        db,
        other.tech,
        {
            "patient_id": other.patients[0].id,
            "observed_at": clock(),
            "location": "day_room",
            "status": "resting",
            "client_key": key(),
        },
    )
    return other


def tech_name(ward: Ward) -> str:
    """How the timeline signs that ward technician's entries."""
    return f"Test technician {ward.ward.code}"


def grants(db) -> int:
    with db.reading() as session:
        return session.exec(select(func.count()).select_from(BreakGlassGrant)).one()


def open_dialogs(harness) -> list[ft.AlertDialog]:
    return harness.find(lambda c: isinstance(c, ft.AlertDialog) and c.open)


async def to_the_form(harness) -> None:
    """From the rounds screen, through the app bar's "More" menu."""
    item = harness.find(
        lambda c: isinstance(c, ft.PopupMenuItem) and c.content == "Break-glass access"
    )
    assert item, "no break-glass entry in the More menu"
    await harness.click(item[0])
    await harness.until(lambda: harness.page.route == FORM)


async def fill(harness, mrn: str, reason: str) -> None:
    field(harness, MRN_LABEL).value = mrn
    field(harness, REASON_LABEL).value = reason
    await harness.click(harness.button("Continue"))


def open_record(harness) -> ft.Control:
    """The open warning's "Open record" (a closed warning stays on the page until dismissed)."""
    [dialog] = open_dialogs(harness)
    return next(action for action in dialog.actions if action.content == "Open record")


async def break_the_glass(harness, mrn: str, reason: str = REASON) -> None:
    await fill(harness, mrn, reason)
    await harness.until(lambda: open_dialogs(harness))
    await harness.click(open_record(harness))


def test_a_technician_opens_another_wards_patient_and_reads_the_timeline(ward, elsewhere):
    patient = elsewhere.patients[0]

    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.tech.username, lands_on="/rounds")
        assert patient.display_name not in shown(harness)
        await to_the_form(harness)
        await fill(harness, patient.mrn, REASON)
        await harness.until(lambda: open_dialogs(harness))
        warning = shown(harness)
        assert f"Break the glass for MRN {patient.mrn}?" in warning
        assert "audit trail" in warning and "60 minutes, until about 13:00" in warning
        # The name is not shown before the glass is broken.
        assert patient.display_name not in warning
        assert grants(ward.db) == 0

        await harness.click(open_record(harness))
        await harness.until(lambda: harness.page.route == f"/patients/{patient.id}")
        await harness.until(lambda: patient.display_name in shown(harness))
        await harness.until(lambda: "Nothing older." in harness.texts())
        text = shown(harness)
        assert BANNER in text
        assert "Read only. This view is recorded in the audit trail." in text
        assert f"by {tech_name(elsewhere)}" in text
        # Reading only: nothing to record for this patient from here.
        assert not harness.find(
            lambda c: isinstance(c, ft.FilledButton) and c.content == "Check-in"
        )
        assert not harness.find(
            lambda c: isinstance(c, ft.OutlinedButton) and c.content == "Incident"
        )

    run(scenario)
    with ward.db.reading() as session:
        grant = session.exec(select(BreakGlassGrant)).one()
        opened = session.exec(
            select(AuditEvent).where(AuditEvent.action == AuditAction.break_glass.value)
        ).one()
    assert (grant.staff_id, grant.patient_id, grant.reason) == (
        ward.tech.staff_id,
        patient.id,
        REASON,
    )
    assert REASON in opened.detail


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "Say why you need this patient's record."),
        ("   ", "Say why you need this patient's record."),
        ("urgent", "Say why in at least 10 characters."),
    ],
)
def test_without_a_reason_nothing_is_granted(ward, elsewhere, reason, message):
    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.tech.username, lands_on="/rounds")
        await to_the_form(harness)
        await fill(harness, elsewhere.patients[0].mrn, reason)
        assert field(harness, REASON_LABEL).error == message
        assert not open_dialogs(harness)
        assert harness.page.route == FORM

    run(scenario)
    assert grants(ward.db) == 0


def test_cancelling_the_warning_grants_nothing(ward, elsewhere):
    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.tech.username, lands_on="/rounds")
        await to_the_form(harness)
        await fill(harness, elsewhere.patients[0].mrn, REASON)
        await harness.until(lambda: open_dialogs(harness))
        await harness.click(harness.button("Cancel"))
        assert not open_dialogs(harness)
        assert harness.page.route == FORM

    run(scenario)
    assert grants(ward.db) == 0


def test_an_unknown_mrn_and_an_own_ward_patient_are_explained(ward, elsewhere):
    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.tech.username, lands_on="/rounds")
        await to_the_form(harness)
        # The form cannot tell an unknown MRN from a known one: it asks the same question,
        # and the service answers only when the glass is broken.
        await fill(harness, "NOSUCH1", REASON)
        await harness.until(lambda: open_dialogs(harness))
        assert "Break the glass for MRN NOSUCH1?" in shown(harness)
        await harness.click(open_record(harness))
        await harness.until(lambda: field(harness, MRN_LABEL).error)
        assert field(harness, MRN_LABEL).error == "No patient has MRN 'NOSUCH1'."
        assert not open_dialogs(harness)

        own = ward.patients[0]
        await break_the_glass(harness, own.mrn)
        conflict = f"{own.display_name} is on your wards: open their record directly."
        await harness.until(lambda: conflict in harness.texts())
        assert not open_dialogs(harness)
        assert harness.page.route == FORM

    run(scenario)
    assert grants(ward.db) == 0


def test_at_expiry_the_timeline_is_closed_and_then_refused(ward, elsewhere, clock):
    patient = elsewhere.patients[0]

    async def scenario():
        harness, app = await open_app(ward.db)
        await sign_in(harness, ward.tech.username, lands_on="/rounds")
        await to_the_form(harness)
        await break_the_glass(harness, patient.mrn)
        await harness.until(lambda: patient.display_name in shown(harness))

        clock.advance(minutes=59)
        await app._tick()
        assert harness.page.route == f"/patients/{patient.id}"
        assert BANNER in shown(harness)

        clock.advance(minutes=1)
        await app._tick()
        await harness.until(lambda: harness.page.route == FORM)
        text = shown(harness)
        assert "Break-glass access ended at 13:00; the record was closed." in text
        assert patient.display_name not in text

        # Going back to the timeline's address shows nothing of the patient.
        await harness.page.push_route(f"/patients/{patient.id}")
        await harness.until(lambda: "This patient's record cannot be shown." in harness.texts())
        await harness.until(lambda: "Could not load. Try again" in harness.texts())
        text = shown(harness)
        assert patient.display_name not in text and BANNER not in text
        assert f"by {tech_name(elsewhere)}" not in text

    run(scenario)


def test_a_grant_ended_while_the_screen_was_away_is_not_shown_on_return(ward, elsewhere, clock):
    patient = elsewhere.patients[0]

    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.tech.username, lands_on="/rounds")
        await to_the_form(harness)
        await break_the_glass(harness, patient.mrn)
        await harness.until(lambda: patient.display_name in shown(harness))
        await harness.page.push_route("/rounds")
        await harness.until(lambda: patient.display_name not in shown(harness))

        clock.advance(minutes=61)
        await harness.page.push_route(f"/patients/{patient.id}")
        await harness.until(lambda: harness.page.route == FORM)
        assert "Break-glass access ended at 13:00" in shown(harness)
        assert patient.display_name not in shown(harness)

    run(scenario)


def test_a_nurse_reads_but_cannot_correct_through_break_glass(ward, elsewhere):
    patient = elsewhere.patients[0]

    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.nurse.username, lands_on="/rounds")
        await to_the_form(harness)
        await break_the_glass(harness, patient.mrn)
        await harness.until(lambda: "Nothing older." in harness.texts())
        assert BANNER in shown(harness)
        assert f"by {tech_name(elsewhere)}" in shown(harness)
        assert "Amend or void" not in harness.labels()

    run(scenario)


def test_the_form_lists_the_patients_open_now(ward, elsewhere):
    patient = elsewhere.patients[1]
    open_break_glass(
        ward.db, ward.tech, {"mrn": patient.mrn, "reason": REASON, "client_key": key()}
    )

    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.tech.username, lands_on="/rounds")
        await to_the_form(harness)
        line = f"{patient.display_name} · MRN {patient.mrn} · until 13:00"
        await harness.until(lambda: line in harness.texts())
        await harness.click(button(harness, "Open timeline"))
        await harness.until(lambda: BANNER in shown(harness))
        assert harness.page.route == f"/patients/{patient.id}"

    run(scenario)


def test_an_admin_is_not_given_the_break_glass_form(ward):
    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.admin.username, lands_on="/admin/audit")
        await harness.page.push_route(FORM)
        await harness.until(lambda: harness.page.route == "/admin/audit")

    run(scenario)


def test_the_words_of_the_banner_and_the_reason_check():
    zone = ZoneInfo("America/Chicago")
    expires = datetime(2026, 11, 20, 19, 0, tzinfo=UTC) + timedelta(minutes=5)
    assert banner_text(expires, zone) == "Break-glass access — expires 13:05"
    assert reason_problem("  short  ") == "Say why in at least 10 characters."
    assert reason_problem("Transferred at night") is None


def test_the_admin_reads_the_opening_in_the_break_glass_report(ward, elsewhere, clock):
    patient = elsewhere.patients[0]
    open_break_glass(
        ward.db, ward.tech, {"mrn": patient.mrn, "reason": REASON, "client_key": key()}
    )
    timeline_for(ward.db, ward.tech, patient.id)
    timeline_for(ward.db, ward.tech, patient.id)
    clock.advance(minutes=5)

    async def scenario():
        harness, _ = await open_app(ward.db)
        await sign_in(harness, ward.admin.username, lands_on="/admin/audit")
        bar = harness.page.views[0].navigation_bar
        bar.selected_index = 1
        await harness.session.dispatch_event(bar._i, "change", None)
        await harness.until(lambda: "1 opening, newest first" in harness.texts())
        assert harness.page.route == "/admin/break-glass"
        text = shown(harness)
        assert f"MRN {patient.mrn} · ward {elsewhere.ward.code}" in text
        assert f"{tech_name(ward)} ({ward.tech.username}, technician)" in text
        assert f"Reason: {REASON}" in text
        assert "In force until 13:00" in text
        assert "Opened Fri 20 Nov 12:00 · expires 13:00 · Viewed 2 times" in text
        assert patient.display_name not in text

        clock.advance(hours=1)
        await harness.click(harness.button("Show report"))
        await harness.until(lambda: "Ended 13:00" in harness.texts())

        # Days before the opening, from the calendar: nothing to review.
        await select_chip(harness, "Other dates")
        picker = harness.find(lambda c: isinstance(c, ft.DateRangePicker))[-1]
        picker.start_value, picker.end_value = datetime(2026, 11, 1), datetime(2026, 11, 10)
        await harness.session.dispatch_event(picker._i, "change", None)
        await harness.until(lambda: "No break-glass openings in this period." in harness.texts())
        assert "Sun 1 Nov to Tue 10 Nov 2026 · 10 days" in harness.texts()
        assert f"Reason: {REASON}" not in shown(harness)

    run(scenario)
    with ward.db.reading() as session:
        reviews = session.exec(
            select(AuditEvent).where(AuditEvent.staff_id == ward.admin.staff_id)
        ).all()
    assert sum(row.detail.startswith("break-glass report") for row in reviews) == 3
