"""The rounds screen: every patient, most urgent first, with a one-tap routine check."""

import functools
import logging
from dataclasses import dataclass
from datetime import timedelta

import flet as ft

from app.services.check_ins import record_routine_check, undo_check_in
from app.services.drafts import DraftRead, close_draft, open_drafts
from app.services.errors import ServiceError
from app.services.rounds import Rounds, RoundsRow
from app.ui.check_in_form import FORM
from app.ui.context import ScreenContext
from app.ui.errors import guarded
from app.ui.labels import (
    LATE_REASONS,
    PRECAUTIONS,
    Urgency,
    clock_time,
    deadline_line,
    due_view,
    last_check_line,
    level_label,
    routine_preview,
)
from app.ui.routes import check_in_route
from app.ui.routine import RoutineCheck, RoutineState
from app.ui.shared_rounds import shared_rounds
from app.ui.theme import BIG_TARGET, TARGET, Palette
from models.codes import LateReason

logger = logging.getLogger(__name__)

NOT_SAVED = "Not saved: the records did not answer. Tap Retry."
ROUTINE_WIDTH = 148
DEADLINE_WARNING = timedelta(hours=1)
# Every control and style object of every open screen lives in the server's memory, once per
# session: cards share these rather than each building its own.
CARD_COLUMNS = {"xs": 12, "md": 6}
CARD_PADDING = ft.Padding.only(left=20, right=12, top=12, bottom=12)
OVERDUE_CARD_PADDING = ft.Padding.only(left=14, right=12, top=12, bottom=12)
CHIP_PADDING = ft.Padding.symmetric(horizontal=10, vertical=4)
CHOICE_PADDING = ft.Padding.symmetric(horizontal=18)


def build_rounds(ctx: ScreenContext) -> ft.Control:
    """The ward's rounds list; loads itself and refreshes when the ward's records change."""
    screen = RoundsScreen(ctx)
    ctx.on_refresh(screen.reload)
    ctx.on_tick(screen.tick)
    ctx.spawn(screen.first_load)
    return screen.root


