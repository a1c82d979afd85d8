"""The check-in sheet: one patient's full round check, pre-filled from their last check.

Route /patients/<id>/check-in. Every change is kept as a draft on the server (debounced, off
the event loop), so a Wi-Fi drop or a server restart loses nothing; "Saved" shows only after
the service has committed the check.
"""

import asyncio
import logging
from collections.abc import Callable
from enum import StrEnum

import flet as ft

from app.services.check_ins import record_check_in
from app.services.drafts import DraftRead, close_draft, open_drafts, save_draft
from app.services.errors import InvalidInput, ServiceError
from app.services.rounds import RoundsRow, rounds_for
from app.ui.check_in_form import FORM, CheckInForm
from app.ui.context import ScreenContext
from app.ui.errors import guarded
from app.ui.labels import (
    AFFECTS,
    BEHAVIOURS,
    LATE_REASONS,
    LOCATIONS,
    PRECAUTIONS,
    STATUSES,
    clock_time,
    due_view,
    last_check_line,
    level_label,
)
from app.ui.routes import HOME
from app.ui.routine import asks_for_late_reason
from app.ui.theme import BIG_TARGET, TARGET, Palette

logger = logging.getLogger(__name__)

DRAFT_DELAY = 1.0  # seconds of quiet before the draft is written
NOT_SAVED = "Not saved: the records did not answer. Nothing is lost: tap Save again."


def build_check_in(ctx: ScreenContext, patient_id: int) -> ft.Control:
    """The full check-in sheet for one patient."""
    sheet = CheckInSheet(ctx, patient_id)
    ctx.spawn(sheet.load)
    return sheet.root


def _forms(ctx: ScreenContext) -> dict[int, CheckInForm]:
    """Open forms by patient, kept by the shell for the session (they outlive a lock)."""
    return ctx.extras.setdefault("check_in_forms", {})


class Section(StrEnum):
    seen = "seen"
    late = "late"
    location = "location"
    status = "status"
    behaviours = "behaviours"
    mood = "mood"
    anxiety = "anxiety"
    affect = "affect"


