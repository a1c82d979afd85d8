"""A boundary for event handlers: an exception shows a message instead of blanking the screen."""

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import flet as ft

logger = logging.getLogger(__name__)

E = TypeVar("E")

# Flet 1.0.5 replaces the whole page with "Error running app" and the traceback on any unhandled
# exception in a handler or in main. On a ward that loses the screen (and can show internals);
# say something short instead and keep the trace in the server log.
GENERIC_ERROR = "Something went wrong. Nothing was saved by that action; please try again."


def show_message(page: ft.Page, text: str) -> None:
    """Show a short message at the bottom of the screen."""
    page.show_dialog(ft.SnackBar(ft.Text(text), show_close_icon=True))


def guarded(
    page: ft.Page, handler: Callable[[E], Awaitable[Any] | Any]
) -> Callable[[E], Awaitable[None]]:
    """Wrap a sync or async event handler so an exception shows a message and is logged."""

    @functools.wraps(handler)
    async def run(event: E) -> None:
        try:
            result = handler(event)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("Unhandled error in %s", getattr(handler, "__name__", handler))
            try:
                show_message(page, GENERIC_ERROR)
            except Exception:  # the page itself may be gone (disconnected session)
                logger.debug("could not show the error message", exc_info=True)

    return run