class RoundsScreen:
    def __init__(self, ctx: ScreenContext) -> None:
        self.ctx = ctx
        self.page = ctx.page
        # Kept by the shell for the whole session, so a refresh or a re-render (night mode,
        # rotation, unlock) never loses a button that is saving or offering Undo.
        self.buttons: dict[int, RoutineCheck] = ctx.extras.setdefault("routine_buttons", {})
        self.rounds: Rounds | None = None
        self.cards: dict[int, ft.Container] = {}
        # What each card shows (see `_looks`): a redraw sends only the cards that changed.
        self.looks: dict[int, tuple] = {}
        self.order: list[int] = []
        # One handler per kind of tap for every card; the control's `data` says which patient.
        self.on_card = guarded(self.page, self._card_tapped)
        self.on_routine = guarded(self.page, self._routine_tapped)
        self.on_undo = guarded(self.page, self._undo_tapped)
        self.on_reason = guarded(self.page, self._reason_tapped)
        self.on_cancel_reason = guarded(self.page, self._cancel_reason_tapped)
        self.summary = ft.Text("Loading rounds…", size=16, color=ctx.colors.muted)
        self.drafts = ft.Column(spacing=8)
        self.grid = ft.ResponsiveRow(spacing=12, run_spacing=12)
        self.root = ft.ListView(
            expand=True,
            padding=ft.Padding.only(left=12, right=12, top=8, bottom=24),
            spacing=12,
            controls=[self.summary, self.drafts, self.grid],
        )

    @property
    def colors(self) -> Palette:
        return self.ctx.colors

    async def first_load(self) -> None:
        try:
            await self.reload()
            await self.show_drafts()
        except Exception:
            logger.exception("could not load the rounds")
            self.summary.value = "Could not load the rounds. They will retry in a few seconds."
            self.summary.update()

    async def reload(self) -> None:
        """Fetch the rounds again (a read other sessions of the ward may share) and redraw."""
        ctx = self.ctx
        self.rounds = await shared_rounds(ctx.db, ctx.actor, ctx.ward.id, ctx.ward_marker())
        self.draw()

    def draw(self) -> None:
        rounds = self.rounds
        if rounds is None:
            return
        self.summary.value = self._summary(rounds)
        rows = self._stable_order(rounds.rows)
        order = [row.patient_id for row in rows]
        # Every open rounds screen of the ward redraws after each save and every 10 s. Flet
        # re-sends a rebuilt card whole: rebuilding all 20 cards took about 100 ms of the event
        # loop that every session shares. Unchanged cards are kept, changed ones refitted.
        cards: dict[int, ft.Container] = {}
        changed: list[ft.Container] = []
        for row in rows:
            looks = self._looks(row)
            card = self.cards.get(row.patient_id)
            if card is None:
                card = self._card(row)
            elif self.looks.get(row.patient_id) != looks:
                _refit(card, self._card(row))
                changed.append(card)
            self.looks[row.patient_id] = looks
            cards[row.patient_id] = card
        same_places = bool(self.cards) and order == self.order
        self.order = order
        self.cards = cards
        if same_places:
            # Only what changed goes to the browser, without walking the rest of the page.
            for card in changed:
                card.update()
            self.summary.update()
            return
        self.grid.controls = list(cards.values())
        if not rounds.rows:
            self.grid.controls = [ft.Text("No patients on this ward.", size=18)]
        self.page.update()

    def _stable_order(self, rows: list[RoundsRow]) -> list[RoundsRow]:
        """The service's order, except while a row is saving or offering Undo: then rows stay
        where they were, so the Undo button does not jump away from the finger."""
        settled = all(
            button.state in (RoutineState.ready, RoutineState.failed)
            for button in self.buttons.values()
        )
        if settled or not self.order:
            return rows
        place = {patient_id: index for index, patient_id in enumerate(self.order)}
        return sorted(rows, key=lambda row: place.get(row.patient_id, len(place)))

    def _summary(self, rounds: Rounds) -> str:
        count = len(rounds.rows)
        parts = [f"{count} patient{'s' if count != 1 else ''}"]
        overdue = rounds.overdue_count
        parts.append(f"{overdue} overdue" if overdue else "none overdue")
        parts.append(f"updated {clock_time(rounds.at, self.ctx.ward.time_zone)}")
        return " · ".join(parts)

    async def tick(self) -> None:
        """Every second: count Undo offers down; when one ends, let the row take its place."""
        ended = False
        for patient_id, button in list(self.buttons.items()):
            if button.expire():
                ended = True
            elif button.state == RoutineState.saved:
                self._redraw(patient_id)
        if ended:
            self.draw()

    def _button(self, patient_id: int) -> RoutineCheck:
        if patient_id not in self.buttons:
            self.buttons[patient_id] = RoutineCheck(patient_id)
        return self.buttons[patient_id]

    def _row(self, patient_id: int) -> RoundsRow | None:
        if self.rounds is None:
            return None
        return next((row for row in self.rounds.rows if row.patient_id == patient_id), None)

    def _redraw(self, patient_id: int) -> None:
        row = self._row(patient_id)
        card = self.cards.get(patient_id)
        if row is None or card is None:
            return
        _refit(card, self._card(row))
        self.looks[patient_id] = self._looks(row)
        card.update()

    def _looks(self, row: RoundsRow) -> tuple:
        """Everything `_card` draws for the row at this moment: equal means the same card."""
        now = self.ctx.now()
        button = self._button(row.patient_id)
        return (
            row,
            due_view(row.due_at, row.late_at, now),
            last_check_line(row.last_check, now),
            tuple(
                (deadline_line(deadline, now), deadline.due_at - now <= DEADLINE_WARNING)
                for deadline in row.deadlines
            ),
            button.state,
            button.message,
            int(button.seconds_left_to_undo() + 0.99),
            self.rounds.night if self.rounds else False,
        )

    async def routine(self, patient_id: int) -> None:
        button = self._button(patient_id)
        intent = button.tap(self.ctx.now())
        if intent is None:
            return  # a double tap, or the button is busy / showing Saved
        self._redraw(patient_id)
        await self._save(button, intent)

    async def choose_reason(self, patient_id: int, reason) -> None:
        button = self._button(patient_id)
        intent = button.choose_reason(reason)
        if intent is None:
            return
        self._redraw(patient_id)
        await self._save(button, intent)

    async def cancel_reason(self, patient_id: int) -> None:
        self._button(patient_id).cancel_reason()
        self._redraw(patient_id)

    async def _save(self, button: RoutineCheck, intent) -> None:
        try:
            saved = await self.ctx.call(
                record_routine_check, self.ctx.db, self.ctx.actor, intent.as_request()
            )
        except ServiceError as refusal:
            button.refused(refusal)
        except Exception:
            logger.exception("routine check not saved")
            button.failed(NOT_SAVED)
        else:
            button.saved(saved)
            self._redraw(intent.patient_id)
            await self.ctx.saved()
            return
        self._redraw(intent.patient_id)

    async def undo(self, patient_id: int) -> None:
        button = self._button(patient_id)
        check_id = button.undo()
        if check_id is None:
            return
        self._redraw(patient_id)
        try:
            await self.ctx.call(undo_check_in, self.ctx.db, self.ctx.actor, check_id)
        except ServiceError as refusal:
            button.undo_refused(refusal.message)
        except Exception:
            logger.exception("undo failed")
            button.undo_refused("Could not undo. Ask a nurse to void the check.")
        else:
            button.undone()
            await self.ctx.saved()
        self._redraw(patient_id)

    async def open_check_in(self, patient_id: int) -> None:
        await self.ctx.navigate(check_in_route(patient_id))

    async def _card_tapped(self, event: ft.Event) -> None:
        await self.open_check_in(event.control.data)

    async def _routine_tapped(self, event: ft.Event) -> None:
        await self.routine(event.control.data)

    async def _undo_tapped(self, event: ft.Event) -> None:
        await self.undo(event.control.data)

    async def _reason_tapped(self, event: ft.Event) -> None:
        patient_id, reason = event.control.data
        await self.choose_reason(patient_id, reason)

    async def _cancel_reason_tapped(self, event: ft.Event) -> None:
        await self.cancel_reason(event.control.data)

    def _card(self, row: RoundsRow) -> ft.Container:
        colors = self.colors
        look = _look(colors)
        now = self.ctx.now()
        due = due_view(row.due_at, row.late_at, now)
        overdue = due.urgency == Urgency.overdue
        name = row.display_name
        room = f"Room {row.room}{'-' + row.bed if row.bed else ''}"
        due_colour = {
            Urgency.overdue: colors.overdue,
            Urgency.due: colors.due,
            Urgency.calm: colors.muted,
            Urgency.stopped: colors.muted,
        }[due.urgency]

        chips: list[ft.Control] = [
            _chip(level_label(row.level.level if row.level else None), colors)
        ]
        chips += [_chip(PRECAUTIONS[p], colors, warning=True) for p in row.precautions]

        lines: list[ft.Control] = [
            ft.Row(
                spacing=8,
                vertical_alignment=ft.CrossAxisAlignment.START,
                controls=[
                    ft.Semantics(
                        container=True,
                        button=True,
                        label=f"{name}, {room.lower()}: open check-in",
                        expand=True,
                        # One text in two lines, the room small above the name.
                        content=ft.Text(
                            room,
                            size=14,
                            color=colors.muted,
                            max_lines=3,
                            spans=[ft.TextSpan(f"\n{name}", look.name)],
                        ),
                    ),
                    self._routine_area(row),
                ],
            ),
            # A lone chip needs no row to wrap in.
            chips[0] if len(chips) == 1 else ft.Row(chips, wrap=True, spacing=6, run_spacing=6),
            ft.Row(
                spacing=6,
                controls=[
                    ft.Icon(
                        ft.Icons.WARNING_ROUNDED if overdue else ft.Icons.SCHEDULE,
                        size=20,
                        color=due_colour,
                    ),
                    ft.Text(
                        due.text,
                        size=18 if overdue else 16,
                        weight=ft.FontWeight.W_700 if overdue else ft.FontWeight.W_500,
                        color=due_colour,
                    ),
                ],
            ),
            ft.Text(last_check_line(row.last_check, now), size=15, color=colors.muted),
        ]
        for deadline in row.deadlines:
            text, passed = deadline_line(deadline, now)
            # Only a deadline that is near (or gone) is coloured: three red timers for a day
            # ahead would teach the eye to ignore red.
            soon = deadline.due_at - now <= DEADLINE_WARNING
            colour = colors.overdue if passed else colors.due if soon else colors.muted
            lines.append(
                ft.Row(
                    spacing=6,
                    controls=[
                        ft.Icon(ft.Icons.TIMER_OUTLINED, size=20, color=colour),
                        ft.Text(
                            text,
                            size=16,
                            weight=ft.FontWeight.W_700 if passed or soon else ft.FontWeight.W_500,
                            color=colour if passed or soon else colors.text,
                        ),
                    ],
                )
            )
        lines += self._routine_extras(row)
        return ft.Container(
            col=CARD_COLUMNS,
            padding=OVERDUE_CARD_PADDING if overdue else CARD_PADDING,
            border_radius=16,
            bgcolor=colors.overdue_card if overdue else colors.card,
            # Overdue rows carry a thick bar on the left: visible at a glance, even in colour
            # blindness, and in the dim night palette.
            border=look.overdue_bar if overdue else None,
            ink=True,
            data=row.patient_id,
            on_click=self.on_card,
            content=_frozen(ft.Column(spacing=8, controls=lines)),
        )

    def _routine_area(self, row: RoundsRow) -> ft.Control:
        colors = self.colors
        look = _look(colors)
        button = self._button(row.patient_id)
        name = row.display_name
        state = button.state
        if state == RoutineState.saved:
            seconds = int(button.seconds_left_to_undo() + 0.99)
            return ft.Column(
                width=ROUTINE_WIDTH,
                spacing=2,
                horizontal_alignment=ft.CrossAxisAlignment.CENTER,
                controls=[
                    ft.Row(
                        tight=True,
                        spacing=4,
                        controls=[
                            ft.Icon(ft.Icons.CHECK_CIRCLE, color=colors.saved, size=24),
                            ft.Text(
                                "Saved", size=18, weight=ft.FontWeight.W_700, color=colors.saved
                            ),
                        ],
                    ),
                    ft.Semantics(
                        container=True,
                        label=f"Undo check for {name}",
                        button=True,
                        content=ft.TextButton(
                            f"Undo ({seconds})",
                            height=TARGET,
                            data=row.patient_id,
                            on_click=self.on_undo,
                            style=look.undo,
                        ),
                    ),
                ],
            )
        busy = {
            RoutineState.saving: "Saving…",
            RoutineState.undoing: "Undoing…",
            RoutineState.needs_reason: "Why late?",
        }
        if state in busy:
            return ft.Container(
                width=ROUTINE_WIDTH,
                height=BIG_TARGET,
                alignment=ft.Alignment.CENTER,
                content=ft.Row(
                    tight=True,
                    spacing=8,
                    controls=[
                        ft.ProgressRing(width=18, height=18, stroke_width=2, color=colors.accent)
                        if state != RoutineState.needs_reason
                        else ft.Icon(ft.Icons.HELP_OUTLINE, color=colors.due),
                        ft.Text(busy[state], size=16, color=colors.text),
                    ],
                ),
            )
        label = "Retry" if state == RoutineState.failed else "Routine"
        night = self.rounds.night if self.rounds else False
        return ft.Column(
            width=ROUTINE_WIDTH,
            spacing=2,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
            controls=[
                ft.Semantics(
                    container=True,
                    label=f"Routine check for {name}",
                    button=True,
                    content=ft.FilledButton(
                        label,
                        icon=ft.Icons.CHECK if label == "Routine" else ft.Icons.REFRESH,
                        height=BIG_TARGET,
                        data=row.patient_id,
                        on_click=self.on_routine,
                        style=look.routine,
                    ),
                ),
                ft.Text(
                    routine_preview(row.last_check, night),
                    size=12,
                    color=colors.muted,
                    text_align=ft.TextAlign.CENTER,
                    max_lines=2,
                ),
            ],
        )

    def _routine_extras(self, row: RoundsRow) -> list[ft.Control]:
        """Late-reason chips and the last refusal, under the row."""
        colors = self.colors
        button = self._button(row.patient_id)
        extras: list[ft.Control] = []
        if button.state == RoutineState.needs_reason:
            extras.append(
                ft.Text(
                    "This check is late. Why?",
                    size=17,
                    weight=ft.FontWeight.W_600,
                    color=colors.due,
                )
            )
            extras.append(
                ft.Row(
                    wrap=True,
                    spacing=8,
                    run_spacing=8,
                    controls=[
                        _choice(label, colors, (row.patient_id, code), self.on_reason)
                        for code, label in LATE_REASONS.items()
                    ]
                    + [
                        ft.TextButton(
                            "Cancel",
                            height=TARGET,
                            data=row.patient_id,
                            on_click=self.on_cancel_reason,
                        )
                    ],
                )
            )
        elif button.message and button.state in (RoutineState.ready, RoutineState.failed):
            extras.append(ft.Text(button.message, size=15, color=colors.due))
        return extras

    async def show_drafts(self) -> None:
        """Offer the check-ins this user started and did not finish (Wi-Fi drop, restart)."""
        drafts = await self.ctx.call(open_drafts, self.ctx.db, self.ctx.actor)
        forms = self.ctx.extras.get("check_in_forms", {})
        names = {
            row.patient_id: row.display_name for row in (self.rounds.rows if self.rounds else [])
        }
        self.drafts.controls = [
            self._draft_banner(draft, names[draft.patient_id])
            for draft in drafts
            if draft.form == FORM
            and draft.patient_id in names
            # A form still open in this session is continued from the sheet itself.
            and draft.patient_id not in forms
        ]
        self.page.update()

    def _draft_banner(self, draft: DraftRead, name: str) -> ft.Control:
        colors = self.colors
        started = clock_time(draft.updated_at, self.ctx.ward.time_zone)

        async def resume(_):
            self.ctx.extras.setdefault("resume_drafts", {})[draft.patient_id] = draft
            await self.ctx.navigate(check_in_route(draft.patient_id))

        async def discard(_):
            await self.ctx.call(close_draft, self.ctx.db, self.ctx.actor, draft.client_key)
            await self.show_drafts()

        return ft.Container(
            padding=14,
            border_radius=16,
            bgcolor=colors.chip,
            content=ft.Column(
                spacing=8,
                controls=[
                    ft.Text(
                        f"Continue the check-in you started at {started}?",
                        size=18,
                        weight=ft.FontWeight.W_600,
                        color=colors.text,
                    ),
                    ft.Text(name, size=16, color=colors.muted),
                    ft.Row(
                        spacing=12,
                        controls=[
                            ft.FilledButton(
                                "Continue", height=TARGET, on_click=guarded(self.page, resume)
                            ),
                            ft.TextButton(
                                "Discard", height=TARGET, on_click=guarded(self.page, discard)
                            ),
                        ],
                    ),
                ],
            ),
        )