class CheckInSheet:
    def __init__(self, ctx: ScreenContext, patient_id: int) -> None:
        self.ctx = ctx
        self.page = ctx.page
        self.patient_id = patient_id
        self.form: CheckInForm | None = None
        self.row: RoundsRow | None = None
        self.late = False
        self.saving = False
        self.draft_task: asyncio.Task | None = None
        self.sections: dict[Section, ft.Container] = {}
        self.problem = ft.Container(visible=False)
        self.header = ft.Column(spacing=6)
        self.body = ft.ListView(
            expand=True,
            spacing=18,
            padding=ft.Padding.only(left=16, right=16, top=8, bottom=24),
            controls=[ft.Text("Loading…", size=16, color=ctx.colors.muted)],
        )
        self.save_button = ft.FilledButton(
            "Save check",
            icon=ft.Icons.CHECK,
            height=BIG_TARGET,
            expand=True,
            on_click=guarded(self.page, self.save),
            style=ft.ButtonStyle(
                bgcolor=ctx.colors.button,
                color=ctx.colors.on_button,
                text_style=ft.TextStyle(size=19, weight=ft.FontWeight.W_600),
                shape=ft.RoundedRectangleBorder(radius=14),
            ),
        )
        self.bottom = ft.Container(
            visible=False,
            padding=ft.Padding.only(left=16, right=16, top=8, bottom=12),
            bgcolor=ctx.colors.card,
            content=ft.Row(
                spacing=12,
                controls=[
                    ft.TextButton(
                        "Discard",
                        height=BIG_TARGET,
                        on_click=guarded(self.page, self.discard),
                        style=ft.ButtonStyle(
                            color=ctx.colors.muted, text_style=ft.TextStyle(size=17)
                        ),
                    ),
                    self.save_button,
                ],
            ),
        )
        self.root = ft.Column(expand=True, spacing=0, controls=[self.body, self.bottom])

    @property
    def colors(self) -> Palette:
        return self.ctx.colors

    async def load(self) -> None:
        try:
            await self._load()
        except ServiceError as refused:
            self._only(refused.message)
        except Exception:
            logger.exception("could not open the check-in sheet")
            self._only("Could not open this check-in. Go back and try again.")

    def _only(self, text: str) -> None:
        self.body.controls = [ft.Text(text, size=18, color=self.colors.text)]
        self.bottom.visible = False
        self.page.update()

    async def _load(self) -> None:
        rounds = await self.ctx.call(rounds_for, self.ctx.db, self.ctx.actor, self.ctx.ward.id)
        self.row = next((r for r in rounds.rows if r.patient_id == self.patient_id), None)
        if self.row is None:
            self._only("This patient is not on this ward's rounds.")
            return
        forms = _forms(self.ctx)
        resumed = self.ctx.extras.setdefault("resume_drafts", {}).pop(self.patient_id, None)
        if resumed is not None:
            self._start(CheckInForm.from_draft(resumed))
            return
        form = forms.get(self.patient_id)
        if form is not None and (self.ctx.extras.get("same_route") or not form.touched):
            self._start(form)  # a re-render (unlock, rotation, night mode): carry on silently
            return
        if form is not None:
            self._offer(form)
            return
        drafts = await self.ctx.call(open_drafts, self.ctx.db, self.ctx.actor)
        draft = next(
            (d for d in drafts if d.form == FORM and d.patient_id == self.patient_id), None
        )
        if draft is not None:
            self._offer(CheckInForm.from_draft(draft), draft)
            return
        self._start(CheckInForm.open(self.patient_id, self.ctx.now(), self.row.last_check))

    def _offer(self, form: CheckInForm, draft: DraftRead | None = None) -> None:
        """Ask whether to continue an unfinished check-in or start a new one."""
        started = clock_time(
            draft.updated_at if draft else form.observed_at, self.ctx.ward.time_zone
        )

        async def resume(_):
            self._start(form)

        async def start_new(_):
            await self.ctx.call(close_draft, self.ctx.db, self.ctx.actor, form.client_key)
            self._start(CheckInForm.open(self.patient_id, self.ctx.now(), self.row.last_check))

        self.bottom.visible = False
        self.body.controls = [
            self._header(),
            ft.Container(
                padding=16,
                border_radius=16,
                bgcolor=self.colors.chip,
                content=ft.Column(
                    spacing=12,
                    controls=[
                        ft.Text(
                            f"Continue the check-in you started at {started}?",
                            size=20,
                            weight=ft.FontWeight.W_600,
                            color=self.colors.text,
                        ),
                        ft.Row(
                            spacing=12,
                            wrap=True,
                            controls=[
                                ft.FilledButton(
                                    "Continue",
                                    height=BIG_TARGET,
                                    on_click=guarded(self.page, resume),
                                ),
                                ft.OutlinedButton(
                                    "Start a new check-in",
                                    height=BIG_TARGET,
                                    on_click=guarded(self.page, start_new),
                                ),
                            ],
                        ),
                    ],
                ),
            ),
        ]
        self.page.update()

    def _start(self, form: CheckInForm) -> None:
        self.form = form
        _forms(self.ctx)[self.patient_id] = form
        row = self.row
        self.late = bool(row and row.late_at and form.observed_at > row.late_at)
        self.sections = {section: ft.Container() for section in Section}
        for section in Section:
            self._draw(section)
            if section not in (Section.seen, Section.late):
                self.sections[section].visible = not form.missed
        note = ft.TextField(
            label="Note (optional)",
            value=form.note,
            multiline=True,
            min_lines=2,
            max_lines=5,
            max_length=1000,
            text_size=17,
            on_change=guarded(self.page, self._note_changed),
        )
        self.body.controls = [
            self._header(),
            self.problem,
            self.sections[Section.seen],
            self.sections[Section.late],
            self.sections[Section.location],
            self.sections[Section.status],
            self.sections[Section.behaviours],
            self.sections[Section.mood],
            self.sections[Section.anxiety],
            self.sections[Section.affect],
            note,
        ]
        self.bottom.visible = True
        self.page.update()

    def _header(self) -> ft.Control:
        row = self.row
        colors = self.colors
        now = self.ctx.now()
        due = due_view(row.due_at, row.late_at, now)
        chips = [level_label(row.level.level if row.level else None)]
        chips += [PRECAUTIONS[p] for p in row.precautions]
        return ft.Column(
            spacing=4,
            controls=[
                ft.Text(row.display_name, size=24, weight=ft.FontWeight.W_700, color=colors.text),
                ft.Text(
                    f"Room {row.room}{'-' + row.bed if row.bed else ''} · " + " · ".join(chips),
                    size=16,
                    color=colors.muted,
                ),
                ft.Text(
                    f"{due.text} · last: {last_check_line(row.last_check, now)}",
                    size=15,
                    color=colors.overdue if due.urgency == "overdue" else colors.muted,
                ),
            ],
        )

    def _draw(self, section: Section) -> None:
        form = self.form
        container = self.sections[section]
        if section == Section.seen:
            container.content = self._choices(
                "Patient",
                {False: "Seen", True: "Not seen (missed)"},
                lambda missed: form.missed == missed,
                lambda missed: self._set_missed(missed),
            )
        elif section == Section.late:
            container.visible = self.late or form.missed
            container.content = self._choices(
                "Why was the patient not seen?" if form.missed else "Why is this check late?",
                {code: label for code, label in LATE_REASONS.items()},
                lambda code: form.late_reason == code,
                lambda code: self._set("late_reason", code, Section.late),
                warning=form.late_reason is None,
            )
        elif section == Section.location:
            container.content = self._choices(
                "Where",
                LOCATIONS,
                lambda code: form.location == code,
                lambda code: self._set("location", code, section),
            )
        elif section == Section.status:
            container.content = self._choices(
                "Doing",
                STATUSES,
                lambda code: form.status == code,
                lambda code: self._set("status", code, section),
            )
        elif section == Section.behaviours:
            container.content = self._choices(
                "Behaviour (all that apply)",
                BEHAVIOURS,
                lambda code: code in form.behaviours,
                lambda code: self._toggle_behaviour(code),
            )
        elif section in (Section.mood, Section.anxiety):
            name = section.value
            title = "Mood" if section == Section.mood else "Anxiety"
            question = (
                "How are you feeling right now, 0 to 10?"
                if section == Section.mood
                else "How anxious are you right now, 0 to 10?"
            )
            options: dict[int | None, str] = {None: "Not asked"}
            options.update({score: str(score) for score in range(11)})
            container.content = self._choices(
                f"{title} (patient's own answer)",
                options,
                lambda score: getattr(form, name) == score,
                lambda score: self._set(name, score, section),
                hint=question,
                semantic=lambda score: (
                    f"{title} {score}" if score is not None else f"{title} not asked"
                ),
                square=True,
            )
        elif section == Section.affect:
            container.content = self._choices(
                "Affect seen (optional)",
                AFFECTS,
                lambda code: form.affect == code,
                lambda code: self._set("affect", None if form.affect == code else code, section),
                semantic=lambda code: f"Affect {AFFECTS[code]}",
            )

    def _choices(
        self,
        title: str,
        options: dict,
        is_selected: Callable[[object], bool],
        choose: Callable[[object], object],
        *,
        hint: str = "",
        warning: bool = False,
        semantic: Callable[[object], str] | None = None,
        square: bool = False,
    ) -> ft.Control:
        colors = self.colors
        heading = [
            ft.Text(
                title,
                size=17,
                weight=ft.FontWeight.W_700,
                color=colors.overdue if warning else colors.text,
            )
        ]
        if hint:
            heading.append(ft.Text(hint, size=14, color=colors.muted))
        tiles = [
            _tile(
                label,
                is_selected(code),
                colors,
                guarded(self.page, lambda _, code=code: choose(code)),
                semantic(code) if semantic else label,
                square=square and code is not None,
            )
            for code, label in options.items()
        ]
        return ft.Column(
            spacing=8,
            controls=[*heading, ft.Row(tiles, wrap=True, spacing=8, run_spacing=8)],
        )

    def _set(self, name: str, value, section: Section) -> None:
        self.form.set(name, value)
        self._changed(section)

    def _set_missed(self, missed: bool) -> None:
        self.form.set("missed", missed)
        # A missed check records no observations: hide them (they stay in the form).
        for section in (
            Section.location,
            Section.status,
            Section.behaviours,
            Section.mood,
            Section.anxiety,
            Section.affect,
        ):
            self.sections[section].visible = not missed
        self._draw(Section.late)
        self._changed(Section.seen)
        self.page.update()

    def _toggle_behaviour(self, code) -> None:
        self.form.toggle_behaviour(code)
        self._changed(Section.behaviours)

    def _note_changed(self, event: ft.Event[ft.TextField]) -> None:
        # The note box is never redrawn while typing: that would move the cursor.
        self.form.set("note", event.control.value or "")
        self._keep_draft()

    def _changed(self, section: Section) -> None:
        self._draw(section)
        self.sections[section].update()
        self._keep_draft()

    def _keep_draft(self) -> None:
        if self.draft_task is not None:
            self.draft_task.cancel()
        # Not tied to the screen: leaving the sheet right after a change still keeps the draft.
        self.draft_task = asyncio.get_running_loop().create_task(self._write_draft())

    async def _write_draft(self) -> None:
        await asyncio.sleep(DRAFT_DELAY)
        form = self.form
        try:
            await self.ctx.call(
                save_draft,
                self.ctx.db,
                self.ctx.actor,
                client_key=form.client_key,
                form=FORM,
                patient_id=form.patient_id,
                fields=form.to_draft(),
            )
        except Exception:
            # A lost draft is not a lost check: the form is still on screen and in memory.
            logger.warning("draft not kept", exc_info=True)

    def _say(self, text: str) -> None:
        colors = self.colors
        self.problem.visible = bool(text)
        self.problem.content = ft.Container(
            padding=14,
            border_radius=12,
            bgcolor=colors.overdue_card,
            border=ft.Border.all(2, colors.overdue),
            content=ft.Row(
                spacing=10,
                controls=[
                    ft.Icon(ft.Icons.ERROR_OUTLINE, color=colors.overdue),
                    ft.Text(text, size=17, color=colors.text, expand=True),
                ],
            ),
        )

    async def save(self, _=None) -> None:
        form = self.form
        if form is None or self.saving:
            return  # a double tap on Save
        missing = form.missing()
        if self.late and form.late_reason is None and not form.missed:
            missing.insert(0, "Choose why this check is late.")
        if missing:
            self._say(" ".join(missing))
            self.page.update()
            await self.body.scroll_to(offset=0, duration=200)
            return
        self.saving = True
        self.save_button.disabled = True
        self.save_button.content = "Saving…"
        self._say("")
        self.page.update()
        try:
            saved = await self.ctx.call(
                record_check_in, self.ctx.db, self.ctx.actor, form.as_request()
            )
        except ServiceError as refusal:
            if asks_for_late_reason(refusal):
                self.late = True
                self._draw(Section.late)
                self._say("This check is late: choose why, then save again.")
            elif isinstance(refusal, InvalidInput):
                self._say(" ".join(refusal.problems))
            else:
                self._say(refusal.message)
        except Exception:
            logger.exception("check-in not saved")
            self._say(NOT_SAVED)
        else:
            await self._finish(form)
            seen = clock_time(saved.observed_at, self.ctx.ward.time_zone)
            self.ctx.tell(f"Saved: {self.row.display_name}, seen {seen}")
            await self.ctx.saved()
            await self.ctx.navigate(HOME)
            return
        finally:
            self.saving = False
            self.save_button.disabled = False
            self.save_button.content = "Save check"
        self.page.update()
        await self.body.scroll_to(offset=0, duration=200)

    async def _finish(self, form: CheckInForm) -> None:
        """The form is done (saved or discarded): no draft, no open form."""
        if self.draft_task is not None:
            self.draft_task.cancel()
        _forms(self.ctx).pop(self.patient_id, None)
        await self.ctx.call(close_draft, self.ctx.db, self.ctx.actor, form.client_key)

    async def discard(self, _=None) -> None:
        if self.form is not None:
            await self._finish(self.form)
        self.ctx.tell("Check-in discarded.")
        await self.ctx.navigate(HOME)


