"""The incident form with the Modified Overt Aggression Scale (MOAS), and, for nurses, starting
a restraint or seclusion episode from it. The form is kept as a draft while it is filled in.

`IncidentForm` is the form without Flet (tested on real services); the screen draws it.
"""

import asyncio
import contextlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import flet as ft

from app.services.access import Permission, allowed
from app.services.drafts import DraftRead, close_draft, open_drafts, save_draft
from app.services.incidents import record_incident, start_restraint
from app.services.rounds import rounds_for
from app.services.wards import patient_header
from app.ui.context import ScreenContext
from app.ui.errors import guarded
from app.ui.labels import LOCATIONS
from app.ui.routes import timeline_route
from app.ui.theme import BIG_TARGET, TARGET, Palette
from models.codes import IncidentType, Injury, Location, Measure, RestraintKind, Role
from models.incidents import MOAS_WEIGHTS, moas_total

FORM = "incident"
# A draft is written this long after the last change, not on every keystroke.
DRAFT_DELAY_S = 1.5
# Times typed a little ahead of the server clock are "now" (clocks drift); further is yesterday.
AHEAD_TOLERANCE = timedelta(minutes=5)

INCIDENT_TYPES: dict[IncidentType, str] = {
    IncidentType.verbal_aggression: "Verbal aggression",
    IncidentType.physical_aggression_peer: "Physical aggression (peer)",
    IncidentType.physical_aggression_staff: "Physical aggression (staff)",
    IncidentType.self_harm: "Self-harm",
    IncidentType.suicide_attempt: "Suicide attempt or gesture",
    IncidentType.elopement: "Elopement / AWOL",
    IncidentType.fall: "Fall",
    IncidentType.property_damage: "Property damage",
    IncidentType.contraband: "Contraband",
    IncidentType.sexually_inappropriate: "Sexually inappropriate",
    IncidentType.medical_emergency: "Medical emergency",
    IncidentType.medication_refusal: "Medication refusal",
    IncidentType.other: "Other",
}

INJURIES: dict[Injury, str] = {
    Injury.none: "No injury",
    Injury.minor: "Minor",
    Injury.needed_treatment: "Needed treatment",
    Injury.serious: "Serious",
}

MEASURES: dict[Measure, str] = {
    Measure.verbal_de_escalation: "Verbal de-escalation",
    Measure.prn_offered: "PRN offered",
    Measure.prn_given: "PRN given",
    Measure.time_out: "Time-out",
    Measure.seclusion: "Seclusion",
    Measure.physical_hold: "Physical hold",
    Measure.mechanical_restraint: "Mechanical restraint",
}

RESTRAINT_KINDS: dict[RestraintKind, str] = {
    RestraintKind.seclusion: "Seclusion",
    RestraintKind.physical_hold: "Physical hold",
    RestraintKind.mechanical_restraint: "Mechanical restraint",
}


@dataclass(frozen=True)
class MoasCategory:
    name: str  # the IncidentCreate field is moas_<name>
    title: str
    weight: int
    anchors: tuple[str, str, str, str, str]  # ratings 0-4


