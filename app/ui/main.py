"""Flet's entry point: one `WardApp` per browser session, all sharing the process's database."""

import logging
from collections.abc import Awaitable, Callable

import flet as ft

from app.config import Settings
from app.storage.database import Database
from app.ui.errors import GENERIC_ERROR
from app.ui.shell import WardApp

logger = logging.getLogger(__name__)


def make_main(db: Database, settings: Settings) -> Callable[[ft.Page], Awaitable[None]]:
    """The Flet `main` for this process: every session gets its own WardApp over `db`."""

    async def main(page: ft.Page) -> None:
        try:
            await WardApp(page, db, settings).start()
        except Exception:
            logger.exception("could not build the first screen")
            page.views.clear()
            page.views.append(ft.View(controls=[ft.Text(GENERIC_ERROR, size=18)]))
            page.update()

    return main
