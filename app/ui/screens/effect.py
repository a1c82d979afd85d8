"""Is it working? One treatment change of a patient, and the N days before against the N after:
mood, anxiety, sleep, group participation, incidents and MOAS, each with its uncertainty in the
plain words a treatment team reads out in a meeting, or "not enough data" where that is the
honest answer.

The pure half (cards, choices, the window line) is tested without Flet; the screen half draws
it and calls `compare_around` through `ctx`, so the comparison is audited as the service does.
"""

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import flet as ft

from app.services.access import Permission, allowed
from app.services.effect import (
    DEFAULT_DAYS,
    MEASURES,
    Comparison,
    MeasureComparison,
    Verdict,
    compare_around,
)
from app.services.errors import ServiceError
from app.services.timeline import MAX_PAGE, EntryStatus, TimelineEntry, timeline_for
from app.services.wards import PatientRead, patient_header
from app.ui.context import ScreenContext
from app.ui.errors import guarded
from app.ui.screens.break_glass import open_through_break_glass
from app.ui.screens.export import export_route
from app.ui.theme import BIG_TARGET, TARGET, Palette
from models.codes import RecordKind, Role

# The windows offered, in days on each side of the change (the service takes MIN_DAYS to
# MAX_DAYS; a test holds them to it).
WINDOWS = (3, 7, 14, 28)
EVENTS_LABEL = "Treatment change"

VERDICT_WORDS = {
    Verdict.better: "Better",
    Verdict.worse: "Worse",
    Verdict.unclear: "No clear change",
    Verdict.not_enough_data: "Not enough data",
}
NO_VALUE = "—"
NO_CHANGES = (
    "No treatment change is recorded for this patient, so there is nothing to compare yet. "
    "Nurses record medication and therapy changes."
)

_MEASURES = {measure.key: measure for measure in MEASURES}


def effect_route(patient_id: int) -> str:
    return f"/patients/{patient_id}/effect"


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


@dataclass(frozen=True)
class MeasureCard:
    """One measure of the comparison as its card shows it."""

    title: str
    verdict: Verdict
    verdict_text: str
    before: str
    after: str
    change: str
    unit: str
    days: str
    interval: str
    sentence: str


def measure_card(row: MeasureComparison) -> MeasureCard:
    """A measure's values in its own unit (incidents by the week, groups as a share)."""
    measure = _MEASURES[row.measure]
    unit_word = measure.days_with[0]
    plural = "" if row.before.days == 1 else "s"
    days = f"{row.before.days} {unit_word}{plural} with data before, {row.after.days} after"

    def shown(value: float | None) -> str:
        return measure.show(value) if value is not None else NO_VALUE

    interval = ""
    # Equal ends mean every day had the same value (no incidents at all): nothing to add.
    if row.interval_low is not None and row.interval_low != row.interval_high:
        low, high = measure.show_change(row.interval_low), measure.show_change(row.interval_high)
        interval = f"95% interval of the change: {low} to {high}"
    return MeasureCard(
        title=row.label,
        verdict=row.verdict,
        verdict_text=VERDICT_WORDS[row.verdict],
        before=shown(row.before.mean),
        after=shown(row.after.mean),
        change=measure.show_change(row.change) if row.change is not None else NO_VALUE,
        unit=measure.suffix.strip(),
        days=days,
        interval=interval,
        sentence=row.sentence,
    )


def _span(first: date, last: date) -> str:
    return _day(first) if first == last else f"{_day(first)} to {_day(last)}"


def _days(count: int) -> str:
    return f"{count} day{'' if count == 1 else 's'}"


def window_line(comparison: Comparison, today: date) -> str:
    """Which days are compared, and where a side is shorter (admitted lately, or the after side
    still being lived)."""
    days = comparison.days
    before_days = (comparison.before_last - comparison.before_first).days + 1
    if before_days <= 0:
        before = "no days before (admitted on the day of the change)"
    elif before_days < days:
        span = _span(comparison.before_first, comparison.before_last)
        before = f"only {_days(before_days)} before, since admission ({span})"
    else:
        before = f"{days} days before ({_span(comparison.before_first, comparison.before_last)})"
    after_days = (comparison.after_last - comparison.after_first).days + 1
    if after_days <= 0:
        after = "the days after (none yet)"
    elif after_days < days and comparison.after_last >= today:
        after = f"{days} days after ({_day(comparison.after_first)} to today, "
        after += f"{_days(after_days)} so far)"
    else:
        after = f"{days} days after ({_span(comparison.after_first, comparison.after_last)})"
    line = f"{before} against {after}"
    return (
        f"{line[0].upper()}{line[1:]}. The day of the change, {_day(comparison.change_day)}, "
        "counts on neither side."
    )


