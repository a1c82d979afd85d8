"""The ward compliance screen: its figures are the service's, on a phone and a tablet, for the
charge nurse only, through the real shell over a real database."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import flet as ft
import pytest
from sqlmodel import select

from app.demo.census import ACCOUNTS
from app.services.check_ins import record_check_in
from app.services.compliance import ward_compliance
from app.services.incidents import record_incident, start_restraint, update_restraint
from app.ui.routes import destinations
from app.ui.screens.compliance import (
    HEADLINES,
    episode_line,
    headline_figures,
    hours_text,
    percent,
    shift_lines,
    shift_rows,
    week_rows,
)
from models import AuditEvent
from models.codes import AuditAction, Role
from tests.factories import PASSWORD, key
from tests.services.filled_demo import open_filled_demo
from tests.ui.ward_screens import (
    TABLET,
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


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=CHICAGO).astimezone(UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, migrated_template):
    yield from open_filled_demo(tmp_path_factory, migrated_template)


@pytest.fixture
def busy_days(ward, clock):
    """Two days of a patient's checks (late, missed, on time), an incident and a seclusion."""
    patient = ward.admit(admitted_at=clock() - timedelta(days=5))

    def check(at, reason=None, *, missed=False):
        fields = {"missed": True} if missed else {"location": "day_room", "status": "resting"}
        record_check_in(
            ward.db,
            ward.tech,
            {
                "patient_id": patient.id,
                "observed_at": at,
                "late_reason": reason,
                "client_key": key(),
                **fields,
            },
        )

    check(local(2026, 11, 19, 8, 0), "other")
    check(local(2026, 11, 19, 8, 14))
    check(local(2026, 11, 19, 16, 0), "staff_emergency")
    check(local(2026, 11, 19, 16, 15), "patient_refused", missed=True)
    check(local(2026, 11, 20, 9, 0), "staff_emergency")
    record_incident(
        ward.db,
        ward.tech,
        {
            "patient_id": patient.id,
            "occurred_at": local(2026, 11, 19, 15, 30),
            "incident_type": "verbal_aggression",
            "location": "hallway",
            "moas_verbal": 2,
            "client_key": key(),
        },
    )
    episode = start_restraint(
        ward.db,
        ward.nurse,
        {
            "patient_id": patient.id,
            "kind": "seclusion",
            "ordered_at": local(2026, 11, 19, 15, 35),
            "ordered_by": "Dr Synthetic",
            "started_at": local(2026, 11, 19, 15, 35),
            "client_key": key(),
        },
    )
    update_restraint(
        ward.db,
        ward.nurse,
        episode.id,
        {"ended_at": local(2026, 11, 19, 17, 5), "face_to_face_at": local(2026, 11, 19, 16)},
    )
    return patient


def test_numbers_read_at_a_glance():
    rates = (None, 0.0, 0.934, 0.93, 1 / 3, 0.9996, 1.0)
    assert [percent(rate) for rate in rates] == [
        "—",
        "0%",
        "93.4%",
        "93%",
        "33.3%",
        "99.9%",
        "100%",
    ]
    assert [hours_text(hours) for hours in (0.0, 1.5, 12.0, 0.83)] == [
        "0 h",
        "1.5 h",
        "12 h",
        "0.8 h",
    ]


def test_figures_and_lines_are_the_services_numbers(ward, busy_days):
    compliance = ward_compliance(
        ward.db, ward.charge, ward.ward.id, start=date(2026, 11, 19), end=date(2026, 11, 20)
    )

    figures = {
        figure.label: (figure.value, figure.alert) for figure in headline_figures(compliance)
    }
    assert figures == {
        "Checks on time": ("20%", False),
        "Late checks": ("3", True),
        "Missed checks": ("1", True),
        "Incidents": ("1", True),
        "Restraint / seclusion episodes": ("1", True),
        "Hours in restraint / seclusion": ("1.5 h", True),
    }
    rows = {row.name: row for row in shift_rows(compliance)}
    assert list(rows) == ["Day shifts", "Evening shifts", "Night shifts"]
    assert rows["Day shifts"].counts == "1 on time · 2 late · 0 missed"
    assert rows["Day shifts"].shifts == "2 shifts"
    assert rows["Day shifts"].reasons == "Late or missed because: other 1, pulled to an emergency 1"
    assert rows["Evening shifts"].on_time == "0%" and rows["Evening shifts"].missed
    assert rows["Night shifts"].on_time == "—"
    lines = shift_lines(compliance, CHICAGO)
    assert lines[0].startswith("Fri 20 Nov · Day 07:00-15:00 (now) · 0% on time")
    assert lines[-1].startswith("Thu 19 Nov · Day 07:00-15:00 · 50% on time")
    weeks = week_rows(compliance)
    assert [(week.title, week.incidents) for week in weeks] == [
        ("Week of Mon 16 Nov (Thu 19 Nov to Fri 20 Nov only)", 1)
    ]
    assert weeks[0].detail == "MOAS total 2 · verbal aggression 1"
    assert episode_line(compliance.episodes[0], CHICAGO) == (
        f"Room {busy_days.room} · {busy_days.display_name} · seclusion Thu 19 Nov 15:35, 1.5 h"
        " · face-to-face on time"
    )


