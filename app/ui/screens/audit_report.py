"""The audit report for admins: who did what, to which patient, when, by period, user and patient.

Newest first, fetched from the service a page at a time ("Show older") with "showing N of M", so
a long period is never read or drawn whole. Each page read is audited by the service. The pure
half (a row in words, the count line) is tested without Flet.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import flet as ft

from app.services.audit_report import PAGE_SIZE, AuditPage, AuditRow, audit_report
from app.services.errors import ServiceError
from app.ui.context import ScreenContext
from app.ui.date_range import OTHER, DayRange, Preset, RangeChooser, last_days
from app.ui.errors import GENERIC_ERROR, guarded
from app.ui.theme import TARGET, Palette
from models.codes import AuditAction

logger = logging.getLogger(__name__)

DEFAULT_RANGE = "7 days"
# The longest period a screen asks for at once; the console's report has no such limit.
MAX_DAYS = 92
# HIPAA keeps the audit trail six years: the calendar reaches that far back.
LOOK_BACK = timedelta(days=6 * 366)

DETAIL_LIMIT = 200

ACTION_WORDS: dict[AuditAction, str] = {
    AuditAction.view: "Viewed",
    AuditAction.create: "Recorded",
    AuditAction.amend: "Amended",
    AuditAction.void: "Voided",
    AuditAction.export: "Exported",
    AuditAction.sign_in: "Signed in",
    AuditAction.sign_in_failed: "Sign-in refused",
    AuditAction.sign_out: "Signed out",
    AuditAction.lock: "Locked",
    AuditAction.unlock: "Unlocked",
    AuditAction.unlock_failed: "Wrong PIN",
    AuditAction.level_change: "Level changed",
    AuditAction.account_change: "Account or ward changed",
    AuditAction.break_glass: "Break-glass opened",
}
# Worth a reviewer's eye: refusals and emergency access.
ALERTS = frozenset({AuditAction.sign_in_failed, AuditAction.unlock_failed, AuditAction.break_glass})


def one_line(text: str, limit: int = DETAIL_LIMIT) -> str:
    """Typed text on one line, without control characters, cut at `limit` characters."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def day_label(day: date) -> str:
    """ "Fri 20 Nov 2026"."""
    return f"{day:%a} {day.day} {day:%b} {day.year}"


@dataclass(frozen=True)
class AuditLine:
    """One audit row as the report shows it."""

    id: int
    day: date
    time: str
    action: str
    who: str
    patient: str
    detail: str
    alert: bool


def audit_line(row: AuditRow, zone: ZoneInfo) -> AuditLine:
    """An audit row in a reviewer's words, its time in `zone`."""
    local = row.at.astimezone(zone)
    who = row.username or "unknown"
    if row.staff_name:
        who = f"{row.staff_name} ({row.username})"
    where = []
    if row.mrn:
        where.append(f"MRN {row.mrn}")
    if row.ward_code:
        where.append(f"ward {row.ward_code}")
    if row.record_kind is not None:
        where.append(f"{row.record_kind.value.replace('_', ' ')} {row.record_id}")
    return AuditLine(
        id=row.id,
        day=local.date(),
        time=f"{local:%H:%M:%S}",
        action=ACTION_WORDS.get(row.action, row.action.value),
        who=one_line(who, 120),
        patient=" · ".join(where),
        detail=one_line(row.detail),
        alert=row.action in ALERTS,
    )


def showing(shown: int, total: int) -> str:
    """ "Showing 100 of 3,412 rows, newest first"."""
    if total == 0:
        return "No audit rows for these filters."
    noun = "row" if total == 1 else "rows"
    if shown >= total:
        return f"{total:,} {noun}, newest first"
    return f"Showing {shown:,} of {total:,} {noun}, newest first"


def report_presets(today: date) -> list[Preset]:
    """Today, and the last 7, 30 and 90 days."""
    return [Preset("Today", lambda: last_days(today, 1))] + [
        Preset(f"{days} days", lambda days=days: last_days(today, days)) for days in (7, 30, 90)
    ]


