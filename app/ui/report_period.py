"""The period of an admin report: whole local days typed as dates, with quick choices.

The pure half (reading the typed dates into UTC bounds, with a clear sentence when they do not
make a period) is tested without Flet; `PeriodFields` draws the two date fields and the quick
choices for the audit and break-glass report screens.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime

import flet as ft

from app.services.errors import InvalidInput
from app.services.ward_time import day_bounds
from app.ui.date_range import last_days
from app.ui.errors import guarded
from app.ui.theme import TARGET, Palette
from models import Ward

DEFAULT_DAYS = 7
# The longest period a screen asks for at once; the console's report has no such limit.
MAX_DAYS = 92
QUICK_CHOICES = [(1, "Today"), (7, "Last 7 days"), (30, "Last 30 days")]
DATE_HINT = "YYYY-MM-DD"


@dataclass(frozen=True)
class Period:
    """Whole local days, `first` to `last` included, and their UTC bounds (end exclusive)."""

    first: date
    last: date
    start: datetime
    end: datetime

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def _read_date(text: str, name: str, problems: list[str]) -> date | None:
    text = (text or "").strip()
    if not text:
        problems.append(f"Enter the {name} date.")
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append(f"The {name} date {text!r} is not a date: write it as {DATE_HINT}.")
        return None


def read_period(
    first_text: str, last_text: str, *, zone: str, today: date, max_days: int = MAX_DAYS
) -> Period:
    """The period from two typed dates in `zone`; InvalidInput with one sentence per problem."""
    problems: list[str] = []
    first = _read_date(first_text, "first", problems)
    last = _read_date(last_text, "last", problems)
    if first is not None and last is not None:
        if last < first:
            problems.append("The last date is before the first: swap them.")
        elif first > today:
            problems.append("The first date is in the future.")
        elif (last - first).days + 1 > max_days:
            problems.append(
                f"Choose at most {max_days} days at a time, or narrow by user or patient "
                "and report each part."
            )
    if problems:
        raise InvalidInput(problems)
    ward = Ward(code="", name="", time_zone=zone)
    start, _ = day_bounds(ward, first)
    _, end = day_bounds(ward, last)
    return Period(first=first, last=last, start=start, end=end)


class PeriodFields:
    """The "From" and "To" date fields with quick choices; `values()` gives the typed text."""

    def __init__(
        self,
        page: ft.Page,
        colors: Palette,
        *,
        today: date,
        first: str,
        last: str,
        on_choice: Callable[[], Awaitable[None]],
    ) -> None:
        self.today = today
        self.on_choice = on_choice
        self.first = self._field("From", first)
        self.last = self._field("To (included)", last)
        self.quick = ft.Row(
            wrap=True,
            spacing=8,
            run_spacing=8,
            controls=[
                ft.OutlinedButton(
                    label,
                    height=TARGET,
                    on_click=guarded(page, lambda _, days=days: self.choose(days)),
                )
                for days, label in QUICK_CHOICES
            ],
        )
        self.root = ft.Column(
            spacing=8,
            controls=[
                ft.ResponsiveRow(
                    spacing=8,
                    run_spacing=8,
                    controls=[
                        ft.Container(col={"xs": 6}, content=self.first),
                        ft.Container(col={"xs": 6}, content=self.last),
                    ],
                ),
                self.quick,
            ],
        )

    @staticmethod
    def _field(label: str, value: str) -> ft.TextField:
        return ft.TextField(
            label=label,
            value=value,
            hint_text=DATE_HINT,
            keyboard_type=ft.KeyboardType.DATETIME,
            text_size=16,
        )

    def values(self) -> tuple[str, str]:
        return self.first.value or "", self.last.value or ""

    async def choose(self, days: int) -> None:
        """A quick choice: fill both fields and run the report."""
        chosen = last_days(self.today, days)
        self.first.value, self.last.value = chosen.start.isoformat(), chosen.end.isoformat()
        self.root.update()
        await self.on_choice()
