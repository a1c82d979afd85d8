"""The ward over a range of days, for the charge nurse as unit manager: were checks made on
time shift by shift (and why not), incidents per week, restraint and seclusion episodes and
hours. Big numbers first, the detail below.

The pure half turns the `Compliance` read model into figures and lines (tested without Flet).
"""

import math
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import flet as ft

from app.services.compliance import (
    MAX_DAYS,
    CheckCompliance,
    Compliance,
    EpisodeBrief,
    ward_compliance,
)
from app.services.errors import ServiceError
from app.services.timeline import words
from app.ui.context import ScreenContext
from app.ui.date_range import DayRange, Preset, RangeChooser, last_days
from app.ui.errors import guarded
from app.ui.theme import BIG_TARGET, TARGET, Palette

DEFAULT_RANGE = "7 days"
# How far back the calendar goes: audits look back a year or two, not further.
LOOK_BACK = timedelta(days=2 * 366)
NO_VALUE = "—"


def percent(rate: float | None) -> str:
    """ "93%", "99.6%", or "—" when nothing was recorded. Cut, not rounded, to a tenth: a ward
    with 30 missed checks in 13,000 must not read "100%"."""
    if rate is None:
        return NO_VALUE
    tenths = math.floor(rate * 1000 + 1e-9)
    return f"{tenths // 10}%" if tenths % 10 == 0 else f"{tenths / 10:.1f}%"


def hours_text(hours: float) -> str:
    """ "0 h", "1.5 h", "12 h"."""
    return f"{hours:.1f} h".replace(".0 h", " h")


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    alert: bool  # worth the manager's eye


HEADLINES = (
    "Checks on time",
    "Late checks",
    "Missed checks",
    "Incidents",
    "Restraint / seclusion episodes",
    "Hours in restraint / seclusion",
)


def headline_figures(compliance: Compliance) -> list[Figure]:
    """The range's big numbers, labelled as HEADLINES: checks on time, late, missed, incidents,
    restraint and seclusion."""
    checks = compliance.checks
    incidents = sum(week.incidents for week in compliance.weeks)
    episodes = sum(row.episodes for row in compliance.restraints)
    hours = sum(row.hours for row in compliance.restraints)
    values = [
        (percent(checks.on_time_rate), False),
        (str(checks.late), checks.late > 0),
        (str(checks.missed), checks.missed > 0),
        (str(incidents), incidents > 0),
        (str(episodes), episodes > 0),
        (hours_text(hours), hours > 0),
    ]
    return [
        Figure(label, value, alert) for label, (value, alert) in zip(HEADLINES, values, strict=True)
    ]


def reasons_text(checks: CheckCompliance) -> str:
    """ "Late or missed because: pulled to an emergency 4, other 2"."""
    if not checks.reasons:
        return ""
    listed = ", ".join(f"{reason} {count}" for reason, count in checks.reasons.items())
    return f"Late or missed because: {listed}"


def counts_text(checks: CheckCompliance) -> str:
    """ "412 on time · 12 late · 3 missed"."""
    return f"{checks.on_time} on time · {checks.late} late · {checks.missed} missed"


@dataclass(frozen=True)
class ShiftRow:
    name: str
    shifts: str
    on_time: str
    counts: str
    reasons: str
    missed: bool


def shift_rows(compliance: Compliance) -> list[ShiftRow]:
    """Day, evening and night shifts over the range, each added up."""
    return [
        ShiftRow(
            name=f"{row.name.capitalize()} shifts",
            shifts=f"{row.shifts} shift{'' if row.shifts == 1 else 's'}",
            on_time=percent(row.checks.on_time_rate),
            counts=counts_text(row.checks),
            reasons=reasons_text(row.checks),
            missed=row.checks.missed > 0,
        )
        for row in compliance.by_shift
    ]


def shift_lines(compliance: Compliance, zone: ZoneInfo) -> list[str]:
    """Every shift, newest first: "Fri 20 Nov · Day 07:00-15:00 (now) · 40 on time · ..."."""
    lines = []
    for shift in reversed(compliance.shifts):
        start, end = shift.start.astimezone(zone), shift.end.astimezone(zone)
        now = " (now)" if shift.in_progress else ""
        text = (
            f"{_day(shift.day)} · {shift.name.capitalize()} {start:%H:%M}-{end:%H:%M}{now} · "
            f"{percent(shift.checks.on_time_rate)} on time · {counts_text(shift.checks)}"
        )
        reasons = reasons_text(shift.checks)
        lines.append(f"{text}. {reasons}" if reasons else text)
    return lines


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


@dataclass(frozen=True)
class WeekRow:
    title: str
    incidents: int
    detail: str


