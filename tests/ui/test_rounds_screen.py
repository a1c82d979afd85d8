"""The rounds screen's cards with real Flet controls and a real database, without a browser."""

import flet as ft
from sqlmodel import select

from app.services.records import current
from app.ui.routes import check_in_route
from app.ui.screens.rounds import RoundsScreen
from models import CheckIn
from models.codes import LateReason
from tests.ui.flet_harness import Harness, walk
from tests.ui.ward_screens import rounds_opened, run, shown


async def rounds_screen(ward) -> Harness:
    return await rounds_opened(ward.db, ward.tech.username, len(ward.patients))


def screen_of(harness: Harness) -> RoundsScreen:
    return harness.app.ctx.refresh_hooks[0].__self__


def choice(harness: Harness, text: str) -> ft.Container:
    """A late-reason chip by its label."""
    found = harness.find(
        lambda c: (
            isinstance(c, ft.Container)
            and isinstance(c.content, ft.Row)
            and getattr(c.content.controls[0], "value", None) == text
        )
    )
    assert found, f"no choice {text!r}"
    return found[0]


def current_checks(ward) -> list[CheckIn]:
    with ward.db.reading() as session:
        return list(session.exec(select(CheckIn).where(current(CheckIn))).all())


def test_each_card_shows_the_patient_and_names_its_taps(ward):
    async def scenario():
        harness = await rounds_screen(ward)
        return shown(harness), harness.labels()

    text, labels = run(scenario)
    for patient in ward.patients:
        name = patient.display_name
        assert f"Room {patient.room}" in text
        assert name in text
        assert f"Routine check for {name}" in labels
        assert f"{name}, room {patient.room}: open check-in" in labels
    assert text.count("q15") == len(ward.patients)
    assert text.count("No check yet") == len(ward.patients)
    assert text.count("Day room · resting") == len(ward.patients)  # what Routine will record


def test_tapping_a_card_opens_that_patients_check_in(ward):
    patient = ward.patients[1]

    async def scenario():
        harness = await rounds_screen(ward)
        label = f"{patient.display_name}, room {patient.room}: open check-in"
        await harness.click(harness.by_semantics(label))
        await harness.until(lambda: harness.page.route == check_in_route(patient.id))

    run(scenario)


def test_undo_reaches_the_redrawn_button_and_voids_the_check(ward):
    patient = ward.patients[0]
    name = patient.display_name

    async def scenario():
        harness = await rounds_screen(ward)
        await harness.click(harness.by_semantics(f"Routine check for {name}"))
        await harness.until(lambda: f"Undo check for {name}" in harness.labels())
        assert len(current_checks(ward)) == 1
        before = harness.by_semantics(f"Undo check for {name}")

        # A second later the countdown redraws the card: a new button takes over the old one.
        screen = screen_of(harness)
        button = screen.buttons[patient.id]
        button.clock = lambda: button.changed_at + 1.5
        screen._redraw(patient.id)
        undo = harness.by_semantics(f"Undo check for {name}")
        assert undo.content == "Undo (4)"
        assert undo is not before and undo._i == before._i
        assert harness.session.index.get(undo._i) is undo  # a tap reaches the new one

        await harness.click(undo)
        await harness.until(lambda: f"Routine check for {name}" in harness.labels())
        assert current_checks(ward) == []

    run(scenario)


def test_a_late_check_asks_why_and_saves_the_reason_chosen(ward, clock):
    clock.advance(minutes=15)  # the patients' first checks are now overdue
    first, second = ward.patients[0], ward.patients[1]

    async def scenario():
        harness = await rounds_screen(ward)
        await harness.click(harness.by_semantics(f"Routine check for {first.display_name}"))
        await harness.until(lambda: "This check is late. Why?" in harness.texts())
        assert current_checks(ward) == []  # nothing saved until a reason is given
        await harness.click(harness.button("Cancel"))
        assert "This check is late. Why?" not in harness.texts()

        await harness.click(harness.by_semantics(f"Routine check for {second.display_name}"))
        await harness.until(lambda: "This check is late. Why?" in harness.texts())
        await harness.click(choice(harness, "Patient refused"))
        await harness.until(lambda: f"Undo check for {second.display_name}" in harness.labels())

    run(scenario)
    [saved] = current_checks(ward)
    assert (saved.patient_id, saved.late, saved.late_reason) == (
        second.id,
        True,
        LateReason.patient_refused,
    )


def test_cards_share_their_styles_and_keep_no_copy_for_the_next_diff(ward):
    """What keeps a session small (tests/scale/test_rounds_memory.py), checked part by part, so
    that a Flet upgrade that changes how frozen controls are kept shows here by name."""

    async def scenario():
        harness = await rounds_screen(ward)
        buttons = harness.find(lambda c: isinstance(c, ft.FilledButton))
        assert len({id(button.style) for button in buttons}) == 1
        cards = list(screen_of(harness).cards.values())
        inside = [c for card in cards for c in walk([card.content])]
        assert inside and not any(hasattr(c, "__prev_lists") for c in inside)
        # The card itself changes in place (`_refit`), so Flet keeps its snapshot.
        assert all(hasattr(card, "__prev_lists") for card in cards)

    run(scenario)