def period_chooser(
    ctx: ScreenContext,
    zone: ZoneInfo,
    kept: dict[str, Any],
    *,
    default: str,
    on_change: Callable[[DayRange], Awaitable[None]],
) -> RangeChooser:
    """The days of an admin report, up to MAX_DAYS, as last chosen in this session (`kept`)."""
    today = ctx.now().astimezone(zone).date()
    return RangeChooser(
        ctx.page,
        ctx.colors,
        zone,
        report_presets(today),
        chosen=kept.get("range_label", default),
        other=kept.get("range") if kept.get("range_label") == OTHER else None,
        first_day=today - LOOK_BACK,
        last_day=today,
        limit=MAX_DAYS,
        on_change=on_change,
    )


def keep_period(kept: dict[str, Any], chooser: RangeChooser) -> None:
    """Remember the chosen days for this session, so a re-render keeps them."""
    kept.update(range_label=chooser.chosen, range=chooser.range)


class AuditReportScreen:
    """The filters, the count line and the rows of one admin's audit report."""

    def __init__(self, ctx: ScreenContext) -> None:
        self.ctx = ctx
        self.colors: Palette = ctx.colors
        self.zone = ZoneInfo(ctx.ward.time_zone)
        # Kept for the session, so a re-render (night mode, rotation, unlock) keeps the filters.
        self.filters: dict[str, Any] = ctx.extras.setdefault(
            "audit_filters", {"user": "", "mrn": ""}
        )
        # The report on screen: its filters, rows shown of how many, the oldest row shown.
        self.asked: dict[str, Any] = {}
        self.shown = 0
        self.total = 0
        self.oldest_id: int | None = None
        self.generation = 0
        self.last_day: date | None = None

        page = ctx.page
        self.period = period_chooser(
            ctx, self.zone, self.filters, default=DEFAULT_RANGE, on_change=lambda _: self.run()
        )
        self.user = ft.TextField(
            label="User (username)",
            value=self.filters["user"],
            text_size=16,
            on_submit=guarded(page, lambda _: self.run()),
        )
        self.mrn = ft.TextField(
            label="Patient MRN",
            value=self.filters["mrn"],
            text_size=16,
            on_submit=guarded(page, lambda _: self.run()),
        )
        self.show = ft.FilledButton(
            "Show report",
            icon=ft.Icons.SEARCH,
            height=TARGET,
            on_click=guarded(page, lambda _: self.run()),
        )
        self.status = ft.Text("", size=16, color=self.colors.muted)
        self.problem = ft.Text("", size=16, color=self.colors.overdue, visible=False)
        self.list = ft.Column(spacing=6, horizontal_alignment=ft.CrossAxisAlignment.STRETCH)
        self.more = ft.Container()
        self.root = ft.ListView(
            expand=True,
            spacing=10,
            padding=ft.Padding.symmetric(horizontal=12, vertical=12),
            controls=[
                ft.Text(
                    f"Who did what, to which patient, when. Times in {self.zone.key}.",
                    size=15,
                    color=self.colors.muted,
                ),
                ft.Container(
                    padding=ft.Padding.all(12),
                    border_radius=12,
                    bgcolor=self.colors.card,
                    content=ft.Column(
                        spacing=10,
                        controls=[
                            self.period.root,
                            ft.ResponsiveRow(
                                spacing=8,
                                run_spacing=8,
                                controls=[
                                    ft.Container(col={"xs": 12, "md": 6}, content=self.user),
                                    ft.Container(col={"xs": 12, "md": 6}, content=self.mrn),
                                ],
                            ),
                            self.show,
                        ],
                    ),
                ),
                self.problem,
                self.status,
                self.list,
                self.more,
            ],
        )

    async def run(self) -> None:
        """Read the filters and fetch the newest page of the report (audited by the service)."""
        user, mrn = (self.user.value or "").strip(), (self.mrn.value or "").strip()
        keep_period(self.filters, self.period)
        self.filters.update(user=user, mrn=mrn)
        start, end = self.period.range.utc_bounds(self.zone)
        asked = {"start": start, "end": end, "username": user or None, "mrn": mrn or None}
        self.generation += 1
        generation = self.generation
        self._busy(True)
        try:
            page = await self._fetch(asked, before_id=None)
        except Exception as failed:
            if generation == self.generation:
                self._refused(_refusal(failed))
            return
        if generation != self.generation:
            return  # a newer request is on its way
        self.asked = asked
        # Older pages hold only rows from before this one, so the total stays what it was.
        self.total = page.total
        self.shown = 0
        self.last_day = None
        self.list.controls = []
        self.problem.visible = False
        self._draw_page(page)
        self._busy(False)

    async def _older(self, event: ft.Event) -> None:
        """The next page of older rows, under the filters of the report shown."""
        generation = self.generation
        event.control.disabled = True  # a second tap asks for the same page: ignore it
        event.control.update()
        try:
            page = await self._fetch(self.asked, before_id=self.oldest_id)
        except Exception as failed:
            if generation == self.generation:
                self.problem.value, self.problem.visible = _refusal(failed), True
                event.control.disabled = False
                self.root.update()
            return
        if generation != self.generation:
            return
        self.problem.visible = False
        self._draw_page(page)
        self.root.update()

    async def _fetch(self, asked: dict[str, Any], *, before_id: int | None) -> AuditPage:
        return await self.ctx.call(
            audit_report,
            self.ctx.db,
            self.ctx.actor,
            **asked,
            limit=PAGE_SIZE,
            before_id=before_id,
        )

    def _busy(self, busy: bool) -> None:
        self.show.disabled = busy
        if busy:
            self.status.value = "Loading the audit report…"
        self.root.update()

    def _refused(self, message: str) -> None:
        self.shown = self.total = 0
        self.list.controls = []
        self.more.content = None
        self.problem.value = message
        self.problem.visible = True
        self.status.value = "No report shown: change the filters and try again."
        self.show.disabled = False
        self.root.update()

    def _draw_page(self, page: AuditPage) -> None:
        """Add a page of rows under the ones shown and update the count line."""
        for row in page.rows:
            line = audit_line(row, self.zone)
            if line.day != self.last_day:
                self.last_day = line.day
                self.list.controls.append(
                    ft.Container(
                        padding=ft.Padding.only(top=8, left=4),
                        content=ft.Text(
                            day_label(line.day),
                            size=15,
                            weight=ft.FontWeight.W_600,
                            color=self.colors.muted,
                        ),
                    )
                )
            self.list.controls.append(self._row(line))
        self.shown += len(page.rows)
        if page.rows:
            self.oldest_id = page.rows[-1].id
        self.status.value = showing(self.shown, self.total)
        self.more.content = (
            ft.OutlinedButton(
                "Show older",
                icon=ft.Icons.EXPAND_MORE,
                height=TARGET,
                on_click=guarded(self.ctx.page, self._older),
            )
            if page.more
            else None
        )

    def _row(self, line: AuditLine) -> ft.Control:
        colors = self.colors
        accent = colors.overdue if line.alert else colors.text
        body: list[ft.Control] = [
            ft.Text(line.action, size=16, weight=ft.FontWeight.W_600, color=accent),
            ft.Text(line.who, size=15, color=colors.text),
        ]
        if line.patient:
            body.append(ft.Text(line.patient, size=15, color=colors.text))
        if line.detail:
            body.append(ft.Text(line.detail, size=14, color=colors.muted))
        return ft.Container(
            padding=ft.Padding.symmetric(horizontal=12, vertical=8),
            border_radius=10,
            bgcolor=colors.overdue_card if line.alert else colors.card,
            content=ft.Row(
                vertical_alignment=ft.CrossAxisAlignment.START,
                spacing=10,
                controls=[
                    ft.Text(line.time, size=15, weight=ft.FontWeight.W_600, color=colors.text),
                    ft.Column(body, spacing=2, expand=True),
                ],
            ),
        )


def _refusal(failed: Exception) -> str:
    """What the screen says when the report could not be read."""
    if isinstance(failed, ServiceError):
        return failed.message
    logger.error("the audit report failed", exc_info=failed)
    return GENERIC_ERROR


def build_audit_report(ctx: ScreenContext) -> ft.Control:
    """The admin's audit report (route /admin/audit); opens on the last 7 days."""
    screen = AuditReportScreen(ctx)
    ctx.spawn(screen.run)
    return screen.root
