"""The break-glass report for admins: who opened which patient outside their wards, why, when,
until when, and how often they looked. Newest first; reading it is audited by the service.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import flet as ft

from app.services.break_glass import BreakGlassReportRow, break_glass_report
from app.services.errors import ServiceError
from app.ui.context import ScreenContext
from app.ui.errors import GENERIC_ERROR, guarded
from app.ui.labels import clock_time
from app.ui.screens.audit_report import keep_period, one_line, period_chooser
from app.ui.theme import TARGET, Palette
from models.codes import Role

logger = logging.getLogger(__name__)

# Openings are rare: a month at a glance.
DEFAULT_RANGE = "30 days"
PAGE_SIZE = 100

ROLE_WORDS = {
    Role.technician: "technician",
    Role.nurse: "nurse",
    Role.charge_nurse: "charge nurse",
    Role.admin: "admin",
}


def _moment(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b} {local:%H:%M}"


@dataclass(frozen=True)
class GrantCard:
    """One break-glass opening as the report shows it."""

    id: int
    patient: str
    who: str
    reason: str
    when: str
    state: str
    in_force: bool
    views: str


def grant_card(row: BreakGlassReportRow, zone: ZoneInfo, now: datetime) -> GrantCard:
    """A grant in a reviewer's words, times in `zone`, in force or not at `now`."""
    in_force = row.opened_at <= now < row.expires_at
    until = clock_time(row.expires_at, zone)
    return GrantCard(
        id=row.id,
        patient=f"MRN {row.mrn} · ward {row.ward_code}",
        who=f"{row.staff_name} ({row.username}, {ROLE_WORDS.get(row.role, row.role.value)})",
        reason=one_line(row.reason, 1000),
        when=f"Opened {_moment(row.opened_at, zone)} · expires {until}",
        state=f"In force until {until}" if in_force else f"Ended {until}",
        in_force=in_force,
        views="Not viewed"
        if row.views == 0
        else f"Viewed {row.views} time" + ("" if row.views == 1 else "s"),
    )


class BreakGlassReportScreen:
    def __init__(self, ctx: ScreenContext) -> None:
        self.ctx = ctx
        self.colors: Palette = ctx.colors
        self.zone = ZoneInfo(ctx.ward.time_zone)
        self.filters: dict[str, Any] = ctx.extras.setdefault("break_glass_filters", {})
        self.rows: list[BreakGlassReportRow] = []
        self.shown = 0
        self.generation = 0
        page = ctx.page
        self.period = period_chooser(
            ctx, self.zone, self.filters, default=DEFAULT_RANGE, on_change=lambda _: self.run()
        )
        self.show = ft.FilledButton(
            "Show report",
            icon=ft.Icons.SEARCH,
            height=TARGET,
            on_click=guarded(page, lambda _: self.run()),
        )
        self.problem = ft.Text("", size=16, color=self.colors.overdue, visible=False)
        self.status = ft.Text("", size=16, color=self.colors.muted)
        self.list = ft.Column(spacing=8, horizontal_alignment=ft.CrossAxisAlignment.STRETCH)
        self.more = ft.Container()
        self.root = ft.ListView(
            expand=True,
            spacing=10,
            padding=ft.Padding.symmetric(horizontal=12, vertical=12),
            controls=[
                ft.Text(
                    "Patients opened outside the opener's wards, with the reason typed. "
                    f"Times in {self.zone.key}.",
                    size=15,
                    color=self.colors.muted,
                ),
                ft.Container(
                    padding=ft.Padding.all(12),
                    border_radius=12,
                    bgcolor=self.colors.card,
                    content=ft.Column(spacing=10, controls=[self.period.root, self.show]),
                ),
                self.problem,
                self.status,
                self.list,
                self.more,
            ],
        )

    async def run(self) -> None:
        """Fetch the grants of the period (audited by the service) and draw the newest first."""
        chosen = self.period.range
        keep_period(self.filters, self.period)
        self.generation += 1
        generation = self.generation
        self.show.disabled = True
        self.status.value = "Loading the break-glass report…"
        self.root.update()
        try:
            start, end = chosen.utc_bounds(self.zone)
            rows = await self.ctx.call(break_glass_report, self.ctx.db, self.ctx.actor, start, end)
        except ServiceError as refused:
            message = refused.message
        except Exception:
            logger.exception("the break-glass report failed")
            message = GENERIC_ERROR
        else:
            message = ""
        if generation != self.generation:
            return
        self.show.disabled = False
        self.list.controls = []
        self.rows, self.shown = [], 0
        self.problem.value, self.problem.visible = message, bool(message)
        if message:
            self.status.value = "No report shown: change the dates and try again."
            self.more.content = None
            self.root.update()
            return
        self.rows = list(reversed(rows))
        self._draw_more()
        self.root.update()

    def _draw_more(self) -> None:
        now = self.ctx.now()
        page = self.rows[self.shown : self.shown + PAGE_SIZE]
        self.shown += len(page)
        self.list.controls += [self._card(grant_card(row, self.zone, now)) for row in page]
        total = len(self.rows)
        if total == 0:
            self.status.value = "No break-glass openings in this period."
        elif self.shown < total:
            self.status.value = f"Showing {self.shown} of {total} openings, newest first"
        else:
            self.status.value = f"{total} opening{'' if total == 1 else 's'}, newest first"
        left = total - self.shown
        self.more.content = (
            ft.OutlinedButton(
                f"Show {min(left, PAGE_SIZE)} more",
                height=TARGET,
                on_click=guarded(self.ctx.page, self._more),
            )
            if left > 0
            else None
        )

    async def _more(self, _: ft.Event) -> None:
        self._draw_more()
        self.root.update()

    def _card(self, card: GrantCard) -> ft.Control:
        colors = self.colors
        return ft.Container(
            padding=ft.Padding.all(12),
            border_radius=10,
            bgcolor=colors.card,
            content=ft.Column(
                spacing=4,
                controls=[
                    ft.Row(
                        wrap=True,
                        spacing=8,
                        run_spacing=4,
                        vertical_alignment=ft.CrossAxisAlignment.CENTER,
                        controls=[
                            ft.Text(
                                card.patient, size=17, weight=ft.FontWeight.W_600, color=colors.text
                            ),
                            ft.Container(
                                padding=ft.Padding.symmetric(horizontal=10, vertical=4),
                                border_radius=14,
                                bgcolor=colors.overdue_card if card.in_force else colors.chip,
                                content=ft.Text(
                                    card.state,
                                    size=14,
                                    weight=ft.FontWeight.W_600,
                                    color=colors.overdue if card.in_force else colors.text,
                                ),
                            ),
                        ],
                    ),
                    ft.Text(card.who, size=15, color=colors.text),
                    ft.Text(f"Reason: {card.reason}", size=15, color=colors.text),
                    ft.Text(f"{card.when} · {card.views}", size=14, color=colors.muted),
                ],
            ),
        )


def build_break_glass_report(ctx: ScreenContext) -> ft.Control:
    """The admin's break-glass report (route /admin/break-glass); opens on the last 30 days."""
    screen = BreakGlassReportScreen(ctx)
    ctx.spawn(screen.run)
    return screen.root
