"""Every screen's address, and where its builder lives.

A screen is a function `build_<name>(ctx, **params) -> ft.Control` in app/ui/screens/<name>.py;
`params` are the route's `:names` (ids as int). The shell finds the builder by name, so a new
screen is added by writing its module and one line here. A screen whose module does not exist
yet shows a short "not available yet" notice instead of failing.
"""

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flet as ft

from app.services.access import Permission, allowed
from models.codes import Role


@dataclass(frozen=True)
class Screen:
    name: str  # module app/ui/screens/<name>.py, builder build_<name>
    pattern: str  # "/patients/:patient_id/check-in"
    title: str
    permission: Permission
    # Top-level destinations appear in the navigation bar / rail, in this order.
    icon: str | None = None
    selected_icon: str | None = None
    # Where the app bar's back arrow returns to, as a pattern that may use this screen's own
    # `:names` ("/patients/:patient_id"); the top-level screen up that chain is highlighted in
    # the navigation.
    parent: str = "/rounds"


SCREENS: list[Screen] = [
    Screen(
        "rounds",
        "/rounds",
        "Rounds",
        Permission.view_rounds,
        ft.Icons.CHECKLIST_OUTLINED,
        ft.Icons.CHECKLIST,
    ),
    Screen(
        "groups",
        "/groups",
        "Groups",
        Permission.record_group,
        ft.Icons.GROUPS_OUTLINED,
        ft.Icons.GROUPS,
        parent="/groups",
    ),
    Screen(
        "incident",
        "/incidents/new",
        "Incident",
        Permission.record_incident,
        ft.Icons.REPORT_OUTLINED,
        ft.Icons.REPORT,
        parent="/incidents/new",
    ),
    Screen(
        "handoff",
        "/handoff",
        "Handoff",
        Permission.view_handoff,
        ft.Icons.ASSIGNMENT_OUTLINED,
        ft.Icons.ASSIGNMENT,
        parent="/handoff",
    ),
    # The admin desk: reviewing access, never patients. Both screens are the audit reviewer's
    # (view_audit), so charge nurses, who may also review their wards' grants, keep their bar.
    Screen(
        "audit_report",
        "/admin/audit",
        "Audit report",
        Permission.view_audit,
        ft.Icons.MANAGE_SEARCH_OUTLINED,
        ft.Icons.MANAGE_SEARCH,
        parent="/admin/audit",
    ),
    Screen(
        "break_glass_report",
        "/admin/break-glass",
        "Break-glass report",
        Permission.view_audit,
        ft.Icons.POLICY_OUTLINED,
        ft.Icons.POLICY,
        parent="/admin/break-glass",
    ),
    Screen("break_glass", "/break-glass", "Break-glass access", Permission.break_glass),
    Screen("check_in", "/patients/:patient_id/check-in", "Check-in", Permission.record_check),
    Screen(
        "incident",
        "/patients/:patient_id/incident",
        "Incident",
        Permission.record_incident,
        parent="/incidents/new",
    ),
    Screen("timeline", "/patients/:patient_id", "Timeline", Permission.view_timeline),
    Screen(
        "effect",
        "/patients/:patient_id/effect",
        "Before / after",
        Permission.view_timeline,
        parent="/patients/:patient_id",
    ),
    Screen(
        "export",
        "/patients/:patient_id/export",
        "Export",
        Permission.export,
        parent="/patients/:patient_id",
    ),
    Screen(
        "compliance",
        "/compliance",
        "Compliance",
        Permission.view_handoff,
        ft.Icons.FACT_CHECK_OUTLINED,
        ft.Icons.FACT_CHECK,
        parent="/compliance",
    ),
]

HOME = "/rounds"


@dataclass(frozen=True)
class Match:
    screen: Screen
    params: dict[str, Any]


def _regex(pattern: str) -> re.Pattern[str]:
    parts = [
        f"(?P<{part[1:]}>[0-9]+)" if part.startswith(":") else re.escape(part)
        for part in pattern.strip("/").split("/")
    ]
    return re.compile("^/" + "/".join(parts) + "/?$")


_COMPILED = [(screen, _regex(screen.pattern)) for screen in SCREENS]


def resolve(route: str | None) -> Match | None:
    """The screen for a route ("/patients/12/check-in?x=1" -> check_in, patient_id=12)."""
    path = (route or "/").split("?", 1)[0].split("#", 1)[0]
    for screen, regex in _COMPILED:
        found = regex.match(path)
        if found:
            return Match(screen, {name: int(value) for name, value in found.groupdict().items()})
    return None


def parent_route(screen: Screen, params: dict[str, Any]) -> str:
    """The route back from `screen` opened with `params`: its parent with the `:names` filled
    ("/patients/:patient_id" from /patients/12/effect -> "/patients/12")."""
    parts = [
        str(params[part[1:]]) if part.startswith(":") else part
        for part in screen.parent.strip("/").split("/")
    ]
    return "/" + "/".join(parts)


_BY_PATTERN = {screen.pattern: screen for screen in SCREENS}


def destination_of(screen: Screen) -> Screen | None:
    """The top-level screen `screen` sits under, following parents (itself when top-level)."""
    seen: set[str] = set()
    while screen.icon is None:
        parent = _BY_PATTERN.get(screen.parent)
        if parent is None or parent.pattern in seen:
            return None
        seen.add(parent.pattern)
        screen = parent
    return screen


def destinations(role: Role) -> list[Screen]:
    """The top-level screens this role may open, in navigation order."""
    return [
        screen for screen in SCREENS if screen.icon is not None and allowed(role, screen.permission)
    ]


def check_in_route(patient_id: int) -> str:
    return f"/patients/{patient_id}/check-in"


def timeline_route(patient_id: int) -> str:
    return f"/patients/{patient_id}"


ADMIN_HOME = "/admin/audit"


def home_for(role: Role) -> str:
    """Where a role starts and falls back to: admins the audit report, ward staff the rounds."""
    return ADMIN_HOME if role == Role.admin else HOME


def builder(name: str) -> Callable[..., ft.Control] | None:
    """`build_<name>` from app/ui/screens/<name>.py, or None while that screen is not written."""
    try:
        module = importlib.import_module(f"app.ui.screens.{name}")
    except ModuleNotFoundError as missing:
        if missing.name != f"app.ui.screens.{name}":
            raise  # the screen exists but imports something missing: a real bug
        return None
    return getattr(module, f"build_{name}", None)