def _tile(
    text: str,
    selected: bool,
    colors: Palette,
    on_click,
    semantic: str,
    *,
    square: bool = False,
) -> ft.Control:
    """A large choice: 48 px tall, clearly filled when chosen."""
    label = ft.Text(
        text,
        size=17,
        weight=ft.FontWeight.W_600 if selected else ft.FontWeight.W_400,
        color=colors.on_button if selected else colors.text,
    )
    content: ft.Control = label
    if selected and not square:
        content = ft.Row(
            tight=True,
            spacing=6,
            controls=[ft.Icon(ft.Icons.CHECK, size=18, color=colors.on_button), label],
        )
    return ft.Semantics(
        container=True,
        label=semantic,
        button=True,
        selected=selected,
        content=ft.Container(
            height=TARGET,
            width=TARGET + 4 if square else None,
            padding=ft.Padding.symmetric(horizontal=0 if square else 16),
            border_radius=12 if square else TARGET / 2,
            bgcolor=colors.button if selected else colors.chip,
            border=ft.Border.all(1, colors.accent if selected else colors.muted),
            alignment=ft.Alignment.CENTER if square else None,
            on_click=on_click,
            # A tight row centres the label without stretching the tile to the full width.
            content=content
            if square
            else ft.Row([content], tight=True, vertical_alignment=ft.CrossAxisAlignment.CENTER),
        ),
    )