# Short anchors after Kay et al. 1988 (CLINICAL.md); each category is rated 0-4 and weighted.
MOAS: tuple[MoasCategory, ...] = (
    MoasCategory(
        "verbal",
        "Verbal aggression",
        MOAS_WEIGHTS["verbal"],
        (
            "None",
            "Shouts angrily, curses mildly or makes personal insults",
            "Curses viciously, is obscene, severe angry outbursts",
            "Impulsively threatens violence to others or self",
            "Threatens violence repeatedly or deliberately",
        ),
    ),
    MoasCategory(
        "property",
        "Aggression against property",
        MOAS_WEIGHTS["property"],
        (
            "None",
            "Slams door, rips clothing, urinates on floor",
            "Throws objects down, kicks furniture, defaces walls",
            "Breaks objects, smashes windows",
            "Sets fires, throws objects dangerously",
        ),
    ),
    MoasCategory(
        "self",
        "Aggression against self",
        MOAS_WEIGHTS["self"],
        (
            "None",
            "Picks or scratches skin, pulls hair, hits self without injury",
            "Bangs head, hits fists into walls, throws self on floor",
            "Minor cuts, bruises, burns or welts on self",
            "Major injury or suicide attempt",
        ),
    ),
    MoasCategory(
        "physical",
        "Physical aggression against others",
        MOAS_WEIGHTS["physical"],
        (
            "None",
            "Menacing gestures, swings at people, grabs clothing",
            "Strikes, pushes, scratches, pulls hair, without injury",
            "Attacks causing mild injury (bruises, sprains, welts)",
            "Attacks causing severe injury (fractures, deep cuts, loss of consciousness)",
        ),
    ),
)
MOAS_MAX = sum(category.weight * 4 for category in MOAS)


def moas_total_label(verbal: int, property: int, self_: int, physical: int) -> str:
    """ "MOAS 14 of 40 (verbal 2x1, property 0x2, self 0x3, physical 3x4)"."""
    total = moas_total(verbal, property, self_, physical)
    parts = ", ".join(
        f"{category.name} {rating}x{category.weight}"
        for category, rating in zip(MOAS, (verbal, property, self_, physical), strict=True)
    )
    return f"MOAS {total} of {MOAS_MAX} ({parts})"


_TIME = re.compile(r"^\s*(\d{1,2})[:.h]?(\d{2})\s*$")