def verdict_summary(comparison: Comparison) -> str:
    """ "2 better · 1 worse · 3 no clear change · 1 not enough data", in that order."""
    counts = {verdict: 0 for verdict in VERDICT_WORDS}
    for row in comparison.measures:
        counts[row.verdict] += 1
    return " · ".join(
        f"{count} {VERDICT_WORDS[verdict].lower()}" for verdict, count in counts.items() if count
    )


@dataclass(frozen=True)
class EventChoice:
    id: int
    label: str


def event_choices(entries: list[TimelineEntry], zone: ZoneInfo, now: datetime) -> list[EventChoice]:
    """The patient's treatment changes that can be compared (in effect by now, not voided or
    replaced), newest first, as "Tue 10 Nov · Dose changed · sertraline"."""
    chosen = [
        entry
        for entry in entries
        if entry.kind == RecordKind.treatment
        and entry.status == EntryStatus.current
        and entry.at <= now
    ]
    chosen.sort(key=lambda entry: (entry.at, entry.id), reverse=True)
    return [
        EventChoice(entry.id, f"{_day(entry.at.astimezone(zone).date())} · {entry.title}")
        for entry in chosen
    ]


def patient_tools(ctx: ScreenContext, patient_id: int, *, export: bool = True) -> list[ft.Control]:
    """Buttons for a patient's timeline: the before/after view, and exports for those allowed
    (`export=False` where the patient is only read, as through break-glass)."""
    tools: list[ft.Control] = [
        ft.OutlinedButton(
            "Before / after",
            icon=ft.Icons.COMPARE_ARROWS,
            height=TARGET,
            on_click=guarded(ctx.page, lambda _: ctx.navigate(effect_route(patient_id))),
        )
    ]
    if export and allowed(Role(ctx.staff.role), Permission.export):
        tools.append(
            ft.OutlinedButton(
                "Export",
                icon=ft.Icons.DOWNLOAD_OUTLINED,
                height=TARGET,
                on_click=guarded(ctx.page, lambda _: ctx.navigate(export_route(patient_id))),
            )
        )
    return tools


def verdict_colours(verdict: Verdict, colors: Palette) -> tuple[str, str]:
    """Text and background of a verdict's tag: a clear change stands out, the rest stay calm."""
    if verdict == Verdict.better:
        return colors.calm, colors.chip
    if verdict == Verdict.worse:
        return colors.overdue, colors.overdue_card
    return colors.muted, colors.chip