def _frozen(content: ft.Control) -> ft.Control:
    """Mark a card's inside as Flet's components mark what they render: never changed in place.

    For every control it has sent, Flet 1.0.5 keeps a copy of its lists, dicts and nested
    objects, so that the next update can see what changed in place; about a quarter of a rounds
    screen's memory, in every session. A card's inside is never changed in place (`_refit` puts
    a new one), and a frozen subtree keeps no copies: Flet compares the new one with the old
    by value, and sends only what differs. `_frozen` is private to Flet 1.0.5; the rounds
    screen tests (tests/ui/test_rounds_screen.py) show whether an upgrade still honours it.
    """
    object.__setattr__(content, "_frozen", True)
    return content


def _refit(card: ft.Container, fresh: ft.Container) -> None:
    """Show a freshly built card's look in the card already on the page (kept in place)."""
    card.content = fresh.content
    card.bgcolor = fresh.bgcolor
    card.border = fresh.border
    card.padding = fresh.padding


@dataclass(frozen=True)
class _Look:
    """The style objects that every card of a palette shares, in every session."""

    name: ft.TextStyle
    routine: ft.ButtonStyle
    undo: ft.ButtonStyle
    overdue_bar: ft.Border
    warning_edge: ft.Border
    choice_edge: ft.Border


