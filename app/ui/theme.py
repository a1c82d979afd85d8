"""Day and night looks. Night is dim: near-black, low-brightness text, warm amber accents and no
red, so a tablet carried into a dark room at 3 am neither dazzles nor wakes anyone."""

from dataclasses import dataclass

import flet as ft

# Matches assets/manifest.json and the splash in assets/index.html, so the first frame does not
# flash a different colour.
SPLASH_BACKGROUND = "#17212B"
SEED = "#3B6E8F"

# Touch targets: Material's minimum is 48 px; the main actions are bigger for gloved, tired hands.
TARGET = 48
BIG_TARGET = 56
# From this width a tablet layout (navigation rail, two columns) is used.
TABLET_WIDTH = 800


@dataclass(frozen=True)
class Palette:
    """The colours screens use by meaning, not by hue."""

    night: bool
    background: str
    card: str
    text: str
    muted: str
    accent: str
    on_accent: str
    overdue: str
    overdue_card: str
    due: str
    calm: str
    chip: str
    saved: str
    # The main buttons and chosen options; at night a dark fill with amber text, so a screen
    # full of choices does not light up the room.
    button: str
    on_button: str

    @property
    def theme_mode(self) -> ft.ThemeMode:
        return ft.ThemeMode.DARK if self.night else ft.ThemeMode.LIGHT


DAY = Palette(
    night=False,
    background="#F3F5F7",
    card="#FFFFFF",
    text="#18212B",
    muted="#4E5B68",
    accent="#2F6A8C",
    on_accent="#FFFFFF",
    overdue="#B3261E",
    overdue_card="#FCEDEC",
    due="#8A5300",
    calm="#2D6A3E",
    chip="#E3EAF0",
    saved="#2D6A3E",
    button="#2F6A8C",
    on_button="#FFFFFF",
)

NIGHT = Palette(
    night=True,
    background="#050505",
    card="#121110",
    text="#A39A8E",
    muted="#6F675E",
    accent="#B8843F",
    on_accent="#1A1208",
    overdue="#D9953A",
    overdue_card="#231A0E",
    due="#A88A5A",
    calm="#7E8A6A",
    chip="#1E1B18",
    saved="#9AA177",
    button="#3B2B15",
    on_button="#E0B46E",
)


def palette(night: bool) -> Palette:
    return NIGHT if night else DAY


def _theme(colors: Palette) -> ft.Theme:
    return ft.Theme(
        color_scheme_seed=SEED,
        color_scheme=ft.ColorScheme(
            primary=colors.accent,
            on_primary=colors.on_accent,
            secondary_container=colors.chip,
            surface=colors.card,
            on_surface=colors.text,
            on_surface_variant=colors.muted,
            error=colors.overdue,
        ),
    )


def apply(page: ft.Page, night: bool) -> Palette:
    """Switch the page to the day or night look; the palette screens should draw with."""
    colors = palette(night)
    page.theme = _theme(DAY)
    page.dark_theme = _theme(NIGHT)
    page.theme_mode = colors.theme_mode
    return colors


def apply_splash(page: ft.Page) -> str:
    """The look before anyone signs in: the splash colour, so the first frame does not flash."""
    page.theme = ft.Theme(color_scheme_seed=SEED)
    page.dark_theme = ft.Theme(color_scheme_seed=SEED)
    page.theme_mode = ft.ThemeMode.DARK
    return SPLASH_BACKGROUND
