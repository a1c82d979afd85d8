"""Shift handoff for the charge nurse: ward totals first, then each patient's headline with the
details a tap away. Read in a minute.

The pure half turns the `Handoff` read model into tiles and cards (tested without Flet).
"""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import flet as ft

from app.services.handoff import Handoff, HandoffPatient, HandoffTotals, handoff_for
from app.services.timeline import words
from app.ui.context import ScreenContext
from app.ui.errors import guarded
from app.ui.labels import level_label
from app.ui.routes import timeline_route
from app.ui.theme import TARGET, Palette

QUIET = "Nothing to report"


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    alert: bool  # worth the charge nurse's eye


def _times(count: int, thing: str) -> str:
    return f"{count} {thing}{'' if count == 1 else 's'}"


def totals_tiles(totals: HandoffTotals) -> list[Tile]:
    """The ward's numbers for the shift, the ones that need attention first."""
    restraints = str(totals.restraints)
    if totals.restraints_open:
        restraints += f" ({totals.restraints_open} ongoing)"
    tiles = [
        Tile("Incidents", str(totals.incidents), totals.incidents > 0),
        Tile("Restraint / seclusion", restraints, totals.restraints > 0),
        Tile("Missed checks", str(totals.checks_missed), totals.checks_missed > 0),
        Tile("Late checks", str(totals.checks_late), totals.checks_late > 0),
        Tile("Groups refused or missed", str(totals.groups_missed), False),
        Tile("Poor sleep", str(totals.poor_sleep), False),
        Tile("Level changes", str(totals.level_changes), False),
        Tile("Checks done", str(totals.checks_done), False),
        Tile("Patients", str(totals.patients), False),
    ]
    return sorted(tiles, key=lambda tile: not tile.alert)


def shift_line(handoff: Handoff, zone: ZoneInfo) -> str:
    """ "Day shift · 07:00-15:00 · Demo Ward 4 North"."""
    start, end = handoff.start.astimezone(zone), handoff.end.astimezone(zone)
    name = f"{handoff.shift_name.capitalize()} shift" if handoff.shift_name else "Shift"
    return f"{name} · {start:%H:%M}-{end:%H:%M} · {handoff.ward_name}"


@dataclass(frozen=True)
class PatientCard:
    patient_id: int
    title: str
    level: str
    headline: str
    quiet: bool
    serious: bool  # an incident or a restraint this shift
    details: list[str]


def _at(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%H:%M}"


def patient_card(patient: HandoffPatient, zone: ZoneInfo) -> PatientCard:
    """One patient's headline and the details behind it, in the ward's words."""
    details = []
    checks = patient.checks
    line = _times(checks.done, "check")
    if checks.late:
        line += f", {checks.late} late"
    if checks.missed:
        line += f", {checks.missed} missed"
    if checks.reasons:
        reasons = ", ".join(f"{reason} x{count}" for reason, count in checks.reasons.items())
        line += f" (reasons: {reasons})"
    details.append(line)
    for change in patient.level_changes:
        details.append(f"{_at(change.effective_at, zone)} level {change.label}")
    for incident in patient.incidents:
        details.append(
            f"{_at(incident.at, zone)} incident: {words(incident.incident_type)}, "
            f"MOAS {incident.moas_total}"
        )
    for episode in patient.restraints:
        state = "ongoing" if episode.open else f"ended {_at(episode.ended_at, zone)}"
        details.append(f"{_at(episode.started_at, zone)} {words(episode.kind)} started, {state}")
    for group in patient.groups_missed:
        details.append(f"{_at(group.at, zone)} {words(group.attendance)} {group.group}")
    for concern in patient.poor_sleep:
        if concern.source == "reported":
            quality = f", {concern.quality}" if concern.quality else ""
            details.append(
                f"Night of {concern.night_of:%b} {concern.night_of.day}: "
                f"{concern.hours:g} h reported{quality}"
            )
        else:
            details.append(
                f"Night of {concern.night_of:%b} {concern.night_of.day}: "
                f"about {concern.hours:.1f} h asleep on checks"
            )
    if patient.last_mood is not None:
        rated = []
        if patient.last_mood.mood is not None:
            rated.append(f"mood {patient.last_mood.mood}/10")
        if patient.last_mood.anxiety is not None:
            rated.append(f"anxiety {patient.last_mood.anxiety}/10")
        details.append(f"Last rating {_at(patient.last_mood.at, zone)}: " + ", ".join(rated))
    for note in patient.notes:
        by = f" ({note.staff_name})" if note.staff_name else ""
        details.append(f"{_at(note.at, zone)} note{by}: {note.note}")
    room = f"{patient.room}-{patient.bed}" if patient.bed else patient.room
    return PatientCard(
        patient_id=patient.patient_id,
        title=f"{room} · {patient.display_name}",
        level=level_label(patient.level.level if patient.level else None),
        headline=patient.headline[:1].upper() + patient.headline[1:],
        quiet=patient.headline == QUIET,
        serious=bool(patient.incidents or patient.restraints),
        details=details,
    )