@functools.cache
def _look(colors: Palette) -> _Look:
    """The shared styles of one palette (day or night): never changed after they are made."""
    return _Look(
        name=ft.TextStyle(size=21, weight=ft.FontWeight.W_600, color=colors.text),
        routine=ft.ButtonStyle(
            bgcolor=colors.button,
            color=colors.on_button,
            text_style=ft.TextStyle(size=18, weight=ft.FontWeight.W_600),
            shape=ft.RoundedRectangleBorder(radius=14),
        ),
        undo=ft.ButtonStyle(color=colors.accent, text_style=ft.TextStyle(size=16)),
        overdue_bar=ft.Border.only(left=ft.BorderSide(6, colors.overdue)),
        warning_edge=ft.Border.all(1, colors.due),
        choice_edge=ft.Border.all(1, colors.muted),
    )


def _chip(text: str, colors: Palette, *, warning: bool = False) -> ft.Control:
    return ft.Container(
        padding=CHIP_PADDING,
        border_radius=8,
        bgcolor=colors.chip,
        border=_look(colors).warning_edge if warning else None,
        content=ft.Text(text, size=14, color=colors.due if warning else colors.text),
    )


def _choice(text: str, colors: Palette, data: tuple[int, LateReason], on_click) -> ft.Control:
    return ft.Container(
        height=TARGET,
        padding=CHOICE_PADDING,
        border_radius=TARGET / 2,
        bgcolor=colors.chip,
        border=_look(colors).choice_edge,
        data=data,
        on_click=on_click,
        # A tight row centres the label vertically without stretching the chip to full width.
        content=ft.Row(
            [ft.Text(text, size=16, color=colors.text)],
            tight=True,
            vertical_alignment=ft.CrossAxisAlignment.CENTER,
        ),
    )
