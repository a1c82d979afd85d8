"""Exports from the timeline without a browser: the bytes handed to the browser parse (PDF, a
formula-safe CSV, a FHIR bundle), each export writes its audit row, and failures say what
happened. Through the real shell, services and database."""

import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import flet as ft
import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlmodel import select

from app.demo.census import ACCOUNTS
from app.services.break_glass import open_break_glass
from app.services.check_ins import record_check_in
from app.services.wards import patient_header
from app.ui.date_range import DayRange, last_days, picked_day, range_problem
from app.ui.screens.export import (
    FORMATS,
    PART_2_NOTICE,
    confirmation,
    export_format,
    export_route,
    file_name,
    patient_days,
    range_presets,
    size_text,
)
from models import AuditEvent
from models.codes import AuditAction
from tests.factories import PASSWORD, Ward, key
from tests.services.filled_demo import open_filled_demo
from tests.ui.ward_screens import (
    ClientCalls,
    button,
    chip,
    go,
    run,
    select_chip,
    shown,
    signed_in,
    wait_for_text,
)

CHICAGO = ZoneInfo("America/Chicago")
PASSWORDS = {account.username: account.password for account in ACCOUNTS}


@pytest.fixture(scope="module")
def demo(tmp_path_factory, migrated_template):
    yield from open_filled_demo(tmp_path_factory, migrated_template)


def exports_of(db, patient_id: int) -> list[tuple[int, str]]:
    with db.reading() as session:
        rows = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == AuditAction.export, AuditEvent.patient_id == patient_id)
            .order_by(AuditEvent.id)
        ).all()
    return [(row.staff_id, row.detail) for row in rows]


async def export_once(harness, calls: ClientCalls, name: str) -> bytes:
    """Tap "Download <name>" and return the bytes the browser was handed."""
    await harness.click(button(harness, f"Download {name}"))
    await wait_for_text(harness, "The export is recorded in the audit log", timeout=60)
    saved = calls.named("save_file")
    assert saved, "nothing was handed to the browser"
    return saved[-1].args["src_bytes"]


# The pure half


def test_file_names_carry_the_range_and_kind_but_nothing_about_the_patient():
    chosen = DayRange(date(2026, 10, 22), date(2026, 11, 20))
    names = [file_name(choice, chosen) for choice in FORMATS]
    assert names == [
        "rounds-2026-10-22-to-2026-11-20.pdf",
        "rounds-2026-10-22-to-2026-11-20.csv",
        "rounds-2026-10-22-to-2026-11-20-fhir.json",
    ]


def test_sizes_read_as_people_say_them():
    assert [size_text(n) for n in (812, 14_321, 1_430_000)] == ["812 bytes", "14 KB", "1.4 MB"]


def test_ranges_start_no_earlier_than_the_admission_and_end_at_discharge(ward, clock):
    patient = ward.admit(admitted_at=clock() - timedelta(days=12))
    read = patient_header(ward.db, ward.charge, patient.id)
    first, last = patient_days(read, CHICAGO, clock())
    assert (first, last) == (date(2026, 11, 8), date(2026, 11, 20))
    presets = {preset.label: preset.choose() for preset in range_presets(first, last)}
    assert presets["7 days"] == DayRange(date(2026, 11, 14), date(2026, 11, 20))
    assert presets["30 days"] == DayRange(first, last)
    assert presets["Whole stay"] == DayRange(first, last)
    left = read.model_copy(update={"discharged_at": clock() - timedelta(days=2)})
    assert patient_days(left, CHICAGO, clock())[1] == date(2026, 11, 18)


