"""The app shell of one browser session: sign-in, ward, lock, routes, layout, night mode, and
the timers that keep an open screen current.

Everything slow runs in worker threads (`off_loop`): Flet 1.0.5 runs handlers on the
server's event loop, shared by every session.
"""

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import flet as ft

from app.config import Settings
from app.services.access import Actor, Permission, allowed
from app.services.accounts import record_lock, sign_in, verify_pin
from app.services.check_ins import last_ward_change
from app.services.errors import ServiceError
from app.services.ward_time import is_night
from app.services.wards import WardRead, my_wards
from app.storage.database import Database
from app.ui.context import ScreenContext, off_loop
from app.ui.errors import GENERIC_ERROR, guarded
from app.ui.routes import (
    ADMIN_HOME,
    HOME,
    Screen,
    builder,
    destination_of,
    destinations,
    home_for,
    parent_route,
    resolve,
    timeline_route,
)
from app.ui.screens.break_glass import BREAK_GLASS_ROUTE
from app.ui.screens.choose_ward import build_choose_ward
from app.ui.screens.lock import build_lock
from app.ui.screens.sign_in import build_sign_in
from app.ui.session import Change, Phase, WardSession
from app.ui.theme import SPLASH_BACKGROUND, TABLET_WIDTH, Palette, apply, apply_splash
from models import Ward
from models.codes import Role

logger = logging.getLogger(__name__)

# Events that are not someone using the screen, so they do not keep the session awake.
PASSIVE_EVENTS = frozenset(
    {
        "resize",
        "connect",
        "disconnect",
        "close",
        "app_lifecycle_state_change",
        "media_change",
        "platform_brightness_change",
        "locale_change",
        "size_change",
        "error",
    }
)
TICK_SECONDS = 1.0
REFRESH_EVERY_TICKS = 10  # a full refresh every ~10 s even when nothing changed
WARD_MESSAGE_SPREAD_SECONDS = 0.5  # other screens refresh within this after a save

# Admins work at no ward: their screens show times in the hospital's zone and no patients.
ADMIN_DESK_NAME = "Administration"
NO_WARD = "You are not on any ward yet. Ask the charge nurse to add you."


def is_wide(width: float | None) -> bool:
    """Tablet layout (navigation rail, two columns) from 800 px wide."""
    return (width or 0) >= TABLET_WIDTH


