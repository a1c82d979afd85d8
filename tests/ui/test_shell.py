"""The app shell with real Flet controls and a real database, without a browser."""

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import flet as ft
import pytest
from flet.messaging.protocol import MessageAction
from flet.pubsub.pubsub_hub import PubSubHub
from sqlmodel import func, select

from app.config import Settings
from app.services.accounts import CONSOLE, issue_pin
from app.ui import shell
from app.ui.errors import GENERIC_ERROR, guarded
from app.ui.routes import SCREENS, destination_of, parent_route, resolve
from app.ui.session import Phase
from app.ui.shell import WardApp
from models import CheckIn
from tests.factories import PASSWORD
from tests.ui.flet_harness import Harness, start

PIN = "135790"
SETTINGS = Settings(idle_lock_minutes=3, idle_sign_out_minutes=30, session_max_minutes=720)


class Seconds:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run(scenario):
    """Run an async scenario on a fresh event loop (handlers need one, as in the server).

    In its own thread: Playwright's sync API keeps a loop running in the main thread when the
    browser tests ran earlier in the same pytest process.
    """
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, scenario()).result()


async def open_app(ward, seconds: Seconds, **size) -> tuple[Harness, WardApp]:
    made: dict[str, WardApp] = {}

    async def main(page: ft.Page) -> None:
        made["app"] = WardApp(page, ward.db, SETTINGS, clock=seconds)
        await made["app"].start()

    harness = await start(main, **size)
    return harness, made["app"]


async def sign_in(harness: Harness, username: str) -> None:
    fields = harness.find(lambda c: isinstance(c, ft.TextField))
    fields[0].value, fields[1].value = username, PASSWORD
    await harness.click(harness.button("Sign in"))
    await harness.until(
        lambda: any(label.startswith("Routine check") for label in harness.labels())
    )


def checks(ward) -> int:
    with ward.db.reading() as session:
        return session.exec(select(func.count()).select_from(CheckIn)).one()


def test_idle_lock_leaves_no_patient_on_the_page_and_the_pin_unlocks(ward):
    issue_pin(ward.db, CONSOLE, ward.tech.staff_id, pin=PIN)
    seconds = Seconds()
    names = [patient.display_name for patient in ward.patients]

    async def scenario():
        harness, app = await open_app(ward, seconds)
        await sign_in(harness, ward.tech.username)
        shown = " ".join(harness.texts())
        assert all(name in shown for name in names)

        seconds.now += 3 * 60
        await app._tick()

        assert app.session.phase == Phase.locked
        shown = " ".join(harness.texts() + harness.labels())
        assert not any(name in shown for name in names)
        assert "Test technician" in shown
        for digit in PIN:
            await harness.click(harness.by_semantics(f"PIN digit {digit}"))
        await harness.until(lambda: any(name in " ".join(harness.texts()) for name in names))
        assert app.session.phase == Phase.active

    run(scenario)


def test_a_double_tap_on_routine_saves_one_check(ward):
    seconds = Seconds()
    name = ward.patients[0].display_name

    async def scenario():
        harness, _ = await open_app(ward, seconds)
        await sign_in(harness, ward.tech.username)
        button = harness.by_semantics(f"Routine check for {name}")
        await asyncio.gather(harness.click(button), harness.click(button))
        await harness.until(lambda: f"Undo check for {name}" in harness.labels())
        assert checks(ward) == 1
        # The second tap was ignored, not refused by the service as a duplicate.
        assert not any("already checked" in text for text in harness.texts())

    run(scenario)


def test_the_layout_follows_the_width(ward):
    seconds = Seconds()

    async def scenario():
        harness, _ = await open_app(ward, seconds)
        await sign_in(harness, ward.tech.username)
        assert harness.page.views[0].navigation_bar is not None
        await harness.resize(1024, 768)
        assert harness.page.views[0].navigation_bar is None
        assert harness.find(lambda c: isinstance(c, ft.NavigationRail))
        await harness.resize(390, 844)
        assert harness.page.views[0].navigation_bar is not None

    run(scenario)


def test_a_failing_handler_shows_a_message_instead_of_the_error_screen(ward, monkeypatch):
    seconds = Seconds()

    async def scenario():
        harness, _ = await open_app(ward, seconds)
        await sign_in(harness, ward.tech.username)

        def broken(*args, **kwargs):
            raise RuntimeError("theme store unavailable")

        # The failure is provoked inside the app's own handler (switching to night).
        monkeypatch.setattr(shell, "apply", broken)
        await harness.click(harness.by_semantics("Night mode"))

        assert harness.browser.crashes == []
        assert MessageAction.SESSION_CRASHED not in harness.browser.actions
        snacks = harness.find(lambda c: isinstance(c, ft.SnackBar))
        assert snacks and snacks[-1].content.value == GENERIC_ERROR
        assert any(label.startswith("Routine check") for label in harness.labels())

    run(scenario)


