"""The lock screen: only the user's name and a PIN pad. Nothing about patients is on it."""

from collections.abc import Awaitable, Callable

import flet as ft

from app.services.accounts import PIN_DIGITS
from app.ui.errors import guarded
from app.ui.theme import Palette

KEY_SIZE = 72  # a large, well-spaced pad: it is used standing, one-handed, in dim light

# Returns the message to show after a wrong PIN, or None when the session is unlocked.
TryPin = Callable[[str], Awaitable[str | None]]


def build_lock(
    page: ft.Page,
    display_name: str,
    try_pin: TryPin,
    switch_user: Callable[[], Awaitable[None]],
    colors: Palette,
) -> ft.Control:
    """A 6-digit PIN pad that unlocks the same user's session, and "Switch user"."""
    digits: list[str] = []
    text_colour = colors.text
    key_colour = colors.chip
    dots = ft.Row(alignment=ft.MainAxisAlignment.CENTER, spacing=14)
    message = ft.Text("", size=16, color=colors.due, text_align=ft.TextAlign.CENTER)
    checking = {"busy": False}

    def draw_dots() -> None:
        dots.controls = [
            ft.Container(
                width=18,
                height=18,
                border_radius=9,
                bgcolor=text_colour if index < len(digits) else None,
                border=ft.Border.all(2, text_colour),
            )
            for index in range(PIN_DIGITS)
        ]

    async def press(digit: str) -> None:
        if checking["busy"] or len(digits) >= PIN_DIGITS:
            return
        digits.append(digit)
        message.value = ""
        draw_dots()
        page.update()
        if len(digits) == PIN_DIGITS:
            checking["busy"] = True
            pin = "".join(digits)
            digits.clear()
            try:
                refusal = await try_pin(pin)
            finally:
                checking["busy"] = False
            if refusal is not None:
                message.value = refusal
                draw_dots()
                page.update()

    async def erase(_: ft.Event) -> None:
        if digits:
            digits.pop()
            draw_dots()
            page.update()

    def key(label: str | ft.Control, on_click, semantic: str) -> ft.Control:
        return ft.Semantics(
            container=True,
            label=semantic,
            button=True,
            content=ft.Container(
                width=KEY_SIZE,
                height=KEY_SIZE,
                border_radius=KEY_SIZE / 2,
                bgcolor=key_colour,
                alignment=ft.Alignment.CENTER,
                on_click=guarded(page, on_click),
                content=label
                if isinstance(label, ft.Control)
                else ft.Text(label, size=30, color=text_colour, weight=ft.FontWeight.W_500),
            ),
        )

    def digit_key(digit: str) -> ft.Control:
        return key(digit, lambda _: press(digit), f"PIN digit {digit}")

    rows = [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"]]
    pad = ft.Column(
        spacing=16,
        horizontal_alignment=ft.CrossAxisAlignment.CENTER,
        controls=[
            *[ft.Row([digit_key(d) for d in row], spacing=22, tight=True) for row in rows],
            ft.Row(
                [
                    ft.Container(width=KEY_SIZE, height=KEY_SIZE),
                    digit_key("0"),
                    key(
                        ft.Icon(ft.Icons.BACKSPACE_OUTLINED, size=30, color=text_colour),
                        erase,
                        "Erase last digit",
                    ),
                ],
                spacing=22,
                tight=True,
            ),
        ],
    )
    draw_dots()
    return ft.Container(
        expand=True,
        bgcolor=colors.background,
        alignment=ft.Alignment.CENTER,
        padding=16,
        content=ft.Column(
            tight=True,
            spacing=14,
            horizontal_alignment=ft.CrossAxisAlignment.CENTER,
            controls=[
                ft.Icon(ft.Icons.LOCK_OUTLINE, size=32, color=text_colour),
                ft.Text(display_name, size=26, weight=ft.FontWeight.W_600, color=text_colour),
                ft.Text("Locked. Enter your PIN to continue.", size=16, color=text_colour),
                dots,
                message,
                pad,
                ft.TextButton(
                    "Switch user",
                    height=56,
                    on_click=guarded(page, lambda _: switch_user()),
                    style=ft.ButtonStyle(color=colors.accent, text_style=ft.TextStyle(size=18)),
                ),
            ],
        ),
    )
