"""Choosing the ward to work on, for staff on several wards."""

from collections.abc import Awaitable, Callable

import flet as ft

from app.services.wards import WardRead
from app.ui.errors import guarded
from app.ui.theme import BIG_TARGET


def build_choose_ward(
    page: ft.Page,
    wards: list[WardRead],
    choose: Callable[[WardRead], Awaitable[None]],
    greeting: str,
) -> ft.Control:
    """One big button per ward."""

    def pick(ward: WardRead):
        return guarded(page, lambda _: choose(ward))

    return ft.SafeArea(
        expand=True,
        content=ft.Container(
            alignment=ft.Alignment.CENTER,
            padding=24,
            content=ft.Column(
                tight=True,
                width=420,
                spacing=16,
                horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
                controls=[
                    ft.Text(greeting, theme_style=ft.TextThemeStyle.HEADLINE_SMALL),
                    ft.Text("Which ward are you working on?", size=18),
                    *[
                        ft.FilledTonalButton(
                            ward.name,
                            height=BIG_TARGET + 8,
                            on_click=pick(ward),
                            style=ft.ButtonStyle(text_style=ft.TextStyle(size=20)),
                        )
                        for ward in wards
                    ],
                ],
            ),
        ),
    )