def parse_local_time(text: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    """A ward-local "14:05" (or "1405", "9.30") as the latest such moment not after now.

    A time a little ahead of now (clock drift) is now's day; one further ahead is yesterday's,
    as when an incident at 23:50 is written up at 00:20. None when it is not a time.
    """
    found = _TIME.match(text or "")
    if not found:
        return None
    hour, minute = int(found.group(1)), int(found.group(2))
    if hour > 23 or minute > 59:
        return None
    local_now = now.astimezone(zone)
    moment = datetime(local_now.year, local_now.month, local_now.day, hour, minute, tzinfo=zone)
    if moment - now > AHEAD_TOLERANCE:
        day = local_now.date() - timedelta(days=1)
        moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    return min(moment.astimezone(now.tzinfo), now)


def local_time_text(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%H:%M}"


def day_word(moment: datetime, now: datetime, zone: ZoneInfo) -> str:
    """ "today", "yesterday" or the date, for the time field's helper line."""
    day, today = moment.astimezone(zone).date(), now.astimezone(zone).date()
    if day == today:
        return "today"
    if (today - day).days == 1:
        return "yesterday"
    return f"{day:%a} {day.day} {day:%b}"


@dataclass
class RestraintPart:
    """Starting a restraint or seclusion episode with the incident (nurses only)."""

    kind: RestraintKind | None = None
    ordered_by: str = ""
    ordered_time: str = ""  # ward-local "HH:MM"; empty means the incident's save time
    started_time: str = ""
    release_criteria: str = ""
    client_key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def missing(self) -> list[str]:
        problems = []
        if self.kind is None:
            problems.append("Choose restraint or seclusion.")
        if not self.ordered_by.strip():
            problems.append("Say who ordered the restraint or seclusion.")
        return problems

    def as_request(
        self, patient_id: int, incident_id: int | None, now: datetime, zone: ZoneInfo
    ) -> dict[str, Any]:
        """What `start_restraint` takes; an empty or unreadable time is now."""
        ordered = parse_local_time(self.ordered_time, now, zone) or now
        started = parse_local_time(self.started_time, now, zone) or now
        return {
            "patient_id": patient_id,
            "incident_id": incident_id,
            "kind": self.kind,
            "ordered_at": ordered,
            "ordered_by": self.ordered_by,
            "started_at": started,
            "release_criteria": self.release_criteria,
            "client_key": self.client_key,
        }


# Measures that are themselves a restraint or seclusion, most restrictive first.
_RESTRAINT_MEASURES = (
    (Measure.mechanical_restraint, RestraintKind.mechanical_restraint),
    (Measure.physical_hold, RestraintKind.physical_hold),
    (Measure.seclusion, RestraintKind.seclusion),
)

_TEXT_FIELDS = (
    "antecedent",
    "behaviour",
    "means",
    "target",
    "alternatives_tried",
    "staff_involved",
    "notified",
    "follow_up",
)


@dataclass
class IncidentForm:
    """An incident as it is being filled in; one form key for as long as it is open."""

    patient_id: int | None
    occurred_at: datetime
    client_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    incident_type: IncidentType | None = None
    location: Location | None = None
    injury: Injury = Injury.none
    measures: set[Measure] = field(default_factory=set)
    moas: dict[str, int] = field(default_factory=lambda: {c.name: 0 for c in MOAS})
    texts: dict[str, str] = field(default_factory=lambda: dict.fromkeys(_TEXT_FIELDS, ""))
    restraint: RestraintPart | None = None
    # The incident's id once saved: a retry after a failed restraint does not save it again.
    saved_id: int | None = None
    touched: bool = False

    @classmethod
    def open(cls, patient_id: int | None, now: datetime) -> "IncidentForm":
        """A new form, timed now."""
        return cls(patient_id=patient_id, occurred_at=now)

    def set(self, name: str, value: Any) -> None:
        if name in _TEXT_FIELDS:
            self.texts[name] = value or ""
        elif name in ("patient_id", "incident_type", "location", "injury", "occurred_at"):
            setattr(self, name, value)
        else:
            raise KeyError(name)
        self.touched = True

    def toggle_measure(self, measure: Measure) -> None:
        self.measures.symmetric_difference_update({measure})
        self.touched = True

    def rate(self, category: str, rating: int) -> None:
        if category not in self.moas or not 0 <= rating <= 4:
            raise ValueError(f"MOAS {category} {rating}")
        self.moas[category] = rating
        self.touched = True

    @property
    def moas_total(self) -> int:
        return moas_total(*(self.moas[c.name] for c in MOAS))

    def moas_label(self) -> str:
        return moas_total_label(*(self.moas[c.name] for c in MOAS))

    def suggested_restraint(self) -> RestraintKind | None:
        """The episode the chosen measures imply, the most restrictive first."""
        for measure, kind in _RESTRAINT_MEASURES:
            if measure in self.measures:
                return kind
        return None

    def start_restraint(self, on: bool) -> None:
        """Add or remove the restraint part, its kind taken from the measures when it fits."""
        if on and self.restraint is None:
            self.restraint = RestraintPart(kind=self.suggested_restraint())
        elif not on:
            self.restraint = None
        self.touched = True

    def missing(self) -> list[str]:
        """What must still be chosen, in the screen's words."""
        problems = []
        if self.patient_id is None:
            problems.append("Choose the patient.")
        if self.incident_type is None:
            problems.append("Choose the kind of incident.")
        if self.location is None:
            problems.append("Choose where it happened.")
        if self.restraint is not None:
            problems += self.restraint.missing()
        return problems

    def as_request(self) -> dict[str, Any]:
        """The form as `record_incident` takes it."""
        return {
            "patient_id": self.patient_id,
            "occurred_at": self.occurred_at,
            "incident_type": self.incident_type,
            "location": self.location,
            "injury": self.injury,
            "measures": [m for m in Measure if m in self.measures],
            **{f"moas_{name}": rating for name, rating in self.moas.items()},
            **self.texts,
            "client_key": self.client_key,
        }

    def to_draft(self) -> dict[str, Any]:
        """The fields to keep as a draft (JSON)."""
        draft: dict[str, Any] = {
            "occurred_at": self.occurred_at.isoformat(),
            "incident_type": self.incident_type,
            "location": self.location,
            "injury": self.injury,
            "measures": [m.value for m in Measure if m in self.measures],
            "moas": dict(self.moas),
            "texts": dict(self.texts),
        }
        if self.restraint is not None:
            draft["restraint"] = {
                "kind": self.restraint.kind,
                "ordered_by": self.restraint.ordered_by,
                "ordered_time": self.restraint.ordered_time,
                "started_time": self.restraint.started_time,
                "release_criteria": self.restraint.release_criteria,
                "client_key": self.restraint.client_key,
            }
        return draft

    @classmethod
    def from_draft(cls, draft: DraftRead) -> "IncidentForm":
        """The form as it was left, under the same form key."""
        fields = draft.fields
        form = cls(
            patient_id=draft.patient_id,
            occurred_at=datetime.fromisoformat(fields["occurred_at"]),
            client_key=draft.client_key,
            incident_type=_code(IncidentType, fields.get("incident_type")),
            location=_code(Location, fields.get("location")),
            injury=_code(Injury, fields.get("injury")) or Injury.none,
            measures={m for m in (_code(Measure, v) for v in fields.get("measures", [])) if m},
            touched=True,
        )
        for category in MOAS:
            rating = (fields.get("moas") or {}).get(category.name)
            if isinstance(rating, int) and 0 <= rating <= 4:
                form.moas[category.name] = rating
        for name in _TEXT_FIELDS:
            form.texts[name] = str((fields.get("texts") or {}).get(name) or "")
        kept = fields.get("restraint")
        if isinstance(kept, dict):
            form.restraint = RestraintPart(
                kind=_code(RestraintKind, kept.get("kind")),
                ordered_by=str(kept.get("ordered_by") or ""),
                ordered_time=str(kept.get("ordered_time") or ""),
                started_time=str(kept.get("started_time") or ""),
                release_criteria=str(kept.get("release_criteria") or ""),
                client_key=str(kept.get("client_key") or uuid.uuid4().hex),
            )
        return form


def _code(enum, value):
    try:
        return enum(value) if value is not None else None
    except ValueError:
        return None  # a vocabulary changed since the draft was kept: ask again


def may_start_restraint(role: Role) -> bool:
    return allowed(role, Permission.record_restraint)


def draft_to_offer(drafts: list[DraftRead], patient_id: int | None) -> DraftRead | None:
    """The newest unfinished incident draft for this patient (any patient on /incidents/new)."""
    for draft in drafts:
        if draft.form == FORM and (patient_id is None or draft.patient_id == patient_id):
            return draft
    return None


def _chip(page: ft.Page, label: str, selected: bool, on_pick) -> ft.Chip:
    return ft.Chip(
        label=ft.Text(label, size=15),
        selected=selected,
        show_checkmark=False,
        height=TARGET - 8,
        on_select=guarded(page, lambda _: on_pick()),
    )


class IncidentScreen:
    """The incident form's controls, drafts and saving."""

    def __init__(self, ctx: ScreenContext, patient_id: int | None) -> None:
        self.ctx = ctx
        self.colors: Palette = ctx.colors
        self.zone = ZoneInfo(ctx.ward.time_zone)
        self.fixed_patient = patient_id
        self.form = IncidentForm.open(patient_id, ctx.now())
        self.nurse = may_start_restraint(ctx.staff.role)
        self.patients: list[tuple[int, str]] = []
        self.patient_name = ""
        self.saving = False
        self._draft_task: asyncio.Task | None = None
        self.body = ft.Column(spacing=14, horizontal_alignment=ft.CrossAxisAlignment.STRETCH)
        self.list = ft.ListView(
            expand=True,
            padding=ft.Padding.symmetric(horizontal=12, vertical=12),
            controls=[self.body],
        )
        self.root = self.list

    async def load(self) -> None:
        db, actor = self.ctx.db, self.ctx.actor
        if self.fixed_patient is not None:
            header = await self.ctx.attempt(patient_header, db, actor, self.fixed_patient)
            if header is None:
                self.body.controls = [ft.Text("This patient cannot be shown.", size=18)]
                self.body.update()
                return
            self.patient_name = f"{header.display_name} · Room {header.room_bed}"
        else:
            rounds = await self.ctx.attempt(rounds_for, db, actor, self.ctx.ward.id)
            rows = rounds.rows if rounds else []
            self.patients = [
                (
                    row.patient_id,
                    f"{row.room}{'-' + row.bed if row.bed else ''} · {row.display_name}",
                )
                for row in sorted(rows, key=lambda row: (row.room, row.bed))
            ]
        drafts = await self.ctx.call(open_drafts, db, actor)
        offer = draft_to_offer(drafts, self.fixed_patient)
        self.draw(offer)
        self.body.update()

    # Drawing

    def draw(self, offer: DraftRead | None = None) -> None:
        colors = self.colors
        form = self.form
        page = self.ctx.page
        # Every chip on the form and whether it is chosen: a tap flips `selected` on these
        # same controls, so only that property travels to the browser.
        self.chip_states: list[tuple[ft.Chip, Any]] = []
        controls: list[ft.Control] = [
            ft.Text("Incident", size=24, weight=ft.FontWeight.W_700, color=colors.text)
        ]
        if offer is not None:
            controls.append(self._offer(offer))
        if self.fixed_patient is not None:
            controls.append(ft.Text(self.patient_name, size=18, color=colors.text))
        else:
            controls.append(
                ft.Dropdown(
                    label="Patient",
                    value=str(form.patient_id) if form.patient_id else None,
                    options=[
                        ft.DropdownOption(key=str(pid), text=name) for pid, name in self.patients
                    ],
                    text_size=16,
                    expand=True,
                    on_select=guarded(page, self._patient_picked),
                )
            )
        self.time_field = ft.TextField(
            label="Time",
            value=local_time_text(form.occurred_at, self.zone),
            helper=day_word(form.occurred_at, self.ctx.now(), self.zone),
            width=140,
            text_size=18,
            keyboard_type=ft.KeyboardType.DATETIME,
            on_change=guarded(page, self._time_changed),
        )
        controls += [
            ft.Row(
                wrap=True,
                spacing=10,
                vertical_alignment=ft.CrossAxisAlignment.START,
                controls=[
                    self.time_field,
                    ft.OutlinedButton("Now", height=TARGET, on_click=guarded(page, self._now)),
                ],
            ),
            self._section("What happened"),
            self._chips(INCIDENT_TYPES, lambda code: form.incident_type == code, self._pick_type),
            self._section("Where"),
            self._chips(LOCATIONS, lambda code: form.location == code, self._pick_location),
            self._text("antecedent", "Before it: what led up to it", lines=2),
            self._text("behaviour", "What the patient did", lines=2),
            self._section("Injury"),
            self._chips(INJURIES, lambda code: form.injury == code, self._pick_injury),
            self._section("Measures taken"),
            self._chips(MEASURES, lambda code: code in form.measures, self._toggle_measure),
            self._moas(),
            ft.ExpansionTile(
                title=ft.Text("More details (optional)", size=16, color=colors.text),
                controls_padding=ft.Padding.symmetric(vertical=6),
                controls=[
                    self._text("means", "Means used"),
                    self._text("target", "Target"),
                    self._text("alternatives_tried", "Less restrictive alternatives tried"),
                    self._text("staff_involved", "Staff involved"),
                    self._text("notified", "Who was notified, and when"),
                    self._text("follow_up", "Follow-up"),
                ],
            ),
        ]
        if self.nurse:
            self.restraint_box = ft.Container(
                padding=ft.Padding.all(12), border_radius=10, bgcolor=colors.card
            )
            self._draw_restraint()
            controls.append(self.restraint_box)
        self.problems = ft.Text("", size=15, color=colors.overdue, visible=False)
        self.save = ft.FilledButton(
            "Save incident",
            icon=ft.Icons.SAVE_OUTLINED,
            height=BIG_TARGET,
            on_click=guarded(page, self._save),
        )
        controls += [self.problems, self.save, ft.Container(height=24)]
        self.body.controls = controls

    def _section(self, text: str) -> ft.Text:
        return ft.Text(text, size=17, weight=ft.FontWeight.W_600, color=self.colors.text)

    def _chips(self, options: dict, chosen, pick) -> ft.Row:
        chips = []
        for code, label in options.items():
            chip = _chip(
                self.ctx.page, label, chosen(code), lambda code=code: self._picked(pick, code)
            )
            self.chip_states.append((chip, lambda code=code: chosen(code)))
            chips.append(chip)
        return ft.Row(wrap=True, spacing=6, run_spacing=6, controls=chips)

    def _picked(self, pick, code) -> None:
        pick(code)
        for chip, chosen in self.chip_states:
            chip.selected = chosen()
        self.body.update()
        self._draft_soon()

    def _text(self, name: str, label: str, lines: int = 1) -> ft.TextField:
        def changed(event: ft.Event[ft.TextField]) -> None:
            self.form.set(name, event.control.value)
            self._draft_soon()

        return ft.TextField(
            label=label,
            value=self.form.texts[name],
            multiline=lines > 1,
            min_lines=lines,
            max_lines=6 if lines > 1 else 1,
            max_length=4000 if lines > 1 else 1000,
            text_size=16,
            on_change=changed,
        )

    def _moas(self) -> ft.Control:
        colors = self.colors
        form = self.form
        self.moas_total = ft.Text(
            form.moas_label(), size=17, weight=ft.FontWeight.W_700, color=colors.text
        )
        cards = []
        for category in MOAS:
            group = ft.RadioGroup(
                value=str(form.moas[category.name]),
                on_change=guarded(
                    self.ctx.page,
                    lambda event, name=category.name: self._rate(name, int(event.control.value)),
                ),
                content=ft.Column(
                    spacing=0,
                    controls=[
                        # A tile, not a Radio's own label: that label never wraps, and the
                        # anchors are longer than a phone is wide.
                        ft.ListTile(
                            leading=ft.Radio(value=str(rating)),
                            title=ft.Text(f"{rating} · {anchor}", size=15, color=colors.text),
                            toggle_inputs=True,
                            dense=True,
                            min_height=TARGET,
                            content_padding=ft.Padding.only(left=0, right=4),
                            horizontal_spacing=4,
                            min_leading_width=40,
                        )
                        for rating, anchor in enumerate(category.anchors)
                    ],
                ),
            )
            cards.append(
                ft.Container(
                    col={"xs": 12, "md": 6},
                    padding=ft.Padding.all(10),
                    border_radius=10,
                    bgcolor=colors.card,
                    content=ft.Column(
                        spacing=2,
                        controls=[
                            ft.Text(
                                f"{category.title} (weight {category.weight})",
                                size=16,
                                weight=ft.FontWeight.W_600,
                                color=colors.text,
                            ),
                            group,
                        ],
                    ),
                )
            )
        return ft.Column(
            spacing=8,
            controls=[
                self._section("Modified Overt Aggression Scale"),
                ft.ResponsiveRow(cards, spacing=8, run_spacing=8),
                # Its own node, announced when it changes, so the total is heard as it is set.
                ft.Semantics(container=True, live_region=True, content=self.moas_total),
            ],
        )

    def _draw_restraint(self) -> None:
        """The restraint part, drawn again when it is switched on or off."""
        # Its chips are made again: forget the old ones, keep the rest of the form's.
        old = {id(chip) for chip in getattr(self, "restraint_chips", [])}
        self.chip_states = [
            (chip, chosen) for chip, chosen in self.chip_states if id(chip) not in old
        ]
        first_new = len(self.chip_states)
        colors = self.colors
        page = self.ctx.page
        part = self.form.restraint
        toggle = ft.Switch(
            label="Start a restraint or seclusion episode",
            value=part is not None,
            label_text_style=ft.TextStyle(size=16, color=colors.text),
            on_change=guarded(page, self._restraint_toggled),
        )
        controls: list[ft.Control] = [toggle]
        if part is not None:

            def text(name: str, label: str, **extra) -> ft.TextField:
                def changed(event: ft.Event[ft.TextField]) -> None:
                    setattr(part, name, event.control.value or "")
                    self._draft_soon()

                return ft.TextField(
                    label=label,
                    value=getattr(part, name),
                    text_size=16,
                    on_change=changed,
                    **extra,
                )

            controls += [
                self._chips(RESTRAINT_KINDS, lambda code: part.kind == code, self._pick_kind),
                text("ordered_by", "Ordered by (physician)", max_length=120),
                ft.Row(
                    wrap=True,
                    spacing=10,
                    controls=[
                        text("ordered_time", "Order time", hint_text="now", width=150),
                        text("started_time", "Start time", hint_text="now", width=150),
                    ],
                ),
                text("release_criteria", "Release criteria told to the patient", max_length=1000),
                ft.Text(
                    "Deadlines (order length by age, face-to-face in 1 h, guardian notice in "
                    "24 h) are timed from these and shown on the rounds screen.",
                    size=14,
                    color=colors.muted,
                ),
            ]
        self.restraint_chips = [chip for chip, _ in self.chip_states[first_new:]]
        self.restraint_box.content = ft.Column(controls, spacing=10)

    def _offer(self, draft: DraftRead) -> ft.Control:
        colors = self.colors
        page = self.ctx.page
        when = local_time_text(draft.updated_at, self.zone)

        async def resume(_: ft.Event) -> None:
            self.form = IncidentForm.from_draft(draft)
            if self.fixed_patient is not None:
                self.form.patient_id = self.fixed_patient
            self.draw()
            self.body.update()

        async def discard(_: ft.Event) -> None:
            await self.ctx.call(close_draft, self.ctx.db, self.ctx.actor, draft.client_key)
            self.draw()
            self.body.update()

        return ft.Container(
            padding=ft.Padding.all(12),
            border_radius=10,
            bgcolor=colors.chip,
            content=ft.Column(
                spacing=8,
                controls=[
                    ft.Text(
                        f"You have an unfinished incident form from {when}.",
                        size=16,
                        color=colors.text,
                    ),
                    ft.Row(
                        wrap=True,
                        spacing=10,
                        controls=[
                            ft.FilledButton(
                                "Continue it", height=TARGET, on_click=guarded(page, resume)
                            ),
                            ft.OutlinedButton(
                                "Discard it", height=TARGET, on_click=guarded(page, discard)
                            ),
                        ],
                    ),
                ],
            ),
        )

    # Events

    def _patient_picked(self, event: ft.Event[ft.Dropdown]) -> None:
        self.form.set("patient_id", int(event.control.value))
        self._draft_soon()

    def _time_changed(self, event: ft.Event[ft.TextField]) -> None:
        now = self.ctx.now()
        moment = parse_local_time(event.control.value or "", now, self.zone)
        if moment is None:
            self.time_field.error = "Type the time as HH:MM"
            self.time_field.helper = None
        else:
            self.form.set("occurred_at", moment)
            self.time_field.error = None
            self.time_field.helper = day_word(moment, now, self.zone)
            self._draft_soon()
        self.time_field.update()

    def _now(self, _: ft.Event) -> None:
        now = self.ctx.now()
        self.form.set("occurred_at", now)
        self.time_field.value = local_time_text(now, self.zone)
        self.time_field.error = None
        self.time_field.helper = "today"
        self.time_field.update()
        self._draft_soon()

    def _pick_type(self, code: IncidentType) -> None:
        self.form.set("incident_type", code)

    def _pick_location(self, code: Location) -> None:
        self.form.set("location", code)

    def _pick_injury(self, code: Injury) -> None:
        self.form.set("injury", code)

    def _toggle_measure(self, code: Measure) -> None:
        self.form.toggle_measure(code)
        part = self.form.restraint
        if part is not None and part.kind is None:
            part.kind = self.form.suggested_restraint()

    def _pick_kind(self, code: RestraintKind) -> None:
        self.form.restraint.kind = code

    def _rate(self, name: str, rating: int) -> None:
        self.form.rate(name, rating)
        self.moas_total.value = self.form.moas_label()
        self.moas_total.update()
        self._draft_soon()

    def _restraint_toggled(self, event: ft.Event[ft.Switch]) -> None:
        self.form.start_restraint(bool(event.control.value))
        self._draw_restraint()
        self.restraint_box.update()
        self._draft_soon()

    # Drafts and saving

    def _draft_soon(self) -> None:
        """Keep the draft DRAFT_DELAY_S after the last change (one write per pause)."""
        if self._draft_task is not None:
            self._draft_task.cancel()
        self._draft_task = self.ctx.spawn(self._keep_draft)

    async def _keep_draft(self) -> None:
        await asyncio.sleep(DRAFT_DELAY_S)
        form = self.form
        if not form.touched or form.patient_id is None or self.saving:
            return
        # A draft is a convenience: failing to keep one must never disturb the form.
        with contextlib.suppress(Exception):
            await self.ctx.call(
                save_draft,
                self.ctx.db,
                self.ctx.actor,
                client_key=form.client_key,
                form=FORM,
                patient_id=form.patient_id,
                fields=form.to_draft(),
            )

    async def _save(self, _: ft.Event) -> None:
        if self.saving:
            return  # a second tap while the first save is on its way
        form = self.form
        missing = form.missing()
        if missing:
            self.problems.value, self.problems.visible = " ".join(missing), True
            self.problems.update()
            return
        self.problems.visible = False
        self.saving = True
        if self._draft_task is not None:
            self._draft_task.cancel()
        self.save.disabled, self.save.content = True, "Saving…"
        self.body.update()
        try:
            message = await self._store()
        finally:
            self.saving = False
            self.save.disabled, self.save.content = False, "Save incident"
            self.body.update()
        if message is None:
            return
        await self.ctx.call(close_draft, self.ctx.db, self.ctx.actor, form.client_key)
        await self.ctx.saved()
        self.ctx.tell(message)
        await self.ctx.navigate(timeline_route(form.patient_id))

    async def _store(self) -> str | None:
        """Save the incident, then the episode; the message to show, or None if refused."""
        form = self.form
        db, actor = self.ctx.db, self.ctx.actor
        if form.saved_id is None:
            incident = await self.ctx.attempt(record_incident, db, actor, form.as_request())
            if incident is None:
                return None
            form.saved_id = incident.id
        message = f"Incident saved ({form.moas_label().split(' (')[0]})."
        if form.restraint is not None:
            episode = await self.ctx.attempt(
                start_restraint,
                db,
                actor,
                form.restraint.as_request(
                    form.patient_id, form.saved_id, self.ctx.now(), self.zone
                ),
            )
            if episode is None:
                self.problems.value = (
                    "The incident is saved; the restraint or seclusion episode is not. "
                    "Correct it and tap Save again."
                )
                self.problems.visible = True
                return None
            due = local_time_text(episode.face_to_face_due_at, self.zone)
            message += f" {RESTRAINT_KINDS[episode.kind]} started: face-to-face by {due}."
        return message


def build_incident(ctx: ScreenContext, patient_id: int | None = None) -> ft.Control:
    """The incident form (routes /patients/<patient_id>/incident and /incidents/new)."""
    screen = IncidentScreen(ctx, patient_id)
    ctx.spawn(screen.load)
    return screen.root
