"""The full sign-in: username and password, at the start of a shift or after a session ended."""

import asyncio
from collections.abc import Awaitable, Callable

import flet as ft

from app.ui.errors import guarded
from app.ui.theme import BIG_TARGET

# Returns the refusal to show, or None when signed in.
SignIn = Callable[[str, str], Awaitable[str | None]]

# Repeated refusals slow down before the account locks (5 failures, accounts.py): someone
# guessing at a ward tablet waits longer after each miss, a tired typo costs nothing.
MAX_RETRY_DELAY = 16


def retry_delay(refusals: int) -> int:
    """Seconds before the next try after this many refusals in a row: 0, 1, 2, 4, 8, 16."""
    return 0 if refusals < 2 else min(2 ** (refusals - 2), MAX_RETRY_DELAY)


def build_sign_in(page: ft.Page, sign_in: SignIn, notice: str = "") -> ft.Control:
    """The centred "Rounds" heading with username, password and a big Sign in button.

    No autofill hints: ward tablets are shared, so the browser must not offer to keep
    passwords (and Flutter's autofill form would keep the typed password in the page).
    """
    username = ft.TextField(
        label="Username",
        autofocus=True,
        autocorrect=False,
        enable_suggestions=False,
        text_size=18,
    )
    password = ft.TextField(
        label="Password",
        password=True,
        can_reveal_password=True,
        text_size=18,
    )
    message = ft.Text(notice, size=16, color=ft.Colors.AMBER_200, visible=bool(notice))
    button = ft.FilledButton(
        "Sign in",
        height=BIG_TARGET,
        style=ft.ButtonStyle(text_style=ft.TextStyle(size=18, weight=ft.FontWeight.W_600)),
    )

    refusals = 0

    async def submit(_: ft.Event) -> None:
        nonlocal refusals
        if button.disabled:
            return  # a second Enter or tap while the first is being checked
        button.disabled = True
        button.content = "Signing in…"
        message.visible = False
        page.update()
        # Never keep or echo what was typed in the password box.
        typed, password.value = password.value or "", ""
        try:
            refusal = await sign_in(username.value or "", typed)
        except BaseException:
            button.disabled = False
            button.content = "Sign in"
            raise
        if not refusal:
            return
        refusals += 1
        message.value = refusal
        message.visible = True
        # The wait runs on the event loop without holding a worker thread.
        for left in range(retry_delay(refusals), 0, -1):
            button.content = f"Try again in {left} s"
            page.update()
            await asyncio.sleep(1)
        button.disabled = False
        button.content = "Sign in"
        page.update()

    password.on_submit = guarded(page, submit)
    username.on_submit = guarded(page, lambda _: password.focus())
    button.on_click = guarded(page, submit)

    return ft.SafeArea(
        expand=True,
        content=ft.Container(
            alignment=ft.Alignment.CENTER,
            padding=24,
            content=ft.Column(
                tight=True,
                width=380,
                spacing=18,
                horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
                controls=[
                    ft.Text(
                        "Rounds",
                        theme_style=ft.TextThemeStyle.DISPLAY_SMALL,
                        text_align=ft.TextAlign.CENTER,
                    ),
                    ft.Text(
                        "Sign in at the start of your shift.",
                        size=16,
                        text_align=ft.TextAlign.CENTER,
                    ),
                    username,
                    password,
                    message,
                    button,
                ],
            ),
        ),
    )
