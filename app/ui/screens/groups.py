"""Groups: start a session, then mark every admitted patient's attendance, participation level
and quality on one screen, and save them all at once.

`GroupForm` holds the marks without Flet (tested on real services); the screen draws it.
"""

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import flet as ft

from app.services.groups import (
    AttendanceRead,
    GroupSessionRead,
    group_session,
    record_attendance_batch,
    start_group_session,
)
from app.ui.context import ScreenContext
from app.ui.errors import guarded
from app.ui.theme import BIG_TARGET, TARGET, Palette
from models.codes import Attendance, GroupType, ParticipationLevel, ParticipationQuality

# Where this browser session keeps the group being marked, so leaving the screen and coming
# back returns to the same group instead of starting another.
OPEN_GROUP = "groups.open_session"

GROUP_TYPES: dict[GroupType, str] = {
    GroupType.community_meeting: "Community meeting",
    GroupType.cbt_dbt_skills: "CBT/DBT skills",
    GroupType.process_group: "Process group",
    GroupType.psychoeducation: "Psychoeducation",
    GroupType.recreation_ot: "Recreation / OT",
    GroupType.twelve_step: "12-step meeting",
    GroupType.exercise: "Exercise",
    GroupType.art_music: "Art / music",
}

# "Cancelled" is a whole group not held; it is not offered per patient on this form.
ATTENDANCE: dict[Attendance, str] = {
    Attendance.attended: "Attended",
    Attendance.late_arrival: "Late",
    Attendance.left_early: "Left early",
    Attendance.refused: "Refused",
    Attendance.did_not_attend: "Did not attend",
    Attendance.excused: "Excused",
}

LEVELS: dict[ParticipationLevel, str] = {
    ParticipationLevel.active: "Active",
    ParticipationLevel.variable: "Variable",
    ParticipationLevel.only_responsive: "Only responsive",
    ParticipationLevel.minimal: "Minimal",
    ParticipationLevel.withdrawn: "Withdrawn",
    ParticipationLevel.none: "None",
}

QUALITIES: dict[ParticipationQuality, str] = {
    ParticipationQuality.expected: "Expected",
    ParticipationQuality.supportive: "Supportive",
    ParticipationQuality.sharing: "Sharing",
    ParticipationQuality.attentive: "Attentive",
    ParticipationQuality.intrusive: "Intrusive",
    ParticipationQuality.monopolizing: "Monopolizing",
    ParticipationQuality.resistant: "Resistant",
}


def group_title(group: GroupSessionRead) -> str:
    """The group's title, or its kind ("Process group") when it has none."""
    return group.title or GROUP_TYPES[group.group_type]


@dataclass
class GroupStart:
    """The "start a group" form: one form key for as long as it is open."""

    group_type: GroupType | None = None
    title: str = ""
    client_key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def missing(self) -> list[str]:
        return [] if self.group_type is not None else ["Choose the kind of group."]

    def as_request(self, ward_id: int, now: datetime) -> dict[str, Any]:
        """What `start_group_session` takes: the group starts now."""
        return {
            "ward_id": ward_id,
            "group_type": self.group_type,
            "title": self.title,
            "started_at": now,
            "client_key": self.client_key,
        }


@dataclass
class PatientMark:
    """One patient's row: how they attended and took part. Saved rows are read-only."""

    patient_id: int
    name: str
    room: str
    attendance: Attendance | None = None
    level: ParticipationLevel | None = None
    quality: ParticipationQuality | None = None
    saved: bool = False
    # One key per row of this opened form: a retried save sends the same keys, so nothing is
    # stored twice.
    client_key: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def present(self) -> bool:
        return self.attendance is not None and self.attendance.was_present