def test_an_unguarded_handler_would_have_crashed_the_session():
    """The control experiment for the test above: without `guarded`, Flet reports a crash."""

    async def scenario():
        async def main(page: ft.Page) -> None:
            def fail(_):
                raise RuntimeError("boom")

            page.add(
                ft.Button("bare", on_click=fail),
                ft.Button("guarded", on_click=guarded(page, fail)),
            )

        harness = await start(main)
        await harness.click(harness.button("guarded"))
        assert harness.browser.crashes == []
        await harness.click(harness.button("bare"))
        assert len(harness.browser.crashes) == 1

    run(scenario)


@pytest.mark.parametrize("minutes", [30])
def test_a_long_idle_ends_the_session_back_to_sign_in(ward, minutes):
    seconds = Seconds()

    async def scenario():
        harness, app = await open_app(ward, seconds)
        await sign_in(harness, ward.tech.username)
        seconds.now += timedelta(minutes=3).total_seconds()
        await app._tick()
        seconds.now += timedelta(minutes=minutes).total_seconds()
        await app._tick()
        assert app.session.phase == Phase.signed_out
        assert harness.button("Sign in")
        assert not any(p.display_name in " ".join(harness.texts()) for p in ward.patients)

    run(scenario)


def test_a_check_saved_in_another_session_refreshes_this_one_at_once(ward, monkeypatch):
    # Slow the shell's own polling right down: only the pub/sub message can refresh in time.
    monkeypatch.setattr(shell, "TICK_SECONDS", 60)
    name = ward.patients[0].display_name

    async def scenario():
        hub = PubSubHub(loop=asyncio.get_running_loop(), executor=None)
        sessions = []
        for _ in range(2):
            made: dict[str, WardApp] = {}

            async def main(page: ft.Page, made=made) -> None:
                made["app"] = WardApp(page, ward.db, SETTINGS, clock=Seconds())
                await made["app"].start()

            harness = await start(main, hub=hub)
            await sign_in(harness, ward.tech.username)
            sessions.append(harness)
        here, there = sessions
        assert not any("just now by" in text for text in there.texts())

        await here.click(here.by_semantics(f"Routine check for {name}"))
        await there.until(lambda: any("just now by" in text for text in there.texts()), 1.0)

    run(scenario)


def test_the_ward_night_hours_switch_the_look_and_the_toggle_overrides(ward, clock):
    clock.advance(hours=11)  # 23:00 on the ward: night

    async def scenario():
        harness, app = await open_app(ward, Seconds())
        await sign_in(harness, ward.tech.username)
        assert harness.page.theme_mode == ft.ThemeMode.DARK
        assert "Day mode" in harness.labels()

        await harness.click(harness.by_semantics("Day mode"))
        assert harness.page.theme_mode == ft.ThemeMode.LIGHT

        clock.advance(hours=9)  # 08:00: the ward's day starts, automatic again
        app._update_night()
        assert app.night is False and app.night_override is None

    run(scenario)


def test_a_late_full_check_in_asks_why_and_keeps_the_form(ward, clock):
    clock.advance(minutes=15)  # the patients' first checks are now overdue
    patient = ward.patients[1]

    async def scenario():
        harness, _ = await open_app(ward, Seconds())
        await sign_in(harness, ward.tech.username)
        await harness.click(
            harness.by_semantics(f"{patient.display_name}, room {patient.room}: open check-in")
        )
        await harness.until(lambda: "Why is this check late?" in harness.texts())
        await harness.click(harness.by_semantics("Dining room"))
        await harness.click(harness.by_semantics("Eating"))
        await harness.click(harness.button("Save check"))
        assert any("Choose why this check is late." in text for text in harness.texts())
        assert checks(ward) == 0

        await harness.click(harness.by_semantics("In the bathroom"))
        await harness.click(harness.button("Save check"))
        await harness.until(lambda: checks(ward) == 1)
        with ward.db.reading() as session:
            saved = session.exec(select(CheckIn)).one()
        assert (saved.location, saved.status, saved.late_reason) == (
            "dining",
            "eating",
            "patient_in_bathroom",
        )
        assert saved.late

    run(scenario)


def test_unlocking_returns_to_the_open_check_in_as_it_was(ward):
    issue_pin(ward.db, CONSOLE, ward.tech.staff_id, pin=PIN)
    seconds = Seconds()
    patient = ward.patients[2]

    async def scenario():
        harness, app = await open_app(ward, seconds)
        await sign_in(harness, ward.tech.username)
        await harness.click(
            harness.by_semantics(f"{patient.display_name}, room {patient.room}: open check-in")
        )
        await harness.until(lambda: "Where" in harness.texts())
        await harness.click(harness.by_semantics("Hallway"))

        seconds.now += 3 * 60
        await app._tick()
        assert "Where" not in harness.texts()
        for digit in PIN:
            await harness.click(harness.by_semantics(f"PIN digit {digit}"))

        await harness.until(lambda: "Where" in harness.texts())
        hallway = next(
            c for c in harness.controls() if isinstance(c, ft.Semantics) and c.label == "Hallway"
        )
        assert hallway.selected

    run(scenario)


