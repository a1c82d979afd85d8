"""Break-glass: open one patient who is not on your wards, with a typed reason, to read for an hour.

The screen asks for the MRN and the reason, warns that the opening is audited and expires, then
sends both in one request and opens the patient's timeline. `open_through_break_glass` is what
the timeline screen calls first: it marks the timeline read-only with the "expires HH:MM" banner,
and takes the record off the screen when the grant runs out. The MRN is looked up only by the
service, once the opener is authorised, and nothing about the patient is shown before the glass
is broken: an MRN cannot be used to learn who a patient is, or that they exist, without leaving
an audit row.
"""

import logging
import uuid
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import flet as ft

from app.services.break_glass import GRANT_LENGTH, BreakGlassRead, my_break_glass, open_break_glass
from app.services.errors import NotFound, ServiceError
from app.services.wards import patient_header
from app.ui.context import ScreenContext
from app.ui.errors import guarded
from app.ui.labels import clock_time
from app.ui.routes import timeline_route
from app.ui.theme import TARGET, Palette
from models.break_glass import REASON_MIN

logger = logging.getLogger(__name__)

BREAK_GLASS_ROUTE = "/break-glass"
# ctx.extras keys: grants seen in this session (patient id -> expiry), and a notice to show.
HELD = "break_glass_held"
ENDED = "break_glass_ended"
MINUTES = int(GRANT_LENGTH.total_seconds() // 60)


def banner_text(expires_at: datetime, zone: ZoneInfo) -> str:
    """ "Break-glass access — expires 13:05"."""
    return f"Break-glass access — expires {clock_time(expires_at, zone)}"


def reason_problem(reason: str) -> str | None:
    """Why a typed reason is not enough yet, or None."""
    text = reason.strip()
    if not text:
        return "Say why you need this patient's record."
    if len(text) < REASON_MIN:
        return f"Say why in at least {REASON_MIN} characters."
    return None


def warning_text(expires_at: datetime, zone: ZoneInfo) -> str:
    """What the confirmation says before anything is opened."""
    return (
        "Your name, this patient and your reason go into the audit trail, and every opening "
        "is reviewed. You can read this patient's record (timeline and trends) for "
        f"{MINUTES} minutes, until about {clock_time(expires_at, zone)}. You cannot record "
        "anything for them."
    )


class BreakGlassScreen:
    """The MRN and reason form, its confirmation, and the patients opened now."""

    def __init__(self, ctx: ScreenContext) -> None:
        self.ctx = ctx
        self.colors: Palette = ctx.colors
        self.zone = ZoneInfo(ctx.ward.time_zone)
        # One key per filled-in form: a double tap on "Open record" opens one grant.
        self.client_key = uuid.uuid4().hex
        page = ctx.page
        self.mrn = ft.TextField(label="Patient MRN", text_size=18, autofocus=True)
        self.reason = ft.TextField(
            label="Why do you need this record? (required)",
            multiline=True,
            min_lines=2,
            max_lines=5,
            max_length=1000,
            text_size=16,
            helper=f"At least {REASON_MIN} characters. The reviewer reads this.",
        )
        self.problem = ft.Text("", size=16, color=self.colors.overdue, visible=False)
        self.held = ft.Column(spacing=8, horizontal_alignment=ft.CrossAxisAlignment.STRETCH)
        notice = ctx.extras.pop(ENDED, "")
        self.root = ft.ListView(
            expand=True,
            spacing=12,
            padding=ft.Padding.symmetric(horizontal=12, vertical=12),
            controls=[
                *([self._notice(notice)] if notice else []),
                ft.Text(
                    "Open a patient who is not on your wards",
                    size=22,
                    weight=ft.FontWeight.W_700,
                    color=self.colors.text,
                ),
                ft.Text(
                    "Only when you need their record now, for example a patient transferred "
                    f"to you tonight. It is read-only, lasts {MINUTES} minutes, and is "
                    "recorded with your reason.",
                    size=16,
                    color=self.colors.muted,
                ),
                self.mrn,
                self.reason,
                self.problem,
                ft.FilledButton(
                    "Continue",
                    icon=ft.Icons.LOCK_OPEN,
                    height=TARGET,
                    on_click=guarded(page, self._continue),
                ),
                self.held,
            ],
        )

    def _notice(self, text: str) -> ft.Control:
        return ft.Container(
            padding=ft.Padding.all(12),
            border_radius=10,
            bgcolor=self.colors.chip,
            content=ft.Text(text, size=16, color=self.colors.text),
        )

    def _say(self, message: str | None) -> None:
        self.problem.value = message or ""
        self.problem.visible = bool(message)
        self.problem.update()

    async def load_held(self) -> None:
        """The patients this user holds open now, to go back to within the hour."""
        grants = await self.ctx.call(my_break_glass, self.ctx.db, self.ctx.actor)
        rows: list[ft.Control] = []
        for grant in grants:
            try:
                patient = await self.ctx.call(
                    patient_header, self.ctx.db, self.ctx.actor, grant.patient_id
                )
            except ServiceError:
                continue  # ended or no longer readable since the list was read
            rows.append(
                ft.Container(
                    padding=ft.Padding.all(12),
                    border_radius=10,
                    bgcolor=self.colors.card,
                    content=ft.Row(
                        wrap=True,
                        spacing=10,
                        run_spacing=6,
                        alignment=ft.MainAxisAlignment.SPACE_BETWEEN,
                        vertical_alignment=ft.CrossAxisAlignment.CENTER,
                        controls=[
                            ft.Text(
                                f"{patient.display_name} · MRN {patient.mrn} · until "
                                f"{clock_time(grant.expires_at, self.zone)}",
                                size=16,
                                color=self.colors.text,
                            ),
                            ft.OutlinedButton(
                                "Open timeline",
                                icon=ft.Icons.TIMELINE,
                                height=TARGET,
                                on_click=guarded(
                                    self.ctx.page,
                                    lambda _, pid=grant.patient_id: self.ctx.navigate(
                                        timeline_route(pid)
                                    ),
                                ),
                            ),
                        ],
                    ),
                )
            )
        if rows:
            title = ft.Text("Open now", size=18, weight=ft.FontWeight.W_600, color=self.colors.text)
            self.held.controls = [title, *rows]
            self.held.update()

    async def _continue(self, _: ft.Event) -> None:
        mrn = (self.mrn.value or "").strip()
        reason = (self.reason.value or "").strip()
        self.mrn.error = None if mrn else "Enter the patient's MRN."
        self.reason.error = reason_problem(reason)
        self._say(None)
        self.root.update()
        if self.mrn.error or self.reason.error:
            return
        self._confirm(mrn, reason)

    def _confirm(self, mrn: str, reason: str) -> None:
        page = self.ctx.page

        async def open_record(_: ft.Event) -> None:
            data = {"mrn": mrn, "reason": reason, "client_key": self.client_key}
            try:
                grant = await self.ctx.call(open_break_glass, self.ctx.db, self.ctx.actor, data)
            except NotFound as unknown:
                page.pop_dialog()
                self.mrn.error = unknown.message
                self.mrn.update()
                return
            except ServiceError as refused:
                page.pop_dialog()
                self._say(refused.message)
                return
            page.pop_dialog()
            self.client_key = uuid.uuid4().hex
            self.ctx.extras.setdefault(HELD, {})[grant.patient_id] = grant.expires_at
            await self.ctx.navigate(timeline_route(grant.patient_id))

        expected = self.ctx.now() + GRANT_LENGTH
        page.show_dialog(
            ft.AlertDialog(
                modal=True,
                icon=ft.Icon(ft.Icons.WARNING_AMBER, color=self.colors.overdue),
                title=ft.Text(f"Break the glass for MRN {mrn}?"),
                content=ft.Column(
                    tight=True,
                    spacing=10,
                    width=480,
                    controls=[
                        ft.Text(warning_text(expected, self.zone), size=16),
                        ft.Text(f"Your reason: {reason}", size=15, italic=True),
                    ],
                ),
                actions=[
                    ft.TextButton("Cancel", height=TARGET, on_click=lambda _: page.pop_dialog()),
                    ft.FilledButton(
                        "Open record", height=TARGET, on_click=guarded(page, open_record)
                    ),
                ],
            )
        )


def build_break_glass(ctx: ScreenContext) -> ft.Control:
    """The break-glass form (route /break-glass), for clinical staff."""
    screen = BreakGlassScreen(ctx)
    ctx.spawn(screen.load_held)
    return screen.root


class ReadableTimeline(Protocol):
    """What `open_through_break_glass` needs of the timeline screen."""

    patient_id: int
    read_only: bool
    correcting: bool

    def add_banner(self, banner: ft.Control) -> None: ...


async def open_through_break_glass(ctx: ScreenContext, screen: ReadableTimeline) -> bool:
    """Before a timeline loads: if the patient is open to this user through break-glass, make
    the screen read-only with the expiry banner and watch the expiry.

    False when this session's grant for the patient has already ended: the user is taken to the
    break-glass screen with a notice and the timeline must not load.
    """
    try:
        grants = await ctx.call(my_break_glass, ctx.db, ctx.actor)
    except Exception:
        # The services still decide what may be read or written; only the banner is missing.
        logger.exception("could not read this user's break-glass grants")
        return True
    grant = next((g for g in grants if g.patient_id == screen.patient_id), None)
    held: dict[int, datetime] = ctx.extras.setdefault(HELD, {})
    if grant is None:
        ended = held.pop(screen.patient_id, None)
        if ended is not None:
            await _ended(ctx, ended)
            return False
        return True
    held[grant.patient_id] = grant.expires_at
    zone = ZoneInfo(ctx.ward.time_zone)
    text = ft.Text(banner_text(grant.expires_at, zone), size=17, weight=ft.FontWeight.W_700)
    screen.read_only = True
    screen.correcting = False
    screen.add_banner(_banner(text, ctx.colors))
    watch = ExpiryWatch(ctx, grant, text, zone)
    ctx.on_tick(watch.tick)
    return True


def _banner(text: ft.Text, colors: Palette) -> ft.Control:
    text.color = colors.overdue
    return ft.Container(
        padding=ft.Padding.all(12),
        border_radius=10,
        bgcolor=colors.overdue_card,
        content=ft.Row(
            spacing=10,
            vertical_alignment=ft.CrossAxisAlignment.START,
            controls=[
                ft.Icon(ft.Icons.LOCK_OPEN, color=colors.overdue),
                ft.Column(
                    spacing=2,
                    expand=True,
                    controls=[
                        text,
                        ft.Text(
                            "Read only. This view is recorded in the audit trail.",
                            size=15,
                            color=colors.text,
                        ),
                    ],
                ),
            ],
        ),
    )


class ExpiryWatch:
    """Every second on a break-glass timeline: at expiry, leave it (or follow a newer grant)."""

    def __init__(
        self, ctx: ScreenContext, grant: BreakGlassRead, text: ft.Text, zone: ZoneInfo
    ) -> None:
        self.ctx = ctx
        self.patient_id = grant.patient_id
        self.expires_at = grant.expires_at
        self.text = text
        self.zone = zone
        self.done = False

    async def tick(self) -> None:
        if self.done or self.ctx.now() < self.expires_at:
            return
        grants = await self.ctx.call(my_break_glass, self.ctx.db, self.ctx.actor)
        newer = next((g for g in grants if g.patient_id == self.patient_id), None)
        if newer is not None:
            # Opened again (another tab) before this one ran out: the new expiry holds.
            self.expires_at = newer.expires_at
            self.ctx.extras.setdefault(HELD, {})[self.patient_id] = newer.expires_at
            self.text.value = banner_text(newer.expires_at, self.zone)
            self.text.update()
            return
        self.done = True
        self.ctx.extras.setdefault(HELD, {}).pop(self.patient_id, None)
        await _ended(self.ctx, self.expires_at)


async def _ended(ctx: ScreenContext, expires_at: datetime) -> None:
    zone = ZoneInfo(ctx.ward.time_zone)
    ctx.extras[ENDED] = (
        f"Break-glass access ended at {clock_time(expires_at, zone)}; the record was closed. "
        "If you still need it, open it again with a new reason."
    )
    await ctx.navigate(BREAK_GLASS_ROUTE)