def test_a_range_reads_as_days_and_a_calendar_answer_keeps_its_day():
    assert DayRange(date(2026, 11, 14), date(2026, 11, 20)).text() == (
        "Sat 14 Nov to Fri 20 Nov 2026 · 7 days"
    )
    assert DayRange(date(2026, 12, 28), date(2027, 1, 3)).text() == (
        "Mon 28 Dec 2026 to Sun 3 Jan 2027 · 7 days"
    )
    assert last_days(date(2026, 11, 20), 1).text() == "Fri 20 Nov 2026 · 1 day"
    # The browser's midnight, sent as it is or as an instant in UTC, from a zone near the ward's.
    assert picked_day(datetime(2026, 11, 14), CHICAGO) == date(2026, 11, 14)
    for zone in ("America/Chicago", "America/Los_Angeles", "America/New_York", "UTC"):
        midnight = datetime(2026, 11, 14, tzinfo=ZoneInfo(zone))
        assert picked_day(midnight.astimezone(ZoneInfo("UTC")), CHICAGO) == date(2026, 11, 14)
    assert picked_day(None, CHICAGO) is None
    window = (date(2026, 1, 1), date(2026, 11, 20))
    assert range_problem(DayRange(date(2026, 11, 1), date(2026, 11, 20)), *window, 400) == ""
    assert "at most 7 days" in range_problem(
        DayRange(date(2026, 11, 1), date(2026, 11, 20)), *window, 7
    )
    assert "from Thu 1 Jan" in range_problem(
        DayRange(date(2025, 12, 1), date(2026, 11, 20)), *window, 400
    )


# Through the shell


@pytest.mark.slow
def test_a_pdf_of_the_last_30_days_is_handed_to_the_browser_and_audited(demo):
    patient = demo.patient("D0001")
    charge = demo.actors["charge"]
    today = demo.clock().astimezone(CHICAGO).date()
    month = DayRange(today - timedelta(days=29), today)
    before = exports_of(demo.db, patient)

    async def scenario():
        harness = await signed_in(demo.db, "charge", PASSWORDS["charge"])
        calls = ClientCalls(harness)
        await go(harness, export_route(patient))
        await wait_for_text(harness, month.text())
        assert chip(harness, "30 days").selected
        content = await export_once(harness, calls, "PDF")
        return harness, calls, content

    harness, calls, content = run(scenario)

    assert content.startswith(b"%PDF-") and content.rstrip().endswith(b"%%EOF")
    call = calls.named("save_file")[0]
    assert call.args["file_name"] == f"rounds-{month.start}-to-{month.end}.pdf"
    read = patient_header(demo.db, charge, patient)
    assert confirmation(
        export_format("pdf"), read, month, len(content), call.args["file_name"]
    ) in shown(harness)
    assert PART_2_NOTICE not in shown(harness)
    assert exports_of(demo.db, patient)[len(before) :] == [
        (charge.staff_id, f"pdf {month.start}..{month.end} via web app")
    ]


@pytest.mark.slow
def test_a_fhir_bundle_of_a_week_parses_and_a_part_2_patient_is_flagged(demo):
    patient = demo.patient("D0011")
    today = demo.clock().astimezone(CHICAGO).date()
    week = DayRange(today - timedelta(days=6), today)
    before = exports_of(demo.db, patient)

    async def scenario():
        harness = await signed_in(demo.db, "charge", PASSWORDS["charge"])
        calls = ClientCalls(harness)
        await go(harness, export_route(patient))
        await wait_for_text(harness, PART_2_NOTICE)
        await select_chip(harness, "7 days")
        await wait_for_text(harness, week.text())
        content = await export_once(harness, calls, "FHIR")
        return calls, content

    calls, content = run(scenario)

    bundle = Bundle.model_validate_json(content)
    assert bundle.type == "collection"
    kinds = [entry.resource.get_resource_type() for entry in bundle.entry]
    assert kinds.count("Patient") == 1 and "Observation" in kinds
    assert bundle.entry[kinds.index("Patient")].resource.identifier[0].value == "D0011"
    assert calls.named("save_file")[0].args["file_name"].endswith("-fhir.json")
    assert [detail for _, detail in exports_of(demo.db, patient)[len(before) :]] == [
        f"fhir {week.start}..{week.end} via web app"
    ]