class WardApp:
    """One browser session of Rounds."""

    def __init__(
        self,
        page: ft.Page,
        db: Database,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.page = page
        self.db = db
        self.settings = settings
        self.session = WardSession.from_settings(settings, clock=clock)
        self.wards: list[WardRead] = []
        # Screen state that outlives a screen (open forms, routine buttons): this session's.
        self.extras: dict[str, Any] = {}
        self.ctx: ScreenContext | None = None
        self.rendered_route: str | None = None
        self.wanted_route = HOME
        self.night_override: bool | None = None
        self.override_set_at_night: bool | None = None
        self.auto_night = False
        self.wide = is_wide(page.width)
        self.change_marker = 0
        self.connected = True
        self.refreshing = False
        self.refresh_again = False
        self.ticks = 0
        self.topic: str | None = None
        self.ticker: asyncio.Task | None = None
        self.background = SPLASH_BACKGROUND

    @property
    def actor(self) -> Actor:
        staff = self.session.staff
        return Actor(staff.id, staff.username)

    @property
    def night(self) -> bool:
        if self.night_override is not None and self.override_set_at_night == self.auto_night:
            return self.night_override
        # The ward moved into or out of its night hours: automatic again.
        self.night_override = None
        return self.auto_night

    async def start(self) -> None:
        """Set the page up and show the sign-in screen."""
        page = self.page
        page.title = "Rounds"
        apply_splash(page)
        page.on_route_change = guarded(page, self._route_changed)
        page.on_resize = guarded(page, self._resized)
        page.on_disconnect = guarded(page, self._disconnected)
        page.on_connect = guarded(page, self._connected)
        page.on_close = guarded(page, self._closed)
        self._watch_activity()
        if resolve(page.route) is not None:
            self.wanted_route = page.route
        self.render()
        self.ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    def _watch_activity(self) -> None:
        """Count every user event as activity, whichever screen's control it reached.

        Screens written by others need not remember to report activity: every event of the
        session passes through Session.dispatch_event.
        """
        flet_session = self.page.session
        dispatch = flet_session.dispatch_event

        async def dispatch_and_touch(control_id: int, name: str, data: Any) -> None:
            if name not in PASSIVE_EVENTS:
                self.session.touch()
            await dispatch(control_id, name, data)

        flet_session.dispatch_event = dispatch_and_touch

    def render(self) -> None:
        """Show what the session's phase calls for."""
        phase = self.session.phase
        if phase == Phase.signed_out:
            self._leave_screen()
            self.background = apply_splash(self.page)
            self._show(build_sign_in(self.page, self._sign_in, self.session.ended_because))
        elif phase == Phase.choosing_ward:
            self._leave_screen()
            self.background = apply_splash(self.page)
            self._show(
                build_choose_ward(
                    self.page,
                    self.wards,
                    self._choose_ward,
                    f"Hello, {self.session.staff.display_name}",
                )
            )
        elif phase == Phase.locked:
            # The route is remembered: unlocking returns to the same screen, form and all.
            self._leave_screen(forget_route=False)
            self._show_lock()
        else:
            self._render_route()

    def _show(self, content: ft.Control, **view: Any) -> None:
        page = self.page
        page.views.clear()
        page.views.append(
            ft.View(
                route=page.route or "/",
                padding=0,
                spacing=0,
                bgcolor=self.background,
                controls=[ft.SafeArea(expand=True, content=content)],
                **view,
            )
        )
        page.update()

    def _leave_screen(self, *, forget_route: bool = True) -> None:
        if self.ctx is not None:
            self.ctx.leave()
            self.ctx = None
        if forget_route:
            self.rendered_route = None

    def _show_lock(self) -> None:
        # Only the user's name and the PIN pad: every patient control is dropped from the page.
        colors = apply(self.page, self.night)
        self.background = colors.background
        self._show(
            build_lock(
                self.page,
                self.session.staff.display_name,
                self._try_pin,
                self._switch_user,
                colors,
            )
        )

    def _render_route(self) -> None:
        page = self.page
        route = page.route or HOME
        match = resolve(route)
        role = self.session.staff.role
        if match is None or not allowed(role, match.screen.permission):
            home = home_for(role)
            if route != home:
                page.navigate(home)
                return
            match = resolve(home)
        same_route = route == self.rendered_route
        self._leave_screen()
        colors = apply(page, self.night)
        self.background = colors.background
        self.extras["same_route"] = same_route
        ctx = ScreenContext(
            page=page,
            db=self.db,
            staff=self.session.staff,
            ward=self.session.ward,
            navigate=self._navigate,
            night=self.night,
            on_saved=self._saved,
            ward_marker=lambda: self.change_marker,
            extras=self.extras,
            colors=colors,
            wide=self.wide,
        )
        self.ctx = ctx
        self.rendered_route = route
        try:
            build = builder(match.screen.name)
            body = build(ctx, **match.params) if build else _not_yet(match.screen.title, colors)
        except Exception:
            logger.exception("could not build %s", match.screen.name)
            body = ft.Container(padding=24, content=ft.Text(GENERIC_ERROR, size=18))
        self._frame(match.screen, match.params, body, colors)

    def _frame(
        self, screen: Screen, params: dict[str, int], body: ft.Control, colors: Palette
    ) -> None:
        """Put a screen in the app bar and navigation that fit the device."""
        staff = self.session.staff
        top_level = screen.icon is not None
        places = destinations(staff.role)
        current = destination_of(screen)
        selected = places.index(current) if current in places else 0

        actions: list[ft.Control] = []
        if screen.name == "check_in" and "patient_id" in params:
            actions.append(
                _action(
                    ft.Icons.TIMELINE,
                    "Timeline",
                    guarded(
                        self.page,
                        lambda _: self._navigate(timeline_route(params["patient_id"])),
                    ),
                    colors,
                )
            )
        actions += [
            _action(
                ft.Icons.LIGHT_MODE_OUTLINED if self.night else ft.Icons.DARK_MODE_OUTLINED,
                "Day mode" if self.night else "Night mode",
                guarded(self.page, self._toggle_night),
                colors,
            ),
            _action(
                ft.Icons.LOCK_OUTLINE, "Lock screen", guarded(self.page, self._lock_now), colors
            ),
            ft.PopupMenuButton(
                icon=_named_icon(ft.Icons.MORE_VERT, "More", colors),
                # Without a tooltip of its own Flutter adds "Show menu" to the button's name.
                tooltip="More",
                items=[
                    *(
                        [
                            ft.PopupMenuItem(
                                "Switch ward",
                                height=56,
                                on_click=guarded(self.page, self._switch_ward),
                            )
                        ]
                        if len(self.wards) > 1
                        else []
                    ),
                    *(
                        [
                            # Out of the way of rounds, but one tap from every ward screen.
                            ft.PopupMenuItem(
                                "Break-glass access",
                                icon=ft.Icons.LOCK_OPEN,
                                height=56,
                                on_click=guarded(
                                    self.page, lambda _: self._navigate(BREAK_GLASS_ROUTE)
                                ),
                            )
                        ]
                        if allowed(staff.role, Permission.break_glass)
                        else []
                    ),
                    ft.PopupMenuItem(
                        "Sign out", height=56, on_click=guarded(self.page, self._sign_out)
                    ),
                ],
            ),
        ]
        leading = None
        if not top_level:
            leading = ft.IconButton(
                _named_icon(ft.Icons.ARROW_BACK, "Back", colors, size=28),
                on_click=guarded(self.page, lambda _: self._navigate(parent_route(screen, params))),
            )
        appbar = ft.AppBar(
            leading=leading,
            automatically_imply_leading=False,
            toolbar_height=64,
            bgcolor=colors.card,
            title=ft.Column(
                spacing=0,
                tight=True,
                controls=[
                    ft.Text(screen.title, size=21, weight=ft.FontWeight.W_700, color=colors.text),
                    ft.Text(
                        f"{self.session.ward.name} · {staff.display_name}",
                        size=13,
                        color=colors.muted,
                    ),
                ],
            ),
            actions=actions,
        )

        async def go(event: ft.Event) -> None:
            index = int(event.control.selected_index or 0)
            await self._navigate(places[index].pattern)

        if self.wide and places:
            rail = ft.NavigationRail(
                selected_index=selected,
                label_type=ft.NavigationRailLabelType.ALL,
                min_width=88,
                bgcolor=colors.card,
                indicator_color=colors.chip,
                destinations=[
                    ft.NavigationRailDestination(
                        icon=place.icon, selected_icon=place.selected_icon, label=place.title
                    )
                    for place in places
                ],
                on_change=guarded(self.page, go),
            )
            content = ft.Row(
                expand=True,
                spacing=0,
                vertical_alignment=ft.CrossAxisAlignment.STRETCH,
                controls=[
                    rail,
                    ft.VerticalDivider(width=1),
                    ft.Container(expand=True, content=body),
                ],
            )
            self._show(content, appbar=appbar)
        elif top_level and places:
            bar = ft.NavigationBar(
                selected_index=selected,
                bgcolor=colors.card,
                indicator_color=colors.chip,
                destinations=[
                    ft.NavigationBarDestination(
                        icon=place.icon, selected_icon=place.selected_icon, label=place.title
                    )
                    for place in places
                ],
                on_change=guarded(self.page, go),
            )
            self._show(body, appbar=appbar, navigation_bar=bar)
        else:
            self._show(body, appbar=appbar)

    async def _navigate(self, route: str) -> None:
        if route == self.page.route:
            self.render()
            return
        await self.page.push_route(route)

    async def _route_changed(self, _: ft.RouteChangeEvent) -> None:
        if self.session.phase == Phase.active:
            self.render()
        elif resolve(self.page.route) is not None:
            self.wanted_route = self.page.route

    async def _resized(self, _: ft.Event) -> None:
        wide = is_wide(self.page.width)
        if wide != self.wide:
            self.wide = wide
            if self.session.phase == Phase.active:
                self.render()

    async def _disconnected(self, _: ft.Event) -> None:
        self.connected = False

    async def _connected(self, _: ft.Event) -> None:
        self.connected = True
        if self.session.phase == Phase.active:
            await self._refresh()

    async def _closed(self, _: ft.Event) -> None:
        if self.ticker is not None:
            self.ticker.cancel()
        self._unsubscribe()
        self._leave_screen()

    async def _sign_in(self, username: str, password: str) -> str | None:
        try:
            staff = await off_loop(sign_in, self.db, username, password)
        except ServiceError as refused:
            return refused.message
        if staff.role == Role.admin:
            self.session.sign_in(staff)
            self.wards = []
            self.extras = {}
            await self._open_admin_desk()
            return None
        wards = await off_loop(my_wards, self.db, Actor(staff.id, staff.username))
        if not wards:
            return NO_WARD
        self.session.sign_in(staff)
        self.wards = wards
        self.extras = {}
        if len(wards) == 1:
            await self._choose_ward(wards[0])
        else:
            self.render()
        return None

    async def _choose_ward(self, ward: WardRead) -> None:
        self._unsubscribe()
        self.session.choose_ward(ward)
        self.extras = {}
        self.night_override = None
        self._update_night()
        self.change_marker = await off_loop(last_ward_change, self.db, self.actor, ward.id)
        self.topic = f"ward:{ward.id}"
        self.page.pubsub.subscribe_topic(self.topic, self._ward_message)
        route = self.wanted_route if resolve(self.wanted_route) else HOME
        self.wanted_route = HOME
        await self._navigate(route)

    async def _open_admin_desk(self) -> None:
        """An admin's session: the review screens at no ward, times in the hospital's zone."""
        self._unsubscribe()
        self.session.choose_ward(admin_desk(self.settings))
        self.night_override = None
        self._update_night()
        # An address asked for before sign-in (the ward default, /rounds, is not theirs).
        wanted = self.wanted_route
        route = wanted if wanted != HOME and resolve(wanted) else ADMIN_HOME
        self.wanted_route = HOME
        await self._navigate(route)

    async def _switch_ward(self, _: ft.Event) -> None:
        self.session.change_ward()
        self.render()

    def _unsubscribe(self) -> None:
        if self.topic is not None:
            self.page.pubsub.unsubscribe_topic(self.topic)
            self.topic = None

    async def _ward_message(self, topic: str, message: Any) -> None:
        """Another session on this ward saved something: refresh now, not at the next poll.
        The message is the ward's change marker after that save: taken as known, so the next
        poll does not refresh again for the same change."""
        try:
            if isinstance(message, int):
                self.change_marker = max(self.change_marker, message)
            # Every open screen of the ward hears of a save at the same moment; refreshing all
            # at once held the event loop that the sessions share, and a tap arriving then
            # waited behind them. Spread over half a second, they leave room between them.
            await asyncio.sleep(random.uniform(0, WARD_MESSAGE_SPREAD_SECONDS))
            if self.session.phase == Phase.active and self.connected:
                await self._refresh()
        except Exception:
            logger.exception("refresh after a ward message failed")

    async def _saved(self) -> None:
        """This session saved something: refresh here and tell the ward's other sessions."""
        self.change_marker = await off_loop(
            last_ward_change, self.db, self.actor, self.session.ward.id, after=self.change_marker
        )
        if self.topic is not None:
            self.page.pubsub.send_others_on_topic(self.topic, self.change_marker)
        await self._refresh()

    async def _refresh(self) -> None:
        if self.ctx is None:
            return
        if self.refreshing:
            # A change arrived while the screen was refreshing: once more when that ends.
            self.refresh_again = True
            return
        self.refreshing = True
        try:
            while True:
                self.refresh_again = False
                for hook in list(self.ctx.refresh_hooks if self.ctx else []):
                    await hook()
                if not self.refresh_again:
                    break
        except Exception:
            logger.exception("screen refresh failed")
        finally:
            self.refreshing = False

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("session tick failed")

    async def _tick(self) -> None:
        staff = self.session.staff
        change = self.session.tick()
        if change == Change.locked:
            self.render()
            await off_loop(record_lock, self.db, Actor(staff.id, staff.username), reason="idle")
            return
        if change == Change.ended:
            await self._end(staff, self.session.ended_because or "ended")
            return
        if self.session.phase != Phase.active or not self.connected or self.ctx is None:
            return
        self.ticks += 1
        if self.ticks % REFRESH_EVERY_TICKS == 0 and self._update_night():
            self.render()
            return
        for hook in list(self.ctx.tick_hooks):
            result = hook()
            if asyncio.iscoroutine(result):
                await result
        if self.session.staff.role == Role.admin:
            return  # no ward whose records could change under an admin's screen
        marker = await off_loop(
            last_ward_change, self.db, self.actor, self.session.ward.id, after=self.change_marker
        )
        if marker != self.change_marker or self.ticks % REFRESH_EVERY_TICKS == 0:
            self.change_marker = marker
            await self._refresh()

    def _update_night(self) -> bool:
        """Recompute the ward's night hours; True when the look should change."""
        before = self.night
        ward = self.session.ward
        self.auto_night = is_night(Ward(**ward.model_dump()), self.db.clock())
        return self.night != before

    async def _toggle_night(self, _: ft.Event) -> None:
        self.night_override = not self.night
        self.override_set_at_night = self.auto_night
        self.render()

    async def _lock_now(self, _: ft.Event) -> None:
        staff = self.session.staff
        self.session.lock()
        self.render()
        await off_loop(
            record_lock, self.db, Actor(staff.id, staff.username), reason="locked by user"
        )

    async def _try_pin(self, pin: str) -> str | None:
        staff = self.session.staff
        if staff is None or not self.session.may_try_pin():
            if staff is not None:
                await self._end(staff, self.session.ended_because)
            return None
        actor = Actor(staff.id, staff.username)
        if await off_loop(verify_pin, self.db, actor, pin):
            self.session.pin_accepted()
            self.render()
            return None
        if self.session.pin_refused():
            await self._end(staff, "5 wrong PINs")
            return None
        left = self.session.pins_left
        return f"Wrong PIN. {left} {'try' if left == 1 else 'tries'} left."

    async def _switch_user(self) -> None:
        staff = self.session.staff
        self.session.sign_out()
        await self._end(staff, "switch user")

    async def _sign_out(self, _: ft.Event) -> None:
        staff = self.session.staff
        self.session.sign_out("Signed out.")
        await self._end(staff, "signed out")

    async def _end(self, staff, reason: str) -> None:
        """Back to the sign-in screen; open forms stay only as drafts on the server."""
        if self.session.phase != Phase.signed_out:
            self.session.sign_out(self.session.ended_because)
        self._unsubscribe()
        self.extras = {}
        self.wanted_route = HOME
        self.render()
        if staff is not None:
            await off_loop(
                record_lock, self.db, Actor(staff.id, staff.username), reason=f"ended: {reason}"
            )


def admin_desk(settings: Settings) -> WardRead:
    """The place an admin works: no ward of patients, the hospital's zone and default hours."""
    hours = Ward(code="", name="", time_zone=settings.ward_timezone)
    return WardRead(
        id=0,
        code="",
        name=ADMIN_DESK_NAME,
        time_zone=settings.ward_timezone,
        night_start_hour=hours.night_start_hour,
        night_end_hour=hours.night_end_hour,
        shift_start_hours=hours.shift_start_hours,
    )


def _named_icon(icon: str, label: str, colors: Palette, size: int = 26) -> ft.Icon:
    # The icon's label names the button that holds it: a Semantics wrapper would name a node
    # of its own and leave the button a screen reader focuses and taps without a name.
    return ft.Icon(icon, color=colors.text, size=size, semantics_label=label)


def _action(icon: str, label: str, on_click, colors: Palette) -> ft.Control:
    return ft.IconButton(_named_icon(icon, label, colors), on_click=on_click)


def _not_yet(title: str, colors: Palette) -> ft.Control:
    return ft.Container(
        padding=24,
        content=ft.Text(f"{title} is not available yet.", size=18, color=colors.text),
    )
