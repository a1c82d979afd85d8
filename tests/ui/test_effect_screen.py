"""The before/after screen on the demo ward's 30 days of history, through the real shell and
services, without a browser: improvement, worsening, "not enough data", another window and
another treatment change."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import flet as ft
import pytest
from sqlmodel import select

from app.demo.census import ACCOUNTS
from app.services.break_glass import open_break_glass
from app.services.corrections import void_record
from app.services.effect import (
    DEFAULT_DAYS,
    MAX_DAYS,
    MIN_DAYS,
    MeasureKey,
    Verdict,
    compare_around,
)
from app.services.timeline import MAX_PAGE, timeline_for
from app.services.treatment import record_treatment_event
from app.ui.screens.effect import (
    NO_CHANGES,
    NO_VALUE,
    VERDICT_WORDS,
    WINDOWS,
    effect_route,
    event_choices,
    measure_card,
    verdict_summary,
    window_line,
)
from app.ui.screens.export import export_route
from models import AuditEvent
from models.codes import AuditAction, RecordKind
from tests.factories import PASSWORD, Ward, key
from tests.services.filled_demo import open_filled_demo
from tests.ui.ward_screens import (
    TABLET,
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


def by_measure(comparison):
    return {row.measure: row for row in comparison.measures}


def effect_views(db, patient_id: int) -> list[str]:
    with db.reading() as session:
        rows = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == AuditAction.view, AuditEvent.patient_id == patient_id)
            .order_by(AuditEvent.id)
        ).all()
    return [row.detail for row in rows if row.detail.startswith("effect of treatment")]


def test_the_windows_offered_are_ones_the_service_takes():
    assert DEFAULT_DAYS in WINDOWS
    assert all(MIN_DAYS <= days <= MAX_DAYS for days in WINDOWS)


@pytest.mark.slow
def test_cards_show_each_measure_in_its_own_unit(demo):
    comparison = compare_around(demo.db, demo.actors["nurse"], demo.patient("D0001"))
    rows = by_measure(comparison)

    mood = measure_card(rows[MeasureKey.mood])
    assert mood.verdict_text == "Better"
    assert float(mood.after) > float(mood.before)
    assert mood.change.startswith("+")
    assert mood.unit == "(0-10)"
    assert mood.interval.startswith("95% interval of the change: +")
    assert mood.sentence == rows[MeasureKey.mood].sentence
    groups = measure_card(rows[MeasureKey.participation])
    assert groups.before.endswith("%") and groups.change.endswith(" points")
    incidents = measure_card(rows[MeasureKey.incidents])
    assert incidents.unit == "a week"
    assert "whole days with data before" in incidents.days
    assert "better" in verdict_summary(comparison)


@pytest.mark.slow
def test_a_card_without_enough_data_shows_no_figures(demo):
    comparison = compare_around(demo.db, demo.actors["tech"], demo.patient("D0014"))

    for row in comparison.measures:
        card = measure_card(row)
        assert card.verdict == Verdict.not_enough_data
        assert (card.before, card.after, card.change, card.interval) == (
            NO_VALUE,
            NO_VALUE,
            NO_VALUE,
            "",
        )
        assert "not enough data to say" in card.sentence
    assert verdict_summary(comparison) == f"{len(comparison.measures)} not enough data"


def test_choices_are_the_current_changes_in_effect_newest_first(ward, clock):
    patient = ward.admit(admitted_at=clock() - timedelta(days=20))

    def change(days_ago: float, name: str):
        return record_treatment_event(
            ward.db,
            ward.nurse,
            {
                "patient_id": patient.id,
                "kind": "medication_started",
                "effective_at": clock() - timedelta(days=days_ago),
                "name": name,
                "client_key": key(),
            },
        )

    older, voided, newer = change(10, "sertraline"), change(5, "lorazepam"), change(2, "quetiapine")
    void_record(ward.db, ward.nurse, RecordKind.treatment, voided.id, "Wrong patient")
    page = timeline_for(ward.db, ward.nurse, patient.id, kinds={RecordKind.treatment})

    choices = event_choices(page.entries, CHICAGO, clock())

    assert [choice.id for choice in choices] == [newer.id, older.id]
    assert choices[0].label == "Wed 18 Nov · Medication started · quetiapine"
    # Three days ago the newer change was not in effect yet: nothing to compare around it.
    assert event_choices(page.entries, CHICAGO, clock() - timedelta(days=3)) == choices[1:]


@pytest.mark.slow
def test_the_window_line_says_when_the_after_side_is_not_complete(demo):
    # D0001's dose changed 24 days after admission and 15 days before the clock's today.
    comparison = compare_around(demo.db, demo.actors["nurse"], demo.patient("D0001"), days=21)
    today = demo.clock().astimezone(CHICAGO).date()

    line = window_line(comparison, today)

    assert line.startswith(f"21 days before ({comparison.before_first:%a}")
    assert "21 days after (" in line and "to today, 15 days so far)" in line
    month = compare_around(demo.db, demo.actors["nurse"], demo.patient("D0001"), days=28)
    assert window_line(month, today).startswith("Only 24 days before, since admission (")
    assert f"{comparison.change_day:%a} {comparison.change_day.day}" in line
    week = compare_around(demo.db, demo.actors["nurse"], demo.patient("D0001"), days=7)
    assert "so far" not in window_line(week, today)
    assert "so far" not in window_line(week, date(2030, 1, 1))
    recent = compare_around(demo.db, demo.actors["nurse"], demo.patient("D0014"))
    assert recent.before_first == recent.before_last
    assert window_line(recent, today).startswith(
        f"Only 1 day before, since admission ({recent.before_first:%a} "
        f"{recent.before_first.day} {recent.before_first:%b}) against 7 days after ("
    )


def verdict_tags(harness) -> list[str]:
    """The verdict tags of the measure cards, in order."""
    return [text for text in harness.texts() if text in VERDICT_WORDS.values()]


def mood_card_texts(harness) -> list[str]:
    """The texts of the mood card, in order, from its title on."""
    texts = harness.texts()
    start = texts.index("Mood")
    return texts[start : start + 10]


@pytest.mark.slow
def test_d0001_shows_improvement_on_a_phone_and_the_view_is_audited(demo):
    patient = demo.patient("D0001")
    expected = compare_around(demo.db, demo.actors["nurse"], patient)
    mood = by_measure(expected)[MeasureKey.mood]
    before = effect_views(demo.db, patient)

    async def scenario():
        harness = await signed_in(demo.db, "nurse", PASSWORDS["nurse"])
        await go(harness, effect_route(patient))
        await wait_for_text(harness, mood.sentence)
        return harness

    harness = run(scenario)

    text = shown(harness)
    assert "Avery Demoson" in text
    assert "Dose changed: sertraline (50 mg -> 100 mg every morning" in text
    assert "7 days before (" in text
    assert verdict_summary(expected) in text
    assert verdict_tags(harness) == [VERDICT_WORDS[row.verdict] for row in expected.measures]
    assert verdict_tags(harness).count("Better") >= 5
    card = mood_card_texts(harness)
    assert card[1] == "Better"
    assert f"{mood.before.mean:.1f}" in card and f"{mood.after.mean:.1f}" in card
    assert f"{mood.change:+.1f}" in card
    assert expected.caveat in text
    # The dropdown names both of the patient's changes, the latest chosen.
    dropdown = harness.find(lambda c: isinstance(c, ft.Dropdown))[0]
    assert [option.text.split(" · ", 1)[1] for option in dropdown.options] == [
        "Dose changed · sertraline",
        "Medication started · sertraline",
    ]
    assert dropdown.value == str(expected.event.id)
    assert effect_views(demo.db, patient)[len(before) :] == [
        f"effect of treatment #{expected.event.id}, 7 days each side"
    ]


@pytest.mark.slow
def test_d0002_shows_worsening(demo):
    patient = demo.patient("D0002")
    expected = compare_around(demo.db, demo.actors["tech"], patient)
    mood = by_measure(expected)[MeasureKey.mood]

    async def scenario():
        harness = await signed_in(demo.db, "tech", PASSWORDS["tech"])
        await go(harness, effect_route(patient))
        await wait_for_text(harness, mood.sentence)
        return harness

    harness = run(scenario)

    assert mood.sentence.startswith("Mood fell from")
    assert mood_card_texts(harness)[1] == "Worse"
    assert verdict_tags(harness) == [VERDICT_WORDS[row.verdict] for row in expected.measures]
    assert verdict_tags(harness).count("Worse") >= 4


@pytest.mark.slow
def test_a_patient_admitted_days_ago_gets_not_enough_data(demo):
    patient = demo.patient("D0014")

    async def scenario():
        harness = await signed_in(demo.db, "tech", PASSWORDS["tech"])
        await go(harness, effect_route(patient))
        await wait_for_text(harness, "not enough data to say")
        return harness

    harness = run(scenario)

    assert verdict_tags(harness) == ["Not enough data"] * 7
    assert "need at least 3 on each side" in shown(harness)


@pytest.mark.slow
def test_another_window_and_another_change_give_other_figures(demo):
    patient = demo.patient("D0001")
    nurse = demo.actors["nurse"]
    latest = compare_around(demo.db, nurse, patient)
    short = compare_around(demo.db, nurse, patient, days=3)
    first_change = min(
        (
            entry
            for entry in timeline_for(
                demo.db, nurse, patient, kinds={RecordKind.treatment}, limit=MAX_PAGE
            ).entries
        ),
        key=lambda entry: entry.at,
    )
    started = compare_around(demo.db, nurse, patient, event_id=first_change.id, days=3)
    before = effect_views(demo.db, patient)

    async def scenario():
        harness = await signed_in(demo.db, "nurse", PASSWORDS["nurse"])
        await go(harness, effect_route(patient))
        await wait_for_text(harness, by_measure(latest)[MeasureKey.mood].sentence)
        week = mood_card_texts(harness)

        await select_chip(harness, "3 days")
        await wait_for_text(harness, "3 days before (")
        await wait_for_text(harness, by_measure(short)[MeasureKey.mood].sentence)
        three = mood_card_texts(harness)
        assert chip(harness, "3 days").selected and not chip(harness, "7 days").selected

        # A screen reader hears the dropdown's name and the change chosen.
        [named] = harness.find(
            lambda c: isinstance(c, ft.Semantics) and c.label == "Treatment change"
        )
        dropdown = named.content
        assert isinstance(dropdown, ft.Dropdown)
        assert named.value.endswith(" · Dose changed · sertraline")
        dropdown.value = str(first_change.id)
        await harness.session.dispatch_event(dropdown._i, "select", str(first_change.id))
        await wait_for_text(harness, "Medication started: sertraline (50 mg every morning)")
        assert named.value.endswith(" · Medication started · sertraline")
        return week, three, harness

    week, three, harness = run(scenario)

    assert week != three
    short_mood = by_measure(short)[MeasureKey.mood]
    assert f"{short_mood.change:+.1f}" in three
    assert by_measure(started)[MeasureKey.mood].sentence in shown(harness)
    assert effect_views(demo.db, patient)[len(before) :] == [
        f"effect of treatment #{latest.event.id}, 7 days each side",
        f"effect of treatment #{latest.event.id}, 3 days each side",
        f"effect of treatment #{first_change.id}, 3 days each side",
    ]


def test_a_patient_without_treatment_changes_is_told_so(ward):
    patient = ward.patients[0]

    async def scenario():
        harness = await signed_in(ward.db, ward.tech.username, PASSWORD)
        await go(harness, effect_route(patient.id))
        await wait_for_text(harness, NO_CHANGES)
        return harness

    harness = run(scenario)

    # No choice of change is offered (the dropdown and its name are hidden together).
    [named] = harness.find(lambda c: isinstance(c, ft.Semantics) and c.label == "Treatment change")
    assert isinstance(named.content, ft.Dropdown) and not named.visible


def test_the_timeline_leads_to_before_after_and_only_charge_nurses_to_export(ward):
    patient = ward.patients[0]

    async def scenario(username: str):
        harness = await signed_in(ward.db, username, PASSWORD, **TABLET)
        await go(harness, f"/patients/{patient.id}")
        await wait_for_text(harness, "Before / after")
        exports = "Export" in [getattr(b, "content", None) for b in harness.find(_outlined)]
        await harness.click(button(harness, "Before / after"))
        await harness.until(lambda: harness.page.route == effect_route(patient.id))
        await wait_for_text(harness, NO_CHANGES)
        return exports

    assert run(lambda: scenario(ward.tech.username)) is False
    assert run(lambda: scenario(ward.nurse.username)) is False
    assert run(lambda: scenario(ward.charge.username)) is True

    async def straight_to_export():
        harness = await signed_in(ward.db, ward.tech.username, PASSWORD)
        await go(harness, export_route(patient.id))
        # A technician may not export: the shell sends them home to rounds.
        await harness.until(lambda: harness.page.route == "/rounds")

    run(straight_to_export)


def _outlined(control) -> bool:
    return isinstance(control, ft.OutlinedButton)


def test_another_wards_patient_through_break_glass_shows_the_banner_and_no_export(ward, db, clock):
    elsewhere = Ward.create(db)
    patient = elsewhere.patients[0]
    record_treatment_event(
        db,
        elsewhere.nurse,
        {
            "patient_id": patient.id,
            "kind": "medication_started",
            "effective_at": clock() - timedelta(minutes=5),
            "name": "olanzapine",
            "client_key": key(),
        },
    )
    open_break_glass(
        db,
        ward.charge,
        {"mrn": patient.mrn, "reason": "Transferred to us tonight", "client_key": key()},
    )

    async def scenario():
        harness = await signed_in(db, ward.charge.username, PASSWORD)
        await go(harness, f"/patients/{patient.id}")
        await wait_for_text(harness, "Before / after")
        exports = [b for b in harness.find(_outlined) if b.content == "Export"]
        await go(harness, effect_route(patient.id))
        await wait_for_text(harness, "Medication started: olanzapine")
        return exports, harness

    exports, harness = run(scenario)

    assert exports == []
    assert "Break-glass access — expires" in shown(harness)
    assert "Mood: not enough data to say" in shown(harness)
