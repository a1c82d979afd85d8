"""A patient's timeline: the header, trend charts over 7/30/90 days, and every record newest
first with kind filters, endless scrolling, and (for nurses) void and amend.

The pure half (rows, the feed's paging state, reading a check-in back for amendment) is tested
without Flet; the screen half draws it and calls the services through `ctx`.
"""

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import flet as ft

from app.services.access import Permission, allowed
from app.services.corrections import amend_record, void_record
from app.services.timeline import EntryStatus, TimelineEntry, TimelinePage, timeline_for, words
from app.services.trends import trends_for
from app.services.wards import PatientRead, patient_header
from app.ui.check_in_form import CheckInForm
from app.ui.context import ScreenContext
from app.ui.errors import guarded
from app.ui.labels import AFFECTS, BEHAVIOURS, LOCATIONS, PRECAUTIONS, STATUSES, level_label
from app.ui.routes import check_in_route
from app.ui.screens.break_glass import open_through_break_glass
from app.ui.screens.charts import RANGES, chart_series, range_dates, trend_charts
from app.ui.screens.effect import patient_tools
from app.ui.theme import TARGET, Palette
from models.codes import Affect, Behaviour, LateReason, Location, RecordKind, Role, Status

PAGE_SIZE = 40
# Start loading the next page this far (px) before the end of the list comes into view.
PREFETCH_PX = 800

KIND_FILTERS: list[tuple[RecordKind, str]] = [
    (RecordKind.check_in, "Checks"),
    (RecordKind.sleep_report, "Sleep"),
    (RecordKind.group_attendance, "Groups"),
    (RecordKind.incident, "Incidents"),
    (RecordKind.restraint, "Restraint"),
    (RecordKind.treatment, "Treatment"),
    (RecordKind.level_change, "Level"),
]

KIND_ICONS = {
    RecordKind.check_in: ft.Icons.VISIBILITY_OUTLINED,
    RecordKind.sleep_report: ft.Icons.BEDTIME_OUTLINED,
    RecordKind.group_attendance: ft.Icons.GROUPS_OUTLINED,
    RecordKind.incident: ft.Icons.REPORT_OUTLINED,
    RecordKind.restraint: ft.Icons.DOOR_FRONT_DOOR_OUTLINED,
    RecordKind.treatment: ft.Icons.MEDICATION_OUTLINED,
    RecordKind.level_change: ft.Icons.STAIRS_OUTLINED,
}

# The patient's chart reference for 42 CFR Part 2: shown, never explained away.
PART_2 = "Part 2"


def incident_route(patient_id: int) -> str:
    return f"/patients/{patient_id}/incident"


def may_correct(role: Role) -> bool:
    """Nurses and charge nurses may void and amend; technicians may not."""
    return allowed(role, Permission.correct_record)


def day_heading(day: date, today: date) -> str:
    """ "Today · Fri 20 Nov", "Yesterday · Thu 19 Nov", "Tue 17 Nov"."""
    text = f"{day:%a} {day.day} {day:%b}"
    if day == today:
        return f"Today · {text}"
    if (today - day).days == 1:
        return f"Yesterday · {text}"
    return text if day.year == today.year else f"{text} {day.year}"


@dataclass(frozen=True)
class EntryRow:
    """One timeline entry as the list shows it."""

    kind: RecordKind
    id: int
    time: str
    title: str
    lines: list[str]
    by: str
    flags: list[str]
    struck: bool
    correction: str
    can_amend: bool
    can_void: bool