@dataclass
class GroupForm:
    """The whole group's marks, as the one-screen form keeps them."""

    session_id: int
    name: str
    started_at: datetime
    marks: list[PatientMark]

    @classmethod
    def open(cls, group: GroupSessionRead) -> "GroupForm":
        """The form for a group; patients already marked are shown as saved."""
        marks = []
        for row in group.roster:
            room = f"{row.room}-{row.bed}" if row.bed else row.room
            mark = PatientMark(row.patient_id, row.display_name, room)
            if row.attendance is not None:
                mark.attendance = row.attendance.attendance
                mark.level = row.attendance.participation_level
                mark.quality = row.attendance.participation_quality
                mark.saved = True
            marks.append(mark)
        return cls(group.id, group_title(group), group.started_at, marks)

    def row(self, patient_id: int) -> PatientMark:
        return next(mark for mark in self.marks if mark.patient_id == patient_id)

    def mark(self, patient_id: int, attendance: Attendance) -> None:
        """Set how a patient attended; participation is only kept for a patient who was there."""
        row = self._open_row(patient_id)
        row.attendance = attendance
        if not row.present:
            row.level = row.quality = None

    def set_level(self, patient_id: int, level: ParticipationLevel | None) -> None:
        row = self._open_row(patient_id)
        if level is not None and not row.present:
            raise ValueError("participation is rated only for a patient who attended")
        row.level = level

    def set_quality(self, patient_id: int, quality: ParticipationQuality | None) -> None:
        row = self._open_row(patient_id)
        if quality is not None and not row.present:
            raise ValueError("participation is rated only for a patient who attended")
        row.quality = quality

    def mark_the_rest(self, attendance: Attendance) -> int:
        """Give everyone not yet marked the same attendance; how many that was."""
        rest = [mark for mark in self.marks if not mark.saved and mark.attendance is None]
        for row in rest:
            self.mark(row.patient_id, attendance)
        return len(rest)

    def _open_row(self, patient_id: int) -> PatientMark:
        row = self.row(patient_id)
        if row.saved:
            raise ValueError("this patient's attendance is already saved; amend it instead")
        return row

    def to_save(self) -> list[PatientMark]:
        return [mark for mark in self.marks if not mark.saved and mark.attendance is not None]

    def unmarked(self) -> list[str]:
        """Names of patients with nothing chosen (nothing is saved for them)."""
        return [mark.name for mark in self.marks if not mark.saved and mark.attendance is None]

    def entries(self) -> list[dict[str, Any]]:
        """The batch for `record_attendance_batch`: one entry per newly marked patient."""
        return [
            {
                "session_id": self.session_id,
                "patient_id": mark.patient_id,
                "attendance": mark.attendance,
                "participation_level": mark.level,
                "participation_quality": mark.quality,
                "client_key": mark.client_key,
            }
            for mark in self.to_save()
        ]

    def apply_saved(self, saved: list[AttendanceRead]) -> None:
        """Lock the rows the service confirmed."""
        done = {read.patient_id for read in saved}
        for mark in self.marks:
            if mark.patient_id in done:
                mark.saved = True

    def summary(self) -> str:
        """ "8 attended · 2 refused · 3 not marked"."""
        counts = Counter(mark.attendance for mark in self.marks if mark.attendance is not None)
        parts = [
            f"{counts[code]} {label.lower()}" for code, label in ATTENDANCE.items() if counts[code]
        ]
        missing = len(self.unmarked())
        if missing:
            parts.append(f"{missing} not marked")
        return " · ".join(parts) if parts else "Nobody marked yet"


def _chip(page: ft.Page, label: str, selected: bool, on_pick, *, disabled: bool = False) -> ft.Chip:
    return ft.Chip(
        label=ft.Text(label, size=15),
        selected=selected,
        show_checkmark=False,
        disabled=disabled,
        height=TARGET - 8,
        on_select=guarded(page, lambda _: on_pick()),
    )