def week_rows(compliance: Compliance) -> list[WeekRow]:
    """Incidents per Monday-to-Sunday week, weeks cut by the range saying so."""
    rows = []
    for week in compliance.weeks:
        title = f"Week of {_day(week.week_of)}"
        if (week.last_day - week.first_day).days < 6:
            title += f" ({_day(week.first_day)} to {_day(week.last_day)} only)"
        kinds = ", ".join(f"{kind} {count}" for kind, count in week.by_type.items())
        detail = f"MOAS total {week.moas_total}" + (f" · {kinds}" if kinds else "")
        rows.append(WeekRow(title, week.incidents, detail if week.incidents else "No incidents"))
    return rows


def restraint_lines(compliance: Compliance) -> list[tuple[str, int, str]]:
    """Per kind: ("Seclusion", episodes, "3.5 h")."""
    return [
        (words(row.kind).capitalize(), row.episodes, hours_text(row.hours))
        for row in compliance.restraints
    ]


def episode_line(episode: EpisodeBrief, zone: ZoneInfo) -> str:
    """ "Room 104 · Avery Demoson · seclusion Tue 17 Nov 14:05, 1.5 h · face-to-face on time"."""
    start = episode.started_at.astimezone(zone)
    ended = "" if episode.ended_at is not None else " (ongoing)"
    if episode.face_to_face_on_time is None:
        face = "face-to-face not yet due"
    elif episode.face_to_face_on_time:
        face = "face-to-face on time"
    else:
        face = "face-to-face late or missing"
    return (
        f"Room {episode.room} · {episode.patient_name} · {words(episode.kind)} "
        f"{_day(start.date())} {start:%H:%M}, {hours_text(episode.hours)}{ended} · {face}"
    )


def range_presets(today: date) -> list[Preset]:
    return [
        Preset(f"{days} days", lambda days=days: last_days(today, days)) for days in (7, 14, 30, 90)
    ]