def entry_row(entry: TimelineEntry, zone: ZoneInfo, *, correcting: bool) -> EntryRow:
    """A timeline entry in the list's words, with what a nurse may do to it."""
    flags = []
    if entry.missed:
        flags.append("Missed")
    elif entry.late:
        flags.append("Late")
    if entry.amends_id is not None:
        flags.append("Amended version")
    correction = ""
    if entry.correction is not None:
        info = entry.correction
        what = "Voided" if entry.status == EntryStatus.voided else "Amended"
        by = f" by {info.corrected_by}" if info.corrected_by else ""
        moment = info.corrected_at.astimezone(zone)
        correction = (
            f"{what}{by}, {moment:%a} {moment.day} {moment:%b} {moment:%H:%M}: {info.reason}"
        )
        flags.insert(0, what)
    current = entry.status == EntryStatus.current
    return EntryRow(
        kind=entry.kind,
        id=entry.id,
        time=f"{entry.at.astimezone(zone):%H:%M}",
        title=entry.title,
        lines=list(entry.detail),
        by=entry.staff_name,
        flags=flags,
        struck=not current,
        correction=correction,
        can_amend=correcting and current and entry.kind == RecordKind.check_in and not entry.missed,
        can_void=correcting and current,
    )


@dataclass
class TimelineFeed:
    """The list's paging state: which kinds are shown, what is loaded, where the next page is.

    Each filter change starts a new generation; a page asked for under an older one is dropped
    when it arrives, so a slow page never mixes into the newly filtered list.
    """

    kinds: set[RecordKind] = field(default_factory=set)  # empty: every kind
    entries: list[TimelineEntry] = field(default_factory=list)
    cursor: str | None = None
    exhausted: bool = False
    loading: bool = False
    generation: int = 0

    def query(self) -> dict[str, Any]:
        """The `timeline_for` keywords for the next page."""
        return {
            "kinds": set(self.kinds) if self.kinds else None,
            "cursor": self.cursor,
            "limit": PAGE_SIZE,
        }

    def wants_more(self) -> bool:
        return not self.loading and not self.exhausted

    def begin(self) -> int:
        """Mark a page as being fetched; the generation to hand back with it."""
        self.loading = True
        return self.generation

    def take(self, page: TimelinePage, generation: int) -> list[TimelineEntry]:
        """Add a fetched page; the entries that are new to the list (none if it is stale)."""
        if generation != self.generation:
            return []
        self.loading = False
        seen = {(entry.kind, entry.id) for entry in self.entries}
        fresh = [entry for entry in page.entries if (entry.kind, entry.id) not in seen]
        self.entries.extend(fresh)
        self.cursor = page.next_cursor
        self.exhausted = page.next_cursor is None
        return fresh

    def failed(self, generation: int) -> None:
        if generation == self.generation:
            self.loading = False

    def toggle(self, kind: RecordKind) -> None:
        """Show or hide one kind; starts the list again from the newest entry."""
        self.kinds.symmetric_difference_update({kind})
        self.restart()

    def show_all(self) -> None:
        self.kinds.clear()
        self.restart()

    def restart(self) -> None:
        self.generation += 1
        self.entries = []
        self.cursor = None
        self.exhausted = False
        self.loading = False


def _reverse(vocabulary) -> dict[str, Any]:
    return {words(code): code for code in vocabulary}


_LOCATION_WORDS = _reverse(Location)
_STATUS_WORDS = _reverse(Status)
_BEHAVIOUR_WORDS = _reverse(Behaviour)
_AFFECT_WORDS = _reverse(Affect)
_REASON_WORDS = _reverse(LateReason)


def check_in_for_amendment(entry: TimelineEntry) -> CheckInForm:
    """A check-in form prefilled from a timeline entry of a (seen) check, to amend it.

    The timeline describes a check in words (`timeline._Describe.check_in`); this reads those
    words back into codes. Mood and anxiety come from the entry's own fields. The amendment
    keeps the original observation time.
    """
    if entry.kind != RecordKind.check_in or entry.missed:
        raise ValueError("only a seen check is amended on this form")
    parts = entry.title.split(" · ")
    form = CheckInForm(patient_id=0, observed_at=entry.at)
    form.location = _LOCATION_WORDS.get(parts[0][:1].lower() + parts[0][1:])
    form.status = _STATUS_WORDS.get(parts[1]) if len(parts) > 1 else None
    if len(parts) > 2:
        form.behaviours = {
            _BEHAVIOUR_WORDS[text] for text in parts[2].split(", ") if text in _BEHAVIOUR_WORDS
        }
    form.mood, form.anxiety = entry.mood, entry.anxiety
    notes = []
    for line in entry.detail:
        if line.startswith("Late: "):
            form.late_reason = _REASON_WORDS.get(line.removeprefix("Late: "))
        elif line.startswith("Affect: "):
            form.affect = _AFFECT_WORDS.get(line.removeprefix("Affect: "))
        elif line.startswith(("Mood ", "Anxiety ")) and line.endswith("/10"):
            continue  # read from the entry's own mood and anxiety
        elif line.startswith("Entered "):
            continue
        else:
            notes.append(line)
    form.note = "\n".join(notes)
    return form