class GroupsScreen:
    """Start a group, then the one-screen attendance form."""

    def __init__(self, ctx: ScreenContext) -> None:
        self.ctx = ctx
        self.colors: Palette = ctx.colors
        self.zone = ZoneInfo(ctx.ward.time_zone)
        self.start = GroupStart()
        self.form: GroupForm | None = None
        self.saving = False
        self.body = ft.Column(spacing=12, horizontal_alignment=ft.CrossAxisAlignment.STRETCH)
        self.list = ft.ListView(
            expand=True,
            padding=ft.Padding.symmetric(horizontal=12, vertical=12),
            controls=[self.body],
        )
        self.root = self.list

    async def load(self) -> None:
        session_id = self.ctx.extras.get(OPEN_GROUP)
        if session_id is not None:
            group = await self.ctx.attempt(group_session, self.ctx.db, self.ctx.actor, session_id)
            if group is not None:
                self.form = GroupForm.open(group)
        self.draw()
        self.body.update()

    def draw(self) -> None:
        self.body.controls = self._form_controls() if self.form else self._start_controls()

    def _title(self, text: str) -> ft.Text:
        return ft.Text(text, size=22, weight=ft.FontWeight.W_700, color=self.colors.text)

    def _start_controls(self) -> list[ft.Control]:
        page = self.ctx.page
        types = ft.Row(wrap=True, spacing=8, run_spacing=8)
        problem = ft.Text("", color=self.colors.overdue, size=15, visible=False)

        def draw_types() -> None:
            types.controls = [
                _chip(page, label, self.start.group_type == code, lambda code=code: pick(code))
                for code, label in GROUP_TYPES.items()
            ]

        def pick(code: GroupType) -> None:
            self.start.group_type = code
            problem.visible = False
            draw_types()
            self.body.update()

        def title_changed(event: ft.Event[ft.TextField]) -> None:
            self.start.title = event.control.value or ""

        async def start(_: ft.Event) -> None:
            missing = self.start.missing()
            if missing:
                problem.value, problem.visible = " ".join(missing), True
                problem.update()
                return
            group = await self.ctx.attempt(
                start_group_session,
                self.ctx.db,
                self.ctx.actor,
                self.start.as_request(self.ctx.ward.id, self.ctx.now()),
            )
            if group is None:
                return
            self.ctx.extras[OPEN_GROUP] = group.id
            self.form = GroupForm.open(group)
            self.draw()
            self.body.update()

        draw_types()
        return [
            self._title("Start a group"),
            ft.Text("Kind of group", size=16, color=self.colors.muted),
            types,
            ft.TextField(
                label="Title (optional)",
                hint_text="e.g. Coping with cravings",
                value=self.start.title,
                max_length=120,
                text_size=16,
                on_change=title_changed,
            ),
            problem,
            ft.FilledButton(
                "Start group and mark attendance",
                icon=ft.Icons.GROUPS,
                height=BIG_TARGET,
                on_click=guarded(page, start),
            ),
        ]

    def _form_controls(self) -> list[ft.Control]:
        form = self.form
        assert form is not None
        page = self.ctx.page
        started = form.started_at.astimezone(self.zone)
        self.summary = ft.Text("", size=16, color=self.colors.muted)
        self.status = ft.Text("", size=15)
        self.rest = ft.OutlinedButton(
            "Everyone not marked attended",
            icon=ft.Icons.DONE_ALL,
            height=TARGET,
            on_click=guarded(page, self._rest_attended),
        )
        self.save = ft.FilledButton(
            "Save attendance",
            icon=ft.Icons.SAVE_OUTLINED,
            height=BIG_TARGET,
            on_click=guarded(page, self._save_all),
        )
        # One column on a phone, two on a tablet.
        self.rows = {mark.patient_id: ft.Container(col={"xs": 12, "md": 6}) for mark in form.marks}
        for mark in form.marks:
            self._draw_row(mark)
        self._draw_totals()
        return [
            self._title(form.name),
            ft.Text(f"Started {started:%H:%M}", size=16, color=self.colors.muted),
            self.summary,
            ft.Row(
                wrap=True,
                spacing=10,
                run_spacing=8,
                controls=[
                    self.rest,
                    ft.TextButton(
                        "Start another group",
                        height=TARGET,
                        on_click=guarded(page, self._new_group),
                    ),
                ],
            ),
            ft.ResponsiveRow(list(self.rows.values()), spacing=8, run_spacing=8),
            # Its own node, announced when it changes: "All saved." is heard, not just seen.
            ft.Semantics(container=True, live_region=True, content=self.status),
            self.save,
            ft.Container(height=24),
        ]

    def _draw_totals(self) -> None:
        form = self.form
        pending = len(form.to_save())
        self.summary.value = form.summary()
        self.rest.disabled = not form.unmarked()
        self.save.disabled = self.saving or not pending
        self.save.content = (
            "Saving…"
            if self.saving
            else (f"Save attendance ({pending})" if pending else "Save attendance")
        )
        all_saved = not pending and not form.unmarked()
        self.status.value = (
            "All saved."
            if all_saved
            else "Nothing is saved until you tap Save."
            if pending
            else "Mark each patient, then save."
        )
        self.status.color = self.colors.saved if all_saved else self.colors.muted

    def _changed(self, patient_id: int | None = None) -> None:
        """Redraw one patient's row (or every row) and the totals: a tap sends only that."""
        marks = self.form.marks if patient_id is None else [self.form.row(patient_id)]
        for mark in marks:
            self._draw_row(mark)
        self._draw_totals()
        self.body.update()

    async def _rest_attended(self, _: ft.Event) -> None:
        self.form.mark_the_rest(Attendance.attended)
        self._changed()

    async def _save_all(self, _: ft.Event) -> None:
        form = self.form
        if self.saving:
            return  # a second tap while the first save is on its way
        entries = form.entries()
        if not entries:
            return
        self.saving = True
        self._draw_totals()
        self.body.update()
        try:
            saved = await self.ctx.attempt(
                record_attendance_batch, self.ctx.db, self.ctx.actor, form.session_id, entries
            )
        finally:
            self.saving = False
        if saved is not None:
            form.apply_saved(saved)
        self._changed()
        if saved is None:
            return
        await self.ctx.saved()
        left = form.unmarked()
        self.ctx.tell(
            f"Saved {len(saved)} patients." + (f" {len(left)} not marked yet." if left else "")
        )

    async def _new_group(self, _: ft.Event) -> None:
        self.ctx.extras.pop(OPEN_GROUP, None)
        self.form = None
        self.start = GroupStart()
        self.draw()
        self.body.update()

    def _draw_row(self, mark: PatientMark) -> None:
        form = self.form
        page = self.ctx.page
        colors = self.colors
        locked = mark.saved

        def choose(setter, value) -> None:
            setter(mark.patient_id, value)
            self._changed(mark.patient_id)

        def chips(options: dict, chosen, setter, *, toggle: bool) -> ft.Row:
            return ft.Row(
                wrap=True,
                spacing=6,
                run_spacing=6,
                controls=[
                    _chip(
                        page,
                        label,
                        chosen == code,
                        lambda code=code: choose(
                            setter, None if toggle and chosen == code else code
                        ),
                        disabled=locked,
                    )
                    for code, label in options.items()
                ],
            )

        name_line: list[ft.Control] = [
            ft.Text(mark.room, size=16, weight=ft.FontWeight.W_600, color=colors.muted),
            ft.Text(mark.name, size=17, weight=ft.FontWeight.W_600, color=colors.text),
        ]
        if locked:
            name_line.append(
                ft.Row(
                    tight=True,
                    spacing=4,
                    controls=[
                        ft.Icon(ft.Icons.CHECK_CIRCLE, size=18, color=colors.saved),
                        ft.Text("Saved", size=14, color=colors.saved),
                    ],
                )
            )
        parts: list[ft.Control] = [
            ft.Row(name_line, wrap=True, spacing=10),
            chips(ATTENDANCE, mark.attendance, form.mark, toggle=False),
        ]
        if mark.present:
            parts += [
                ft.Text("Participation", size=14, color=colors.muted),
                chips(LEVELS, mark.level, form.set_level, toggle=True),
                ft.Text("Quality", size=14, color=colors.muted),
                chips(QUALITIES, mark.quality, form.set_quality, toggle=True),
            ]
        box = self.rows[mark.patient_id]
        box.padding = ft.Padding.all(12)
        box.border_radius = 10
        box.bgcolor = colors.card
        box.content = ft.Column(parts, spacing=6)


def build_groups(ctx: ScreenContext) -> ft.Control:
    """The groups screen (route /groups)."""
    screen = GroupsScreen(ctx)
    ctx.spawn(screen.load)
    return screen.root
