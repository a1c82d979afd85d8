"""What every screen is given: the page, the database, who is signed in, and how to act.

Screens are functions `build_<screen>(ctx, ...) -> ft.Control` (one module each in
app/ui/screens/). They never touch SQL: they call services through `ctx.call`, which runs the
call in a worker thread so one slow database call never freezes the other sessions (Flet 1.0.5
runs handlers on the server's event loop).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import flet as ft

from app.services.access import Actor
from app.services.errors import ServiceError
from app.services.wards import WardRead
from app.storage.database import Database
from app.ui.errors import GENERIC_ERROR, show_message
from app.ui.theme import DAY, Palette
from models import StaffRead

logger = logging.getLogger(__name__)

# A service call slower than this is logged with how long it waited for a worker thread, so
# a screen that stayed empty can be told apart: a slow database or a starved thread pool.
SLOW_CALL_SECONDS = 2.0

P = ParamSpec("P")
R = TypeVar("R")


async def off_loop(service: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a service call in a worker thread and wait for it; slow calls are logged."""
    asked = time.monotonic()
    began = asked

    def run() -> R:
        nonlocal began
        began = time.monotonic()
        return service(*args, **kwargs)

    try:
        return await asyncio.to_thread(run)
    finally:
        took = time.monotonic() - asked
        if took > SLOW_CALL_SECONDS:
            logger.warning(
                "slow service call %s: %.1f s, of which %.1f s waiting for a worker thread",
                getattr(service, "__qualname__", service),
                took,
                began - asked,
            )


@dataclass
class ScreenContext:
    """One browser session's view of Rounds, handed to every screen."""

    page: ft.Page
    db: Database
    staff: StaffRead
    ward: WardRead
    # Routes like "/rounds", "/patients/12", "/patients/12/check-in"; set by the app shell.
    navigate: Callable[[str], Awaitable[None]]
    night: bool = False
    # Called by screens after a save, so other screens (and sessions) refresh.
    on_saved: Callable[[], Awaitable[None]] | None = None
    # The newest change to the ward's records this session knows of (an audit row id, see
    # check_ins.last_ward_change); set by the app shell.
    ward_marker: Callable[[], int] = lambda: 0
    extras: dict[str, Any] = field(default_factory=dict)
    # The colours to draw with (day or night); set by the app shell.
    colors: Palette = DAY
    # True on tablets (wide screens): two columns, navigation rail.
    wide: bool = False
    # Hooks the shell calls while this screen is shown: `refresh` when the ward's records
    # changed (or every ~10 s), `tick` every second (countdowns). Registered by the screen.
    refresh_hooks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    tick_hooks: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)
    # Background work started by the screen; cancelled when the screen is left.
    tasks: set[asyncio.Task] = field(default_factory=set)

    def on_refresh(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Call `hook` when the ward's records change (another device saved, or every ~10 s)."""
        self.refresh_hooks.append(hook)

    def on_tick(self, hook: Callable[[], Awaitable[None] | None]) -> None:
        """Call `hook` every second while the screen is shown (countdowns, Undo timers)."""
        self.tick_hooks.append(hook)

    def spawn(self, work: Callable[[], Awaitable[Any]]) -> asyncio.Task:
        """Run `work()` in the background while this screen is shown; failures are logged."""

        async def run() -> None:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("background work of a screen failed")

        task = asyncio.get_running_loop().create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def leave(self) -> None:
        """The screen is gone: stop its background work and hooks."""
        for task in list(self.tasks):
            task.cancel()
        self.refresh_hooks.clear()
        self.tick_hooks.clear()

    async def saved(self) -> None:
        """Tell the shell something was saved, so this and other sessions refresh."""
        if self.on_saved is not None:
            await self.on_saved()

    @property
    def actor(self) -> Actor:
        return Actor(self.staff.id, self.staff.username)

    def now(self) -> datetime:
        return self.db.clock()

    async def call(self, service: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a service call off the event loop."""
        return await off_loop(service, *args, **kwargs)

    async def attempt(self, service: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R | None:
        """Run a service call; on refusal show its message and return None."""
        try:
            return await self.call(service, *args, **kwargs)
        except ServiceError as refused:
            self.tell(refused.message)
            return None

    def tell(self, text: str) -> None:
        """A short message at the bottom of the screen."""
        show_message(self.page, text)

    def tell_failure(self) -> None:
        self.tell(GENERIC_ERROR)