def test_a_csv_is_handed_over_with_formula_cells_neutralised(ward, clock):
    patient = ward.patients[0]
    record_check_in(
        ward.db,
        ward.tech,
        {
            "patient_id": patient.id,
            "observed_at": clock() - timedelta(minutes=5),
            "location": "day_room",
            "status": "resting",
            "note": '=HYPERLINK("http://example.invalid","x")',
            "client_key": key(),
        },
    )

    async def scenario():
        harness = await signed_in(ward.db, ward.charge.username, PASSWORD)
        calls = ClientCalls(harness)
        await go(harness, export_route(patient.id))
        await wait_for_text(harness, "Download CSV")
        return await export_once(harness, calls, "CSV")

    content = run(scenario)

    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    cells = [cell for row in rows for cell in row]
    assert '\'=HYPERLINK("http://example.invalid","x")' in cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert [detail.split(" ", 1)[0] for _, detail in exports_of(ward.db, patient.id)] == ["csv"]


def test_a_refused_export_says_so_and_nothing_is_handed_over(ward, db, clock):
    """A charge nurse reading another ward's patient through break-glass may read, not export."""
    elsewhere = Ward.create(db)
    patient = elsewhere.patients[0]
    open_break_glass(
        db,
        ward.charge,
        {
            "mrn": patient.mrn,
            "reason": "Covering the other ward tonight",
            "client_key": key(),
        },
    )

    async def scenario():
        harness = await signed_in(db, ward.charge.username, PASSWORD)
        calls = ClientCalls(harness)
        await go(harness, export_route(patient.id))
        await wait_for_text(harness, "Download PDF")
        await harness.click(button(harness, "Download PDF"))
        await wait_for_text(harness, "Nothing was exported. This patient or ward is not on")
        return harness, calls

    harness, calls = run(scenario)

    assert calls.named("save_file") == []
    assert exports_of(db, patient.id) == []
    assert not button(harness, "Download PDF").disabled


def test_when_the_browser_does_not_take_the_file_the_screen_says_so(ward):
    patient = ward.patients[0]

    async def scenario():
        harness = await signed_in(ward.db, ward.charge.username, PASSWORD)
        browser = harness.browser
        answer = browser._answer

        async def refuse_saving(call) -> None:
            if call.name == "save_file":
                browser.session.handle_invoke_method_results(
                    call.control_id, call.call_id, None, "Download blocked"
                )
                return
            await answer(call)

        browser._answer = refuse_saving
        await go(harness, export_route(patient.id))
        await wait_for_text(harness, "Download CSV")
        await harness.click(button(harness, "Download CSV"))
        await wait_for_text(harness, "your browser did not save it")
        return harness

    harness = run(scenario)

    assert "The CSV was made (and is in the audit log)" in shown(harness)
    # The service made and audited the file before the browser refused it.
    assert len(exports_of(ward.db, patient.id)) == 1


def test_other_dates_from_the_calendar_are_exported(ward, clock):
    patient = ward.admit(admitted_at=clock() - timedelta(days=40))

    async def scenario():
        harness = await signed_in(ward.db, ward.charge.username, PASSWORD)
        calls = ClientCalls(harness)
        await go(harness, export_route(patient.id))
        await wait_for_text(harness, "Download CSV")
        await select_chip(harness, "Other dates")
        picker = harness.find(lambda c: isinstance(c, ft.DateRangePicker))[-1]
        # The calendar opens on the range shown (at ward noon), from admission to today.
        assert picker.start_value.astimezone(CHICAGO).date() == date(2026, 10, 22)
        assert picker.first_date.astimezone(CHICAGO).date() == date(2026, 10, 11)
        assert picker.last_date.astimezone(CHICAGO).date() == date(2026, 11, 20)
        # What the browser sends back: the chosen days at its midnight.
        picker.start_value, picker.end_value = datetime(2026, 11, 1), datetime(2026, 11, 10)
        await harness.session.dispatch_event(picker._i, "change", None)
        await wait_for_text(harness, "Sun 1 Nov to Tue 10 Nov 2026 · 10 days")
        assert chip(harness, "Other dates").selected and not chip(harness, "30 days").selected
        await export_once(harness, calls, "CSV")
        return calls

    calls = run(scenario)

    assert calls.named("save_file")[0].args["file_name"] == "rounds-2026-11-01-to-2026-11-10.csv"
    assert exports_of(ward.db, patient.id) == [
        (ward.charge.staff_id, "csv 2026-11-01..2026-11-10 via web app")
    ]