class HandoffScreen:
    def __init__(self, ctx: ScreenContext) -> None:
        self.ctx = ctx
        self.colors: Palette = ctx.colors
        self.zone = ZoneInfo(ctx.ward.time_zone)
        self.body = ft.Column(
            spacing=12,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
            controls=[ft.ProgressRing(width=28, height=28)],
        )
        self.list = ft.ListView(
            expand=True,
            padding=ft.Padding.symmetric(horizontal=12, vertical=12),
            controls=[self.body],
        )
        self.root = self.list

    async def load(self) -> None:
        handoff = await self.ctx.attempt(handoff_for, self.ctx.db, self.ctx.actor, self.ctx.ward.id)
        if handoff is None:
            self.body.controls = [
                ft.Text(
                    "The shift handoff is for the charge nurse.", size=18, color=self.colors.text
                )
            ]
        else:
            self.body.controls = self._draw(handoff)
        self.body.update()

    def _draw(self, handoff: Handoff) -> list[ft.Control]:
        colors = self.colors
        page = self.ctx.page
        tiles = [
            ft.Container(
                col={"xs": 4, "md": 2},
                padding=ft.Padding.symmetric(horizontal=10, vertical=8),
                border_radius=10,
                bgcolor=colors.overdue_card if tile.alert else colors.card,
                content=ft.Column(
                    spacing=0,
                    controls=[
                        ft.Text(
                            tile.value,
                            size=22,
                            weight=ft.FontWeight.W_700,
                            color=colors.overdue if tile.alert else colors.text,
                        ),
                        ft.Text(tile.label, size=13, color=colors.muted, max_lines=2),
                    ],
                ),
            )
            for tile in totals_tiles(handoff.totals)
        ]
        cards = [patient_card(patient, self.zone) for patient in handoff.patients]
        reported = [card for card in cards if not card.quiet]
        quiet = [card for card in cards if card.quiet]
        controls: list[ft.Control] = [
            ft.Row(
                wrap=True,
                alignment=ft.MainAxisAlignment.SPACE_BETWEEN,
                vertical_alignment=ft.CrossAxisAlignment.CENTER,
                controls=[
                    ft.Text(
                        "Shift handoff", size=24, weight=ft.FontWeight.W_700, color=colors.text
                    ),
                    ft.Semantics(
                        label="Refresh handoff",
                        button=True,
                        container=True,
                        content=ft.IconButton(
                            ft.Icons.REFRESH,
                            tooltip="Refresh",
                            icon_color=colors.muted,
                            width=TARGET,
                            height=TARGET,
                            on_click=guarded(page, lambda _: self.load()),
                        ),
                    ),
                ],
            ),
            ft.Text(shift_line(handoff, self.zone), size=16, color=colors.muted),
            ft.ResponsiveRow(tiles, spacing=8, run_spacing=8),
            ft.Text(
                f"{len(reported)} of {len(cards)} patients with something to hand over",
                size=17,
                weight=ft.FontWeight.W_600,
                color=colors.text,
            ),
            *[self._card(card) for card in reported],
        ]
        if quiet:
            controls.append(
                ft.Text(
                    f"{QUIET} ({len(quiet)})",
                    size=17,
                    weight=ft.FontWeight.W_600,
                    color=colors.text,
                )
            )
            controls += [self._card(card) for card in quiet]
        return controls

    def _card(self, card: PatientCard) -> ft.Control:
        colors = self.colors
        page = self.ctx.page
        accent = colors.overdue if card.serious else colors.text
        return ft.Container(
            border_radius=10,
            bgcolor=colors.card,
            content=ft.ExpansionTile(
                title=ft.Text(card.title, size=17, weight=ft.FontWeight.W_600, color=colors.text),
                subtitle=ft.Text(
                    f"{card.level} · {card.headline}",
                    size=15,
                    color=colors.muted if card.quiet else accent,
                ),
                controls_padding=ft.Padding.only(left=16, right=16, bottom=10),
                expanded_cross_axis_alignment=ft.CrossAxisAlignment.START,
                controls=[
                    *[ft.Text(line, size=15, color=colors.text) for line in card.details],
                    ft.TextButton(
                        "Open timeline",
                        icon=ft.Icons.TIMELINE,
                        height=TARGET,
                        on_click=guarded(
                            page,
                            lambda _, pid=card.patient_id: self.ctx.navigate(timeline_route(pid)),
                        ),
                    ),
                ],
            ),
        )


def build_handoff(ctx: ScreenContext) -> ft.Control:
    """The charge nurse's shift handoff (route /handoff)."""
    screen = HandoffScreen(ctx)
    ctx.spawn(screen.load)
    return screen.root
