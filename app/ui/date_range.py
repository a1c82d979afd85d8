"""A range of ward-local days chosen with a tap: a few preset chips and "Other dates" (a calendar).

The one date-range chooser of the app: the export, ward compliance, audit report and break-glass
report screens use it. The pure half (`DayRange` and its UTC bounds, `last_days`, `picked_day`,
`range_problem`) is tested without Flet.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import flet as ft

from app.services.ward_time import day_bounds
from app.ui.errors import guarded
from app.ui.theme import TARGET, Palette
from models import Ward

OTHER = "Other dates"


@dataclass(frozen=True)
class DayRange:
    """Ward-local days `start`..`end`, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def text(self) -> str:
        """ "Sat 14 Nov to Fri 20 Nov 2026 · 7 days"."""
        first = f"{self.start:%a} {self.start.day} {self.start:%b}"
        if self.start.year != self.end.year:
            first += f" {self.start.year}"
        last = f"{self.end:%a} {self.end.day} {self.end:%b} {self.end.year}"
        count = f"{self.days} day{'' if self.days == 1 else 's'}"
        return f"{first} to {last} · {count}" if self.days > 1 else f"{last} · {count}"

    def utc_bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """From midnight of the first day to midnight after the last, in `zone`, as UTC instants."""
        ward = Ward(code="", name="", time_zone=zone.key)
        return day_bounds(ward, self.start)[0], day_bounds(ward, self.end)[1]


def last_days(today: date, days: int, *, first: date | None = None) -> DayRange:
    """The `days` ward-local days ending today, starting no earlier than `first`."""
    start = today - timedelta(days=days - 1)
    if first is not None:
        start = min(max(start, first), today)
    return DayRange(start, today)


def picked_day(value: datetime | date | None, zone: ZoneInfo) -> date | None:
    """The day a calendar tap meant, whichever way the browser sent it back.

    The client sends the chosen day either as a plain date-time (the browser's midnight) or as
    an instant in UTC. Midnight plus twelve hours lands on the same day in every zone within
    twelve hours of the browser's, so the ward's date comes out right either way.
    """
    if value is None:
        return None
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:
        return value.date()
    return (value + timedelta(hours=12)).astimezone(zone).date()


def ward_noon(day: date, zone: ZoneInfo) -> datetime:
    """The middle of a ward day, as handed to the calendar (no edge for a zone to push over)."""
    return datetime.combine(day, time(12), tzinfo=zone)


@dataclass(frozen=True)
class Preset:
    label: str
    choose: Callable[[], DayRange]


class RangeChooser:
    """Preset chips, an "Other dates" chip that opens a calendar, and the chosen range in words.

    `on_change(range)` runs after every new choice; `limit` is the most days the service takes.
    `chosen` is the label shown as chosen; when it is OTHER, `other` is the range it stands for
    (so a screen drawn again keeps a calendar choice).
    """

    def __init__(
        self,
        page: ft.Page,
        colors: Palette,
        zone: ZoneInfo,
        presets: list[Preset],
        *,
        chosen: str,
        first_day: date,
        last_day: date,
        limit: int,
        on_change: Callable[[DayRange], Awaitable[None]],
        other: DayRange | None = None,
    ) -> None:
        self.page = page
        self.colors = colors
        self.zone = zone
        self.presets = presets
        self.first_day = first_day
        self.last_day = last_day
        self.limit = limit
        self.on_change = on_change
        self.chosen = chosen
        if chosen == OTHER and other is not None:
            self.range = other
        else:
            self.range = next(preset for preset in presets if preset.label == chosen).choose()
        self.chips = ft.Row(wrap=True, spacing=8, run_spacing=8)
        self.words = ft.Text(self.range.text(), size=16, color=colors.text)
        self.problem = ft.Text("", size=15, color=colors.overdue, visible=False)
        self.root = ft.Column(spacing=8, controls=[self.chips, self.words, self.problem])
        self._draw()

    def _draw(self) -> None:
        def chip(label: str) -> ft.Chip:
            return ft.Chip(
                label=ft.Text(label, size=15),
                selected=label == self.chosen,
                show_checkmark=False,
                height=TARGET - 8,
                on_select=guarded(self.page, lambda _: self._picked(label)),
            )

        self.chips.controls = [chip(preset.label) for preset in self.presets] + [chip(OTHER)]
        self.words.value = self.range.text()

    async def _picked(self, label: str) -> None:
        if label == OTHER:
            self._open_calendar()
            # The chip stays as it was until a range is confirmed in the calendar.
            self._draw()
            self.chips.update()
            return
        preset = next(preset for preset in self.presets if preset.label == label)
        await self.choose(label, preset.choose())

    async def choose(self, label: str, chosen: DayRange) -> None:
        """Take a range (from a chip or the calendar) and tell the screen."""
        self.chosen = label
        self.range = chosen
        self.problem.visible = False
        self._draw()
        self.root.update()
        await self.on_change(chosen)

    def _open_calendar(self) -> None:
        picker = ft.DateRangePicker(
            start_value=ward_noon(self.range.start, self.zone),
            end_value=ward_noon(self.range.end, self.zone),
            first_date=ward_noon(self.first_day, self.zone),
            last_date=ward_noon(self.last_day, self.zone),
            current_date=ward_noon(self.last_day, self.zone),
            help_text=f"Choose up to {self.limit} days",
            save_text="Use these dates",
            on_change=guarded(self.page, self._calendar_chose),
        )
        self.picker = picker
        self.page.show_dialog(picker)

    async def _calendar_chose(self, event: ft.Event[ft.DateRangePicker]) -> None:
        picker = event.control
        start = picked_day(picker.start_value, self.zone)
        end = picked_day(picker.end_value, self.zone) or start
        if start is None:
            return
        problem = range_problem(DayRange(start, end), self.first_day, self.last_day, self.limit)
        if problem:
            self.problem.value = problem
            self.problem.visible = True
            self.problem.update()
            return
        await self.choose(OTHER, DayRange(start, end))


def range_problem(chosen: DayRange, first_day: date, last_day: date, limit: int) -> str:
    """Why a range cannot be used ("" when it can), in the words the screen shows."""
    if chosen.end < chosen.start:
        return "The last day must be on or after the first."
    if chosen.start < first_day or chosen.end > last_day:
        return (
            f"Choose days from {first_day:%a} {first_day.day} {first_day:%b} "
            f"to {last_day:%a} {last_day.day} {last_day:%b}."
        )
    if chosen.days > limit:
        return f"Choose at most {limit} days."
    return ""
