"""Placeholder UI: the sign-in screen. Replaced by the real screens later."""

import logging

import flet as ft

from app.ui.errors import GENERIC_ERROR, guarded, show_message

logger = logging.getLogger(__name__)

# Matches assets/manifest.json and the splash in assets/index.html, so the first frame does not
# flash a different colour at night.
BACKGROUND = "#17212B"
SEED = "#3B6E8F"


async def main(page: ft.Page) -> None:
    """Flet entry point: one call per browser session."""
    try:
        page.title = "Rounds"
        page.theme_mode = ft.ThemeMode.DARK
        page.theme = ft.Theme(color_scheme_seed=SEED)
        page.dark_theme = ft.Theme(color_scheme_seed=SEED)
        page.bgcolor = BACKGROUND
        page.add(sign_in_form(page))
    except Exception:
        logger.exception("could not build the first screen")
        page.controls.clear()
        page.add(ft.Text(GENERIC_ERROR))
        page.update()


def sign_in_form(page: ft.Page) -> ft.Control:
    """The centred "Rounds" heading with username, password and a Sign in button."""
    username = ft.TextField(
        label="Username",
        autofocus=True,
        autocorrect=False,
        enable_suggestions=False,
        autofill_hints=ft.AutofillHint.USERNAME,
    )
    password = ft.TextField(
        label="Password",
        password=True,
        can_reveal_password=True,
        autofill_hints=ft.AutofillHint.PASSWORD,
    )

    async def sign_in(_: ft.Event[ft.FilledButton] | ft.Event[ft.TextField]) -> None:
        # Placeholder until the account service exists: never log or echo what was typed.
        password.value = ""
        show_message(page, "Sign-in is not available yet.")

    password.on_submit = guarded(page, sign_in)
    button = ft.FilledButton("Sign in", on_click=guarded(page, sign_in))

    return ft.SafeArea(
        expand=True,
        content=ft.Container(
            alignment=ft.Alignment.CENTER,
            padding=24,
            content=ft.Column(
                tight=True,
                width=360,
                spacing=16,
                horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
                controls=[
                    ft.Text(
                        "Rounds",
                        theme_style=ft.TextThemeStyle.DISPLAY_SMALL,
                        text_align=ft.TextAlign.CENTER,
                    ),
                    username,
                    password,
                    button,
                ],
            ),
        ),
    )