def test_only_the_charge_nurse_has_the_destination():
    names = {role: [screen.name for screen in destinations(role)] for role in Role}
    assert "compliance" in names[Role.charge_nurse]
    assert all("compliance" not in names[role] for role in Role if role != Role.charge_nurse)


def compliance_views(db, ward_id: int) -> list[str]:
    with db.reading() as session:
        rows = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == AuditAction.view, AuditEvent.ward_id == ward_id)
            .order_by(AuditEvent.id)
        ).all()
    return [row.detail for row in rows if row.detail.startswith("compliance")]


def figure_values(harness) -> list[str]:
    """The big figures in order: the text above each headline label."""
    texts = harness.texts()
    return [texts[texts.index(label) - 1] for label in HEADLINES]


@pytest.mark.slow
def test_the_demo_week_then_month_on_a_phone_match_the_service(demo):
    charge = demo.actors["charge"]
    today = demo.clock().astimezone(CHICAGO).date()
    week = ward_compliance(
        demo.db, charge, demo.ward_id, start=today - timedelta(days=6), end=today
    )
    month = ward_compliance(
        demo.db, charge, demo.ward_id, start=today - timedelta(days=29), end=today
    )
    before = compliance_views(demo.db, demo.ward_id)

    async def scenario():
        harness = await signed_in(demo.db, "charge", PASSWORDS["charge"])
        bar = harness.page.views[0].navigation_bar
        assert "Compliance" in [place.label for place in bar.destinations]
        await go(harness, "/compliance")
        await wait_for_text(harness, "Checks by shift")
        assert chip(harness, "7 days").selected
        shown_week = figure_values(harness)
        text_week = shown(harness)
        await select_chip(harness, "30 days")
        await harness.until(lambda: figure_values_or_none(harness) not in (None, shown_week))
        return shown_week, text_week, figure_values(harness), shown(harness)

    shown_week, text_week, shown_month, text_month = run(scenario)

    assert shown_week == [figure.value for figure in headline_figures(week)]
    assert shown_month == [figure.value for figure in headline_figures(month)]
    assert shown_week != shown_month
    for row in shift_rows(week):
        assert row.counts in text_week and row.reasons in text_week
    for row in week_rows(month):
        assert row.title in text_month
    assert "seclusion" in text_month and "face-to-face" in text_month
    assert compliance_views(demo.db, demo.ward_id)[len(before) :] == [
        f"compliance {today - timedelta(days=6)}..{today}",
        f"compliance {today - timedelta(days=29)}..{today}",
    ]


def figure_values_or_none(harness) -> list[str] | None:
    try:
        return figure_values(harness)
    except ValueError:  # still loading: the labels are not on the page
        return None


def test_on_a_tablet_it_is_in_the_rail_and_others_are_sent_home(ward, busy_days):
    async def charge_nurse():
        harness = await signed_in(ward.db, ward.charge.username, PASSWORD, **TABLET)
        await go(harness, "/compliance")
        await wait_for_text(harness, "Restraint and seclusion")
        rail = harness.find(lambda c: isinstance(c, ft.NavigationRail))[0]
        labels = [place.label for place in rail.destinations]
        return labels[rail.selected_index], shown(harness)

    selected, text = run(charge_nurse)
    assert selected == "Compliance"
    assert "Sat 14 Nov to Fri 20 Nov 2026 · 7 days" in text
    assert "1 on time · 2 late · 0 missed" in text

    async def nurse():
        harness = await signed_in(ward.db, ward.nurse.username, PASSWORD)
        await go(harness, "/compliance")
        await harness.until(lambda: harness.page.route == "/rounds")

    run(nurse)


def test_a_calendar_range_longer_than_the_service_takes_is_refused_on_the_spot(ward):
    async def scenario():
        harness = await signed_in(ward.db, ward.charge.username, PASSWORD)
        await go(harness, "/compliance")
        await wait_for_text(harness, "Checks by shift")
        await select_chip(harness, "Other dates")
        picker = harness.find(lambda c: isinstance(c, ft.DateRangePicker))[-1]
        picker.start_value, picker.end_value = datetime(2025, 1, 1), datetime(2026, 11, 20)
        await harness.session.dispatch_event(picker._i, "change", None)
        [problem] = harness.find(
            lambda c: isinstance(c, ft.Text) and c.value == "Choose at most 400 days."
        )
        assert problem.visible and chip(harness, "7 days").selected
        picker.start_value, picker.end_value = datetime(2026, 11, 2), datetime(2026, 11, 15)
        await harness.session.dispatch_event(picker._i, "change", None)
        await wait_for_text(harness, "Mon 2 Nov to Sun 15 Nov 2026 · 14 days")
        assert not problem.visible

    before = compliance_views(ward.db, ward.ward.id)
    run(scenario)
    # Refused on the screen, so only the first week and the chosen fortnight were read.
    assert compliance_views(ward.db, ward.ward.id)[len(before) :] == [
        "compliance 2026-11-14..2026-11-20",
        "compliance 2026-11-02..2026-11-15",
    ]