def header_lines(patient: PatientRead, zone: ZoneInfo) -> tuple[str, str]:
    """The header's name line and its "Room 104-A · q15 · admitted Nov 12" line."""
    admitted = patient.admitted_at.astimezone(zone)
    parts = [
        f"Room {patient.room_bed}",
        level_label(patient.level.level if patient.level else None),
    ]
    parts.append(f"admitted {admitted:%b} {admitted.day}")
    if patient.discharged_at is not None:
        left = patient.discharged_at.astimezone(zone)
        parts.append(f"discharged {left:%b} {left.day}")
    return patient.display_name, " · ".join(parts)


def header_chips(patient: PatientRead) -> list[str]:
    """Precautions in the ward's words, then the Part 2 marker when it applies."""
    chips = [f"{PRECAUTIONS[code]} precautions" for code in patient.precautions]
    if patient.substance_use_program:
        chips.append(PART_2)
    return chips


def tag(text: str, colors: Palette, *, strong: bool = False) -> ft.Control:
    """A small non-interactive label (precaution, Part 2, Late, Voided)."""
    return ft.Container(
        padding=ft.Padding.symmetric(horizontal=10, vertical=4),
        border_radius=14,
        bgcolor=colors.overdue_card if strong else colors.chip,
        content=ft.Text(
            text,
            size=14,
            weight=ft.FontWeight.W_600,
            color=colors.overdue if strong else colors.text,
        ),
    )