class ComplianceScreen:
    def __init__(self, ctx: ScreenContext) -> None:
        self.ctx = ctx
        self.colors: Palette = ctx.colors
        self.zone = ZoneInfo(ctx.ward.time_zone)
        today = ctx.now().astimezone(self.zone).date()
        self.chooser = RangeChooser(
            ctx.page,
            self.colors,
            self.zone,
            range_presets(today),
            chosen=DEFAULT_RANGE,
            first_day=today - LOOK_BACK,
            last_day=today,
            limit=MAX_DAYS,
            on_change=self._range_changed,
        )
        self.asked: DayRange = self.chooser.range
        self.body = ft.Column(
            spacing=12,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
            controls=[ft.ProgressRing(width=28, height=28)],
        )
        colors = self.colors
        self.root = ft.ListView(
            expand=True,
            spacing=10,
            padding=ft.Padding.symmetric(horizontal=12, vertical=12),
            controls=[
                ft.Row(
                    wrap=True,
                    alignment=ft.MainAxisAlignment.SPACE_BETWEEN,
                    vertical_alignment=ft.CrossAxisAlignment.CENTER,
                    controls=[
                        ft.Text(
                            "Ward compliance",
                            size=24,
                            weight=ft.FontWeight.W_700,
                            color=colors.text,
                        ),
                        ft.Semantics(
                            label="Refresh compliance",
                            button=True,
                            container=True,
                            content=ft.IconButton(
                                ft.Icons.REFRESH,
                                tooltip="Refresh",
                                icon_color=colors.muted,
                                width=TARGET,
                                height=TARGET,
                                on_click=guarded(ctx.page, lambda _: self.load()),
                            ),
                        ),
                    ],
                ),
                ft.Text(f"{ctx.ward.name} · ward days", size=16, color=colors.muted),
                self.chooser.root,
                self.body,
            ],
        )

    async def load(self) -> None:
        """Read the chosen range (one audited view of the ward) and draw it."""
        asked = self.chooser.range
        self.asked = asked
        try:
            compliance = await self.ctx.call(
                ward_compliance,
                self.ctx.db,
                self.ctx.actor,
                self.ctx.ward.id,
                start=asked.start,
                end=asked.end,
            )
        except ServiceError as refused:
            if asked == self.asked:
                self.body.controls = [ft.Text(refused.message, size=18, color=self.colors.text)]
                self.body.update()
            return
        if asked != self.asked:
            return  # another range was chosen while this one loaded
        self.body.controls = self._draw(compliance)
        self.body.update()

    async def _range_changed(self, _: DayRange) -> None:
        self.body.controls = [ft.ProgressRing(width=28, height=28)]
        self.body.update()
        await self.load()

    # Drawing

    def _heading(self, text: str) -> ft.Control:
        return ft.Text(text, size=20, weight=ft.FontWeight.W_600, color=self.colors.text)

    def _card(self, controls: list[ft.Control], *, alert: bool = False, **kwargs) -> ft.Container:
        return ft.Container(
            padding=ft.Padding.all(14),
            border_radius=12,
            bgcolor=self.colors.overdue_card if alert else self.colors.card,
            content=ft.Column(controls, spacing=4),
            **kwargs,
        )

    def _big(self, value: str, *, alert: bool = False, size: int = 34) -> ft.Text:
        colors = self.colors
        return ft.Text(
            value,
            size=size,
            weight=ft.FontWeight.W_700,
            color=colors.overdue if alert else colors.text,
        )

    def _draw(self, compliance: Compliance) -> list[ft.Control]:
        colors = self.colors
        figures = [
            self._card(
                [self._big(figure.value, alert=figure.alert), self._small(figure.label)],
                alert=figure.alert,
                col={"xs": 6, "md": 4, "lg": 2},
            )
            for figure in headline_figures(compliance)
        ]
        shifts = [
            self._card(
                [
                    ft.Text(row.name, size=18, weight=ft.FontWeight.W_600, color=colors.text),
                    ft.Row(
                        wrap=True,
                        spacing=8,
                        vertical_alignment=ft.CrossAxisAlignment.END,
                        controls=[self._big(row.on_time), self._small("on time")],
                    ),
                    # Missed checks in the overdue colour; the card stays calm, as a ward of
                    # 99% on time is not an alarm.
                    ft.Text(
                        row.counts, size=16, color=colors.overdue if row.missed else colors.text
                    ),
                    self._small(row.shifts),
                    *([ft.Text(row.reasons, size=15, color=colors.text)] if row.reasons else []),
                ],
                col={"xs": 12, "md": 4},
            )
            for row in shift_rows(compliance)
        ]
        if not shifts:
            shifts = [self._card([self._small("No shift of this range has begun yet.")])]
        weeks = [
            self._card(
                [
                    ft.Text(row.title, size=16, weight=ft.FontWeight.W_600, color=colors.text),
                    ft.Row(
                        wrap=True,
                        spacing=8,
                        vertical_alignment=ft.CrossAxisAlignment.END,
                        controls=[
                            self._big(str(row.incidents), alert=row.incidents > 0, size=30),
                            self._small("incident" if row.incidents == 1 else "incidents"),
                        ],
                    ),
                    self._small(row.detail),
                ],
                col={"xs": 12, "sm": 6, "md": 4},
            )
            for row in week_rows(compliance)
        ]
        restraints = [
            self._card(
                [
                    ft.Text(kind, size=16, weight=ft.FontWeight.W_600, color=colors.text),
                    ft.Row(
                        wrap=True,
                        spacing=8,
                        vertical_alignment=ft.CrossAxisAlignment.END,
                        controls=[
                            self._big(str(episodes), alert=episodes > 0, size=30),
                            self._small(f"episode{'' if episodes == 1 else 's'} · {hours}"),
                        ],
                    ),
                ],
                col={"xs": 12, "sm": 4},
            )
            for kind, episodes, hours in restraint_lines(compliance)
        ]
        episodes = [
            ft.Text(episode_line(episode, self.zone), size=15, color=colors.text)
            for episode in compliance.episodes
        ]
        every_shift = shift_lines(compliance, self.zone)
        return [
            ft.ResponsiveRow(figures, spacing=8, run_spacing=8),
            self._heading("Checks by shift"),
            ft.ResponsiveRow(shifts, spacing=10, run_spacing=10),
            self._heading("Incidents per week"),
            ft.ResponsiveRow(weeks, spacing=10, run_spacing=10),
            self._heading("Restraint and seclusion"),
            ft.ResponsiveRow(restraints, spacing=10, run_spacing=10),
            *(episodes or [self._small("No restraint or seclusion in this range.")]),
            ft.Container(
                border_radius=12,
                bgcolor=colors.card,
                content=ft.ExpansionTile(
                    title=ft.Text(
                        f"Each shift ({len(every_shift)})",
                        size=17,
                        weight=ft.FontWeight.W_600,
                        color=colors.text,
                    ),
                    controls_padding=ft.Padding.only(left=16, right=16, bottom=10),
                    expanded_cross_axis_alignment=ft.CrossAxisAlignment.START,
                    controls=[ft.Text(line, size=15, color=colors.text) for line in every_shift],
                ),
            ),
            ft.Container(height=BIG_TARGET),
        ]

    def _small(self, text: str) -> ft.Text:
        return ft.Text(text, size=14, color=self.colors.muted)


def build_compliance(ctx: ScreenContext) -> ft.Control:
    """Ward compliance for the charge nurse (route /compliance)."""
    screen = ComplianceScreen(ctx)
    ctx.spawn(screen.load)
    return screen.root
