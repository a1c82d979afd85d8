"""A whole app session for screen tests: the real shell over a real database, signed in by the
sign-in screen, with finders for the controls the admin and break-glass screens use."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import flet as ft

from app.config import Settings
from app.ui.shell import WardApp
from tests.factories import PASSWORD
from tests.ui.flet_harness import Harness, start

SETTINGS = Settings(
    idle_lock_minutes=3,
    idle_sign_out_minutes=30,
    session_max_minutes=720,
    ward_timezone="America/Chicago",
)


class Seconds:
    """The session timers' clock (idle lock), moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run(scenario: Callable) -> None:
    """Run an async scenario on its own loop in its own thread, as tests/ui/test_shell.py does."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, scenario()).result()


async def open_app(db, **size) -> tuple[Harness, WardApp]:
    """A new browser session of the app on `db`, showing the sign-in screen."""
    made: dict[str, WardApp] = {}

    async def main(page: ft.Page) -> None:
        made["app"] = WardApp(page, db, SETTINGS, clock=Seconds())
        await made["app"].start()

    harness = await start(main, **size)
    return harness, made["app"]


async def sign_in(harness: Harness, username: str, *, lands_on: str) -> None:
    """Sign in on the sign-in screen and wait for the route the shell sends this user to."""
    fields = harness.find(lambda c: isinstance(c, ft.TextField))
    fields[0].value, fields[1].value = username, PASSWORD
    await harness.click(harness.button("Sign in"))
    await harness.until(lambda: harness.page.route == lands_on)


def field(harness: Harness, label: str) -> ft.TextField:
    """The text field labelled `label`."""
    found = harness.find(lambda c: isinstance(c, ft.TextField) and c.label == label)
    assert found, f"no text field {label!r}"
    return found[0]


def outlined(harness: Harness, text: str) -> ft.OutlinedButton:
    """The outlined button reading `text`."""
    found = harness.find(lambda c: isinstance(c, ft.OutlinedButton) and c.content == text)
    assert found, f"no button {text!r}"
    return found[0]


def shown(harness: Harness) -> str:
    """Everything written on the page now, as one string."""
    return "\n".join(harness.texts())