def test_a_patient_not_seen_is_recorded_as_missed_with_the_reason(ward):
    patient = ward.patients[0]

    async def scenario():
        harness, _ = await open_app(ward, Seconds())
        await sign_in(harness, ward.tech.username)
        await harness.click(
            harness.by_semantics(f"{patient.display_name}, room {patient.room}: open check-in")
        )
        await harness.until(lambda: "Where" in harness.texts())
        await harness.click(harness.by_semantics("Not seen (missed)"))
        assert "Why was the patient not seen?" in harness.texts()
        await harness.click(harness.by_semantics("Off unit"))
        await harness.click(harness.button("Save check"))
        await harness.until(lambda: checks(ward) == 1)
        with ward.db.reading() as session:
            saved = session.exec(select(CheckIn)).one()
        assert (saved.missed, saved.late_reason, saved.location) == (True, "off_unit", None)

    run(scenario)


@pytest.mark.parametrize(("tail", "title"), [("effect", "Before / after"), ("export", "Export")])
def test_back_from_a_patients_sub_screen_returns_to_that_patients_timeline(ward, tail, title):
    patient = ward.patients[1]

    async def scenario():
        harness, _ = await open_app(ward, Seconds(), width=1024, height=768)
        await sign_in(harness, ward.charge.username)
        await harness.page.push_route(f"/patients/{patient.id}/{tail}")
        await harness.until(lambda: harness.page.views[0].appbar.title.controls[0].value == title)
        # Still under Rounds in the navigation, as the timeline it came from.
        [rail] = harness.find(lambda c: isinstance(c, ft.NavigationRail))
        assert rail.destinations[rail.selected_index].label == "Rounds"
        await harness.click(harness.by_semantics("Back"))
        await harness.until(lambda: harness.page.route == f"/patients/{patient.id}")
        await harness.until(lambda: patient.display_name in harness.texts())
        await harness.click(harness.by_semantics("Back"))
        await harness.until(lambda: harness.page.route == "/rounds")

    run(scenario)


def test_every_screens_way_back_is_a_screen_under_a_destination():
    for screen in SCREENS:
        params = {name: 12 for name in re.findall(r":(\w+)", screen.pattern)}
        back = parent_route(screen, params)
        assert resolve(back) is not None, (screen.pattern, back)
        assert destination_of(screen) is not None, screen.pattern
    effect = resolve("/patients/12/effect").screen
    assert parent_route(effect, {"patient_id": 12}) == "/patients/12"
    assert destination_of(effect).pattern == "/rounds"
    assert destination_of(resolve("/patients/12/incident").screen).pattern == "/incidents/new"


def test_every_app_bar_button_is_named_for_screen_readers(ward):
    patient = ward.patients[0]

    async def scenario():
        harness, _ = await open_app(ward, Seconds())
        await sign_in(harness, ward.tech.username)
        await harness.page.push_route(f"/patients/{patient.id}/check-in")
        await harness.until(lambda: harness.page.views[0].appbar.leading is not None)
        appbar = harness.page.views[0].appbar
        buttons = [appbar.leading, *appbar.actions]
        # Named on the button itself, which is what a screen reader focuses and taps.
        assert all(isinstance(b, ft.IconButton | ft.PopupMenuButton) for b in buttons)
        names = [b.icon.semantics_label if isinstance(b.icon, ft.Icon) else None for b in buttons]
        assert names == ["Back", "Timeline", "Night mode", "Lock screen", "More"]

    run(scenario)


def test_sign_in_refusals_slow_down_before_the_lock(ward):
    from app.ui.screens.sign_in import retry_delay

    assert [retry_delay(n) for n in range(1, 9)] == [0, 1, 2, 4, 8, 16, 16, 16]
    seconds = Seconds()

    async def scenario():
        harness, _ = await open_app(ward, seconds)
        fields = harness.find(lambda c: isinstance(c, ft.TextField))
        button = harness.button("Sign in")
        fields[0].value, fields[1].value = ward.tech.username, "not the password"
        await harness.click(button)
        await harness.until(lambda: "Username or password is not right." in harness.texts())
        await harness.until(lambda: not button.disabled)  # the first refusal waits for nothing
        fields[1].value = "still not the password"
        # The click's handler runs through the wait, so watch it from beside.
        tap = asyncio.ensure_future(harness.click(button))
        # The second refusal in a row holds the button for a second, counting down.
        await harness.until(lambda: button.content == "Try again in 1 s")
        assert button.disabled
        await tap
        await harness.until(lambda: not button.disabled, timeout=5)
        assert button.content == "Sign in"

    run(scenario)