class EffectScreen:
    """The before/after screen of one patient."""

    def __init__(self, ctx: ScreenContext, patient_id: int) -> None:
        self.ctx = ctx
        self.patient_id = patient_id
        self.colors = ctx.colors
        self.zone = ZoneInfo(ctx.ward.time_zone)
        self.days = DEFAULT_DAYS
        self.event_id: int | None = None
        self.comparison: Comparison | None = None
        # Set when the patient is open through break-glass (read only, with its banner).
        self.read_only = False
        self.correcting = False
        # The (event, days) last asked for: an answer to an older question is dropped.
        self.asked: tuple[int | None, int] = (None, self.days)

        page = ctx.page
        self.header = ft.Column(spacing=4, controls=[ft.ProgressRing(width=28, height=28)])
        self.events = ft.Dropdown(
            label=EVENTS_LABEL,
            options=[],
            text_size=16,
            expand=True,
            on_select=guarded(page, self._event_chosen),
        )
        # Flutter's dropdown reaches screen readers as a button without a name: this names it,
        # with the change chosen as its value.
        self.events_named = ft.Semantics(
            container=True, label=EVENTS_LABEL, expand=True, visible=False, content=self.events
        )
        self.windows = ft.Row(wrap=True, spacing=8, run_spacing=8)
        self.body = ft.Column(
            spacing=10,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
            controls=[ft.ProgressRing(width=28, height=28)],
        )
        self._draw_windows()
        self.root = ft.ListView(
            expand=True,
            spacing=10,
            padding=ft.Padding.symmetric(horizontal=12, vertical=12),
            controls=[
                self.header,
                ft.Row([self.events_named]),
                ft.Text("Days on each side", size=15, color=self.colors.muted),
                self.windows,
                self.body,
            ],
        )

    def add_banner(self, banner: ft.Control) -> None:
        """A notice above everything (the break-glass expiry)."""
        self.root.controls.insert(0, banner)
        self.root.update()

    # Loading

    async def load(self) -> None:
        """The patient, their treatment changes and the comparison around the latest."""
        await asyncio.gather(self._load_header(), self._load_events(), self._compare())

    async def _load_header(self) -> None:
        colors = self.colors
        try:
            patient = await self.ctx.call(
                patient_header, self.ctx.db, self.ctx.actor, self.patient_id
            )
        except ServiceError as refused:
            self.header.controls = [ft.Text(refused.message, size=18, color=colors.text)]
        else:
            self.header.controls = self._header(patient)
        self.header.update()

    async def _load_events(self) -> None:
        try:
            page = await self.ctx.call(
                timeline_for,
                self.ctx.db,
                self.ctx.actor,
                self.patient_id,
                kinds={RecordKind.treatment},
                limit=MAX_PAGE,
            )
        except ServiceError:
            return  # the comparison says why
        choices = event_choices(page.entries, self.zone, self.ctx.now())
        self.events.options = [
            ft.DropdownOption(key=str(choice.id), text=choice.label) for choice in choices
        ]
        self.events_named.visible = bool(choices)
        if self.comparison is not None and self.events.value is None:
            self.events.value = str(self.comparison.event.id)
        self._name_choice()
        self.events_named.update()

    async def _compare(self) -> None:
        asked = (self.event_id, self.days)
        self.asked = asked
        try:
            comparison = await self.ctx.call(
                compare_around,
                self.ctx.db,
                self.ctx.actor,
                self.patient_id,
                event_id=self.event_id,
                days=self.days,
            )
        except ServiceError as refused:
            if asked != self.asked:
                return
            self.comparison = None
            no_event = refused.message.startswith("No treatment change")
            self.body.controls = [self._notice(NO_CHANGES if no_event else refused.message)]
            self.body.update()
            return
        except Exception:
            if asked == self.asked:
                self.body.controls = [self._notice("The comparison could not be made.", retry=True)]
                self.body.update()
            raise
        if asked != self.asked:
            return
        self.comparison = comparison
        if self.events.options and self.events.value is None:
            self.events.value = str(comparison.event.id)
            self._name_choice()
            self.events_named.update()
        self.body.controls = self._result(comparison)
        self.body.update()

    # Events

    def _name_choice(self) -> None:
        chosen = next((o for o in self.events.options if o.key == self.events.value), None)
        self.events_named.value = chosen.text if chosen else None

    async def _event_chosen(self, event: ft.Event[ft.Dropdown]) -> None:
        value = event.control.value
        if not value:
            return
        self.event_id = int(value)
        self._name_choice()
        self.events_named.update()
        await self._reload()

    async def _window_chosen(self, days: int) -> None:
        self.days = days
        self._draw_windows()
        self.windows.update()
        await self._reload()

    async def _reload(self) -> None:
        self.body.controls = [ft.ProgressRing(width=28, height=28)]
        self.body.update()
        await self._compare()

    # Drawing

    def _header(self, patient: PatientRead) -> list[ft.Control]:
        colors = self.colors
        # Back to the timeline is the app bar's arrow.
        return [
            ft.Text(patient.display_name, size=24, weight=ft.FontWeight.W_700, color=colors.text),
            ft.Text(f"Room {patient.room_bed} · MRN {patient.mrn}", size=16, color=colors.muted),
        ]

    def _draw_windows(self) -> None:
        def chip(days: int) -> ft.Chip:
            return ft.Chip(
                label=ft.Text(f"{days} days", size=15),
                selected=days == self.days,
                show_checkmark=False,
                height=TARGET - 8,
                on_select=guarded(self.ctx.page, lambda _: self._window_chosen(days)),
            )

        self.windows.controls = [chip(days) for days in WINDOWS]

    def _notice(self, text: str, *, retry: bool = False) -> ft.Control:
        controls: list[ft.Control] = [ft.Text(text, size=17, color=self.colors.text)]
        if retry:
            controls.append(
                ft.OutlinedButton(
                    "Try again",
                    height=TARGET,
                    on_click=guarded(self.ctx.page, lambda _: self._reload()),
                )
            )
        return ft.Container(
            padding=ft.Padding.all(14),
            border_radius=12,
            bgcolor=self.colors.card,
            content=ft.Column(controls, spacing=10),
        )

    def _result(self, comparison: Comparison) -> list[ft.Control]:
        colors = self.colors
        today = self.ctx.now().astimezone(self.zone).date()
        when = comparison.event.effective_at.astimezone(self.zone)
        summary = ft.Container(
            padding=ft.Padding.all(14),
            border_radius=12,
            bgcolor=colors.card,
            content=ft.Column(
                spacing=6,
                controls=[
                    ft.Text(
                        comparison.event_label,
                        size=19,
                        weight=ft.FontWeight.W_700,
                        color=colors.text,
                    ),
                    ft.Text(
                        f"{when:%a} {when.day} {when:%b} {when.year} at {when:%H:%M}",
                        size=16,
                        color=colors.muted,
                    ),
                    ft.Text(window_line(comparison, today), size=16, color=colors.text),
                    ft.Text(
                        verdict_summary(comparison),
                        size=17,
                        weight=ft.FontWeight.W_600,
                        color=colors.text,
                    ),
                ],
            ),
        )
        cards = [
            ft.Container(self._card(measure_card(row)), col={"xs": 12, "md": 6})
            for row in comparison.measures
        ]
        return [
            summary,
            ft.ResponsiveRow(cards, spacing=10, run_spacing=10),
            ft.Text(comparison.caveat, size=15, italic=True, color=colors.muted),
            ft.Container(height=BIG_TARGET),
        ]

    def _card(self, card: MeasureCard) -> ft.Control:
        colors = self.colors
        tag_text, tag_fill = verdict_colours(card.verdict, colors)

        def figure(label: str, value: str, size: int = 28) -> ft.Control:
            return ft.Column(
                spacing=0,
                controls=[
                    ft.Text(label, size=13, color=colors.muted),
                    ft.Text(value, size=size, weight=ft.FontWeight.W_700, color=colors.text),
                ],
            )

        lines: list[ft.Control] = [
            ft.Row(
                vertical_alignment=ft.CrossAxisAlignment.START,
                controls=[
                    ft.Text(
                        card.title,
                        size=17,
                        weight=ft.FontWeight.W_600,
                        color=colors.text,
                        expand=True,
                    ),
                    ft.Container(
                        padding=ft.Padding.symmetric(horizontal=10, vertical=4),
                        border_radius=14,
                        bgcolor=tag_fill,
                        content=ft.Text(
                            card.verdict_text, size=14, weight=ft.FontWeight.W_700, color=tag_text
                        ),
                    ),
                ],
            ),
            ft.Row(
                wrap=True,
                spacing=16,
                run_spacing=6,
                vertical_alignment=ft.CrossAxisAlignment.END,
                controls=[
                    figure("Before", card.before),
                    figure("After", card.after),
                    figure("Change", card.change, size=22),
                ],
            ),
            ft.Text(
                f"{card.unit} · {card.days}" if card.unit else card.days,
                size=14,
                color=colors.muted,
            ),
        ]
        if card.interval:
            lines.append(ft.Text(card.interval, size=15, color=colors.text))
        lines.append(ft.Text(card.sentence, size=15, color=colors.text))
        return ft.Container(
            padding=ft.Padding.all(14),
            border_radius=12,
            bgcolor=colors.card,
            content=ft.Column(lines, spacing=6),
        )


def build_effect(ctx: ScreenContext, patient_id: int) -> ft.Control:
    """The before/after comparison of a patient's treatment change (route
    /patients/<patient_id>/effect)."""
    screen = EffectScreen(ctx, patient_id)

    async def load() -> None:
        # Another ward's patient through break-glass: the timeline's banner and expiry here too.
        if await open_through_break_glass(ctx, screen):
            await screen.load()

    ctx.spawn(load)
    return screen.root
