"""A Rounds session without a browser, for screen tests: the real shell (sign-in, routes,
permissions, navigation) over a real database, driven through the Flet harness, and finders
for the controls screens use."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import flet as ft
from flet.messaging.protocol import MessageAction

from app.config import Settings
from app.storage.database import Database
from app.ui.shell import WardApp
from tests.factories import PASSWORD
from tests.ui.flet_harness import Harness, start

SETTINGS = Settings(idle_lock_minutes=30, idle_sign_out_minutes=60, session_max_minutes=720)
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 1024, "height": 768}


def run(scenario: Callable[[], Any]) -> Any:
    """Run an async scenario on a fresh event loop in its own thread (as tests/ui/test_shell.py
    does: Playwright's sync API may hold a loop in the main thread)."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, scenario()).result()


class Seconds:
    """The shell's idle clock, frozen: nothing locks while a test runs."""

    def __call__(self) -> float:
        return 100.0


async def open_app(db: Database, **size: Any) -> tuple[Harness, WardApp]:
    """A new browser session of the app on `db` (phone-sized unless `size`), at sign-in."""
    made: dict[str, WardApp] = {}

    async def main(page: ft.Page) -> None:
        made["app"] = WardApp(page, db, SETTINGS, clock=Seconds())
        await made["app"].start()

    harness = await start(main, **size)
    return harness, made["app"]


async def sign_in(
    harness: Harness, username: str, *, lands_on: str, password: str = PASSWORD
) -> None:
    """Sign in on the sign-in screen and wait for the route the shell sends this user to."""
    fields = harness.find(lambda c: isinstance(c, ft.TextField))
    fields[0].value, fields[1].value = username, password
    await harness.click(harness.button("Sign in"))
    await harness.until(lambda: harness.page.route == lands_on)


async def signed_in(db: Database, username: str, password: str, **size: float) -> Harness:
    """A phone-sized (or `size`) session of the real shell, signed in on the user's ward."""
    harness, app = await open_app(db, **(size or PHONE))
    # What a browser's client reports when it connects (Flet's web mode).
    harness.page.web, harness.page.platform = True, ft.PagePlatform.LINUX
    fields = harness.find(lambda c: isinstance(c, ft.TextField))
    fields[0].value, fields[1].value = username, password
    await harness.click(harness.button("Sign in"))
    await harness.until(lambda: app.ctx is not None, timeout=15)
    harness.app = app  # type: ignore[attr-defined]
    return harness


async def rounds_opened(db: Database, username: str, patients: int, **size: float) -> Harness:
    """A signed-in session on its ward's rounds screen, once every patient's card is drawn and
    the screen's first load (the list, then any drafts to offer) has finished."""
    harness = await signed_in(db, username, PASSWORD, **size)
    await harness.until(
        lambda: (
            sum(label.startswith("Routine check for") for label in harness.labels()) == patients
        ),
        timeout=15,
    )
    await harness.until(lambda: not harness.app.ctx.tasks, timeout=15)  # type: ignore[attr-defined]
    return harness


async def go(harness: Harness, route: str) -> None:
    """Follow an in-app link, as the shell's buttons do."""
    await harness.app._navigate(route)  # type: ignore[attr-defined]


def shown(harness: Harness) -> str:
    """Everything the page shows as text, one string."""
    return "\n".join(harness.texts())


async def wait_for_text(harness: Harness, text: str, timeout: float = 15) -> None:
    """Let background loads run until `text` is on the page."""
    try:
        await harness.until(lambda: text in shown(harness), timeout=timeout)
    except AssertionError:
        raise AssertionError(f"{text!r} not shown; the page shows:\n{shown(harness)}") from None


def field(harness: Harness, label: str) -> ft.TextField:
    """The text field labelled `label`."""
    found = harness.find(lambda c: isinstance(c, ft.TextField) and c.label == label)
    assert found, f"no text field {label!r}"
    return found[0]


def texts_of(harness: Harness, kind: type) -> list[str]:
    return [c.value for c in harness.find(lambda c: isinstance(c, kind)) if c.value]


def chip(harness: Harness, label: str) -> ft.Chip:
    found = harness.find(
        lambda c: isinstance(c, ft.Chip) and getattr(c.label, "value", None) == label
    )
    assert found, f"no chip {label!r}"
    return found[0]


async def select_chip(harness: Harness, label: str) -> None:
    await harness.session.dispatch_event(chip(harness, label)._i, "select", None)


def button(harness: Harness, text: str) -> ft.Control:
    """A button by its text (filled, outlined or text buttons)."""
    found = harness.find(
        lambda c: (
            isinstance(c, ft.Button | ft.FilledButton | ft.OutlinedButton | ft.TextButton)
            and (c.content == text or getattr(c.content, "value", None) == text)
        )
    )
    assert found, f"no button {text!r}"
    return found[0]


class ClientCalls:
    """Records the methods the server asks the browser to run (e.g. FilePicker.save_file)."""

    def __init__(self, harness: Harness) -> None:
        self.calls: list[Any] = []
        browser = harness.browser
        send = browser.send_message

        def recording(message) -> None:
            if message.action == MessageAction.INVOKE_METHOD:
                self.calls.append(message.body)
            send(message)

        browser.send_message = recording  # type: ignore[method-assign]

    def named(self, name: str) -> list[Any]:
        return [call for call in self.calls if call.name == name]