class TimelineScreen:
    """The timeline screen's controls and state for one open patient."""

    def __init__(self, ctx: ScreenContext, patient_id: int) -> None:
        self.ctx = ctx
        self.patient_id = patient_id
        self.colors = ctx.colors
        self.zone = ZoneInfo(ctx.ward.time_zone)
        self.correcting = may_correct(ctx.staff.role)
        # Opened through break-glass: reading only (set before the first load).
        self.read_only = False
        self.days = RANGES[0]
        self.feed = TimelineFeed()
        self.last_day: date | None = None

        self.header = ft.Column(
            spacing=6,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
            controls=[ft.ProgressRing(width=28, height=28)],
        )
        self.range = ft.SegmentedButton(
            segments=[ft.Segment(value=str(days), label=f"{days} days") for days in RANGES],
            selected=[str(self.days)],
            on_change=guarded(ctx.page, self._range_changed),
            show_selected_icon=False,
        )
        self.charts = ft.Container(content=ft.ProgressRing(width=28, height=28))
        self.filters = ft.Row(wrap=True, spacing=8, run_spacing=8)
        self.footer = ft.Container(padding=ft.Padding.only(top=8, bottom=24))
        self.list = ft.ListView(
            expand=True,
            spacing=6,
            padding=ft.Padding.symmetric(horizontal=12, vertical=12),
            scroll_interval=250,
            on_scroll=guarded(ctx.page, self._scrolled),
            controls=[],
        )
        self._fixed = [
            self.header,
            ft.Container(height=4),
            ft.Row(
                wrap=True,
                spacing=12,
                run_spacing=8,
                vertical_alignment=ft.CrossAxisAlignment.CENTER,
                controls=[
                    ft.Text("Trends", size=20, weight=ft.FontWeight.W_600, color=self.colors.text),
                    self.range,
                ],
            ),
            self.charts,
            ft.Container(height=6),
            ft.Text("Record", size=20, weight=ft.FontWeight.W_600, color=self.colors.text),
            self.filters,
        ]
        self.list.controls = [*self._fixed, self.footer]
        self._draw_filters()
        self.root = self.list

    def add_banner(self, banner: ft.Control) -> None:
        """A notice above the header that stays through filter changes (break-glass expiry)."""
        self._fixed.insert(0, banner)
        self.list.controls.insert(0, banner)
        self.list.update()

    # Loading

    async def load(self) -> None:
        """Header, charts and the first page, side by side."""
        await asyncio.gather(self._load_header(), self._load_charts(), self._load_page())

    async def _load_header(self) -> None:
        patient = await self.ctx.attempt(
            patient_header, self.ctx.db, self.ctx.actor, self.patient_id
        )
        if patient is None:
            self.header.controls = [
                ft.Text("This patient's record cannot be shown.", size=18, color=self.colors.text)
            ]
        else:
            self.header.controls = [self._header(patient)]
        self.header.update()

    async def _load_charts(self) -> None:
        today = self.ctx.now().astimezone(self.zone).date()
        start, end = range_dates(today, self.days)
        days = self.days
        trends = await self.ctx.attempt(
            trends_for, self.ctx.db, self.ctx.actor, self.patient_id, start=start, end=end
        )
        if days != self.days:
            return  # the range changed while this one loaded
        if trends is None:
            self.charts.content = ft.Text("Trends are not available.", color=self.colors.muted)
        else:
            self.charts.content = trend_charts(chart_series(trends), self.colors)
        self.charts.update()

    async def _load_page(self) -> None:
        if not self.feed.wants_more():
            return
        generation = self.feed.begin()
        self._draw_footer()
        self.footer.update()
        try:
            page = await self.ctx.call(
                timeline_for, self.ctx.db, self.ctx.actor, self.patient_id, **self.feed.query()
            )
        except Exception:
            self.feed.failed(generation)
            self._draw_footer(failed=True)
            self.list.update()
            raise
        fresh = self.feed.take(page, generation)
        if generation != self.feed.generation:
            return
        self._append(fresh)
        self._draw_footer()
        self.list.update()

    async def reload(self) -> None:
        """After a correction: the list from the top, and the charts (corrections change them)."""
        self.feed.restart()
        self._clear_entries()
        await asyncio.gather(self._load_page(), self._load_charts())

    # Events

    async def _scrolled(self, event: ft.OnScrollEvent) -> None:
        if event.pixels >= event.max_scroll_extent - PREFETCH_PX and self.feed.wants_more():
            await self._load_page()

    async def _range_changed(self, event: ft.Event[ft.SegmentedButton]) -> None:
        self.days = int(self.range.selected[0])
        self.charts.content = ft.ProgressRing(width=28, height=28)
        self.charts.update()
        await self._load_charts()

    async def _filter(self, kind: RecordKind | None) -> None:
        if kind is None:
            self.feed.show_all()
        else:
            self.feed.toggle(kind)
        self._draw_filters()
        self._clear_entries()
        # At once, so no entry of the old filter stays on screen (or tappable) while loading.
        self.list.update()
        await self._load_page()

    # Drawing

    def _header(self, patient: PatientRead) -> ft.Control:
        name, line = header_lines(patient, self.zone)
        chips = header_chips(patient)
        actions = []
        if patient.discharged_at is None and not self.read_only:
            actions = [
                ft.FilledButton(
                    "Check-in",
                    icon=ft.Icons.VISIBILITY_OUTLINED,
                    height=TARGET,
                    on_click=guarded(
                        self.ctx.page, lambda _: self.ctx.navigate(check_in_route(patient.id))
                    ),
                ),
                ft.OutlinedButton(
                    "Incident",
                    icon=ft.Icons.REPORT_OUTLINED,
                    height=TARGET,
                    on_click=guarded(
                        self.ctx.page, lambda _: self.ctx.navigate(incident_route(patient.id))
                    ),
                ),
            ]
        # Before/after and exports read the record, so they stay after discharge too; a
        # break-glass grant allows reading only, so no export.
        actions += patient_tools(self.ctx, patient.id, export=not self.read_only)
        return ft.Container(
            padding=ft.Padding.all(14),
            border_radius=12,
            bgcolor=self.colors.card,
            content=ft.Column(
                spacing=8,
                controls=[
                    ft.Text(name, size=24, weight=ft.FontWeight.W_700, color=self.colors.text),
                    ft.Text(line, size=16, color=self.colors.muted),
                    ft.Row(
                        wrap=True,
                        spacing=6,
                        run_spacing=6,
                        controls=[tag(text, self.colors, strong=text != PART_2) for text in chips],
                        visible=bool(chips),
                    ),
                    ft.Row(wrap=True, spacing=10, run_spacing=8, controls=actions),
                ],
            ),
        )

    def _draw_filters(self) -> None:
        chosen = self.feed.kinds

        def chip(label: str, selected: bool, kind: RecordKind | None) -> ft.Chip:
            return ft.Chip(
                label=ft.Text(label, size=15),
                selected=selected,
                show_checkmark=False,
                height=TARGET - 8,
                on_select=guarded(self.ctx.page, lambda _: self._filter(kind)),
            )

        self.filters.controls = [
            chip("All", not chosen, None),
            *[chip(label, kind in chosen, kind) for kind, label in KIND_FILTERS],
        ]

    def _clear_entries(self) -> None:
        self.last_day = None
        self.list.controls = [*self._fixed, self.footer]
        self._draw_footer()

    def _append(self, entries: list[TimelineEntry]) -> None:
        today = self.ctx.now().astimezone(self.zone).date()
        added: list[ft.Control] = []
        for entry in entries:
            day = entry.at.astimezone(self.zone).date()
            if day != self.last_day:
                self.last_day = day
                added.append(
                    ft.Container(
                        padding=ft.Padding.only(top=10, bottom=2, left=4),
                        content=ft.Text(
                            day_heading(day, today),
                            size=15,
                            weight=ft.FontWeight.W_600,
                            color=self.colors.muted,
                        ),
                    )
                )
            added.append(self._entry(entry))
        self.list.controls[-1:-1] = added

    def _entry(self, entry: TimelineEntry) -> ft.Control:
        row = entry_row(entry, self.zone, correcting=self.correcting)
        colors = self.colors
        struck = ft.TextStyle(decoration=ft.TextDecoration.LINE_THROUGH) if row.struck else None
        text_colour = colors.muted if row.struck else colors.text
        body: list[ft.Control] = [
            ft.Text(
                row.title,
                size=16,
                weight=ft.FontWeight.W_600,
                color=text_colour,
                style=struck,
            ),
            *[ft.Text(line, size=15, color=text_colour, style=struck) for line in row.lines],
        ]
        # The author first: "by Demo Tech" after a "Voided" tag would read as who voided it.
        meta: list[ft.Control] = (
            [ft.Text(f"by {row.by}", size=14, color=colors.muted)] if row.by else []
        )
        meta += [tag(flag, colors, strong=flag in ("Missed", "Late")) for flag in row.flags]
        body.append(ft.Row(meta, wrap=True, spacing=6, run_spacing=4))
        if row.correction:
            body.append(ft.Text(row.correction, size=14, italic=True, color=colors.muted))
        menu: list[ft.Control] = []
        if row.can_void:
            items = []
            if row.can_amend:
                items.append(
                    ft.PopupMenuItem(
                        content="Amend",
                        icon=ft.Icons.EDIT_OUTLINED,
                        on_click=guarded(self.ctx.page, lambda _: self._open_amend(entry)),
                    )
                )
            items.append(
                ft.PopupMenuItem(
                    content="Void",
                    icon=ft.Icons.BLOCK,
                    on_click=guarded(self.ctx.page, lambda _: self._open_void(entry)),
                )
            )
            menu.append(
                ft.Semantics(
                    label="Amend or void",
                    button=True,
                    container=True,
                    content=ft.PopupMenuButton(
                        items=items,
                        icon=ft.Icons.MORE_VERT,
                        tooltip="Amend or void",
                        icon_color=colors.muted,
                        size_constraints=ft.BoxConstraints(min_width=TARGET, min_height=TARGET),
                    ),
                )
            )
        return ft.Container(
            padding=ft.Padding.only(left=12, right=4, top=10, bottom=10),
            border_radius=10,
            bgcolor=colors.card,
            opacity=0.75 if row.struck else 1.0,
            content=ft.Row(
                vertical_alignment=ft.CrossAxisAlignment.START,
                spacing=10,
                controls=[
                    ft.Column(
                        spacing=2,
                        width=48,
                        horizontal_alignment=ft.CrossAxisAlignment.START,
                        controls=[
                            ft.Text(
                                row.time, size=16, weight=ft.FontWeight.W_600, color=text_colour
                            ),
                            ft.Icon(KIND_ICONS[row.kind], size=20, color=colors.muted),
                        ],
                    ),
                    ft.Column(body, spacing=3, expand=True),
                    *menu,
                ],
            ),
        )

    def _draw_footer(self, *, failed: bool = False) -> None:
        colors = self.colors
        if failed:
            content: ft.Control = ft.OutlinedButton(
                "Could not load. Try again",
                height=TARGET,
                on_click=guarded(self.ctx.page, lambda _: self._load_page()),
            )
        elif self.feed.loading:
            content = ft.Row(
                [ft.ProgressRing(width=24, height=24), ft.Text("Loading…", color=colors.muted)],
                spacing=10,
            )
        elif self.feed.exhausted:
            content = ft.Text(
                "Nothing older." if self.feed.entries else "Nothing recorded of this kind.",
                size=15,
                color=colors.muted,
            )
        else:
            # Scrolling near the end loads the next page; the button is for anyone who taps.
            content = ft.OutlinedButton(
                "Load more",
                height=TARGET,
                on_click=guarded(self.ctx.page, lambda _: self._load_page()),
            )
        self.footer.content = ft.Row([content], alignment=ft.MainAxisAlignment.CENTER)

    # Corrections

    def _reason_field(self) -> ft.TextField:
        return ft.TextField(
            label="Reason (required)",
            multiline=True,
            min_lines=1,
            max_lines=3,
            max_length=1000,
            text_size=16,
        )

    def _open_void(self, entry: TimelineEntry) -> None:
        reason = self._reason_field()
        dialog: ft.AlertDialog

        async def confirm(_: ft.Event) -> None:
            text = (reason.value or "").strip()
            if not text:
                reason.error = "Say why this entry is voided."
                reason.update()
                return
            done = await self.ctx.attempt(
                void_record, self.ctx.db, self.ctx.actor, entry.kind, entry.id, text
            )
            if done is None:
                return
            self.ctx.page.pop_dialog()
            self.ctx.tell("Voided. The entry stays on the record, struck through.")
            await self._saved()

        dialog = ft.AlertDialog(
            modal=True,
            title=ft.Text("Void this entry?"),
            content=ft.Column(
                tight=True,
                spacing=12,
                width=480,
                controls=[
                    ft.Text(entry.title, size=16, weight=ft.FontWeight.W_600),
                    ft.Text(
                        "It stays on the record, struck through, with your reason. "
                        "It no longer counts in trends or handoff.",
                        size=15,
                    ),
                    reason,
                ],
            ),
            actions=[
                ft.TextButton(
                    "Cancel", height=TARGET, on_click=lambda _: self.ctx.page.pop_dialog()
                ),
                ft.FilledButton("Void", height=TARGET, on_click=guarded(self.ctx.page, confirm)),
            ],
        )
        self.ctx.page.show_dialog(dialog)

    def _open_amend(self, entry: TimelineEntry) -> None:
        form = check_in_for_amendment(entry)
        form.patient_id = self.patient_id
        form.client_key = uuid.uuid4().hex  # one key per opened amendment
        reason = self._reason_field()
        problems = ft.Text("", color=self.colors.overdue, size=15, visible=False)

        def dropdown(label: str, names: dict, value, on_pick, *, none: str | None = None):
            options = [ft.DropdownOption(key="", text=none)] if none else []
            options += [ft.DropdownOption(key=str(code), text=text) for code, text in names.items()]
            return ft.Dropdown(
                label=label,
                value=str(value) if value is not None else ("" if none else None),
                options=options,
                expand=True,
                text_size=16,
                on_select=guarded(self.ctx.page, lambda event: on_pick(event.control.value)),
            )

        def score(label: str, value, name: str):
            return dropdown(
                label,
                {str(n): str(n) for n in range(11)},
                value,
                lambda picked: form.set(name, int(picked) if picked else None),
                none="Not asked",
            )

        behaviours = ft.Row(wrap=True, spacing=6, run_spacing=6)

        def draw_behaviours() -> None:
            behaviours.controls = [
                ft.Chip(
                    label=ft.Text(text),
                    selected=code in form.behaviours,
                    on_select=guarded(self.ctx.page, lambda _, code=code: toggle(code)),
                )
                for code, text in BEHAVIOURS.items()
            ]

        def toggle(code: Behaviour) -> None:
            form.toggle_behaviour(code)
            draw_behaviours()
            behaviours.update()

        draw_behaviours()

        async def save(_: ft.Event) -> None:
            missing = form.missing()
            text = (reason.value or "").strip()
            if not text:
                missing.append("Say why this check is amended.")
            if missing:
                problems.value = " ".join(missing)
                problems.visible = True
                problems.update()
                return
            done = await self.ctx.attempt(
                amend_record,
                self.ctx.db,
                self.ctx.actor,
                RecordKind.check_in,
                entry.id,
                form.as_request(),
                text,
            )
            if done is None:
                return
            self.ctx.page.pop_dialog()
            self.ctx.tell("Amended. The original stays on the record.")
            await self._saved()

        observed = entry.at.astimezone(self.zone)
        dialog = ft.AlertDialog(
            modal=True,
            scrollable=True,
            title=ft.Text(f"Amend the {observed:%H:%M} check"),
            content=ft.Column(
                tight=True,
                spacing=12,
                width=520,
                controls=[
                    dropdown(
                        "Where",
                        LOCATIONS,
                        form.location,
                        lambda picked: form.set("location", Location(picked)),
                    ),
                    dropdown(
                        "Doing",
                        STATUSES,
                        form.status,
                        lambda picked: form.set("status", Status(picked)),
                    ),
                    ft.Text("Behaviour", size=15),
                    behaviours,
                    dropdown(
                        "Affect",
                        AFFECTS,
                        form.affect,
                        lambda picked: form.set("affect", Affect(picked) if picked else None),
                        none="Not noted",
                    ),
                    ft.Row(
                        [
                            score("Mood 0-10", form.mood, "mood"),
                            score("Anxiety 0-10", form.anxiety, "anxiety"),
                        ],
                        spacing=10,
                    ),
                    ft.TextField(
                        label="Note",
                        value=form.note,
                        multiline=True,
                        max_length=1000,
                        text_size=16,
                        on_change=lambda event: form.set("note", event.control.value or ""),
                    ),
                    reason,
                    problems,
                ],
            ),
            actions=[
                ft.TextButton(
                    "Cancel", height=TARGET, on_click=lambda _: self.ctx.page.pop_dialog()
                ),
                ft.FilledButton(
                    "Save amendment", height=TARGET, on_click=guarded(self.ctx.page, save)
                ),
            ],
        )
        self.ctx.page.show_dialog(dialog)

    async def _saved(self) -> None:
        await self.ctx.saved()
        await self.reload()


def build_timeline(ctx: ScreenContext, patient_id: int) -> ft.Control:
    """The patient timeline screen (route /patients/<patient_id>)."""
    screen = TimelineScreen(ctx, patient_id)

    async def load() -> None:
        # Through break-glass: read-only with its expiry banner; an ended grant shows nothing.
        if await open_through_break_glass(ctx, screen):
            await screen.load()

    ctx.spawn(load)
    return screen.root
