"""Export a patient's record over a range of ward days as PDF, CSV or FHIR, downloaded by the
browser.

The file is made by `export_patient` (which checks the export permission and writes the audit
row) in a worker thread, then handed to the browser over the session's own WebSocket through
Flet's FilePicker: the browser saves it from memory. So no patient data is ever in a URL, in a
cacheable HTTP response or in browser storage, and nothing is fetched from anywhere else.
The file name carries no patient data either, as browsers keep it in their download history.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import flet as ft

from app.services.errors import ServiceError
from app.services.exports import MAX_DAYS, export_patient
from app.services.wards import PatientRead, patient_header
from app.ui.context import ScreenContext
from app.ui.date_range import DayRange, Preset, RangeChooser, last_days
from app.ui.errors import guarded
from app.ui.theme import BIG_TARGET, Palette

logger = logging.getLogger(__name__)

DEFAULT_RANGE = "30 days"
# How the audit row names where an export was made ("console" for the command line).
VIA = "web app"
PART_2_NOTICE = "This record is protected by 42 CFR Part 2: no redisclosure without consent."


@dataclass(frozen=True)
class ExportFormat:
    code: str  # as export_patient takes it
    name: str
    purpose: str
    extension: str


FORMATS = (
    ExportFormat("pdf", "PDF", "For paper: charts, the before/after summary, incidents.", "pdf"),
    ExportFormat("csv", "CSV", "Every timeline entry, for a spreadsheet.", "csv"),
    ExportFormat("fhir", "FHIR", "An R4 bundle for another health record system.", "json"),
)


def export_route(patient_id: int) -> str:
    return f"/patients/{patient_id}/export"


def export_format(code: str) -> ExportFormat:
    return next(choice for choice in FORMATS if choice.code == code)


def file_name(choice: ExportFormat, chosen: DayRange) -> str:
    """ "rounds-2026-10-22-to-2026-11-20.pdf": the range and kind, never who it is about."""
    kind = "-fhir" if choice.code == "fhir" else ""
    return f"rounds-{chosen.start.isoformat()}-to-{chosen.end.isoformat()}{kind}.{choice.extension}"


def size_text(size: int) -> str:
    """ "812 bytes", "14 KB", "1.4 MB"."""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.0f} KB"
    return f"{size / 1_000_000:.1f} MB"


def patient_days(patient: PatientRead, zone: ZoneInfo, now: datetime) -> tuple[date, date]:
    """The ward days a patient's record can hold: admission to discharge, or to today."""
    admitted = patient.admitted_at.astimezone(zone).date()
    last = (patient.discharged_at or now).astimezone(zone).date()
    return admitted, max(admitted, last)


def range_presets(first: date, last: date) -> list[Preset]:
    """Last 7, 30 and 90 days (not before admission), and the whole stay up to MAX_DAYS."""
    presets = [
        Preset(f"{days} days", lambda days=days: last_days(last, days, first=first))
        for days in (7, 30, 90)
    ]
    presets.append(Preset("Whole stay", lambda: last_days(last, MAX_DAYS, first=first)))
    return presets


def confirmation(
    choice: ExportFormat, patient: PatientRead, chosen: DayRange, size: int, name: str
) -> str:
    """What the screen says once the browser has the file."""
    return (
        f"{choice.name} of {patient.display_name} (MRN {patient.mrn}) for {chosen.text()}: "
        f"{size_text(size)}, handed to your browser as {name}. "
        "The export is recorded in the audit log under your name."
    )


class ExportScreen:
    """The export screen of one patient."""

    def __init__(self, ctx: ScreenContext, patient_id: int) -> None:
        self.ctx = ctx
        self.patient_id = patient_id
        self.colors: Palette = ctx.colors
        self.zone = ZoneInfo(ctx.ward.time_zone)
        self.patient: PatientRead | None = None
        self.chooser: RangeChooser | None = None
        self.busy = False
        # Registered with the page now (while the screen is built for an event), and kept as
        # long as the screen: the browser saves the bytes it is handed.
        self.picker = ft.FilePicker()
        self.buttons: list[ft.Control] = []
        self.status = ft.Container(visible=False, border_radius=12, padding=ft.Padding.all(14))
        self.body = ft.Column(
            spacing=12,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
            controls=[ft.ProgressRing(width=28, height=28)],
        )
        self.root = ft.ListView(
            expand=True,
            padding=ft.Padding.symmetric(horizontal=12, vertical=12),
            controls=[self.body],
        )

    async def load(self) -> None:
        """The patient's header, then the range and the three formats."""
        try:
            patient = await self.ctx.call(
                patient_header, self.ctx.db, self.ctx.actor, self.patient_id
            )
        except ServiceError as refused:
            self.body.controls = [ft.Text(refused.message, size=18, color=self.colors.text)]
            self.body.update()
            return
        self.patient = patient
        first, last = patient_days(patient, self.zone, self.ctx.now())
        self.chooser = RangeChooser(
            self.ctx.page,
            self.colors,
            self.zone,
            range_presets(first, last),
            chosen=DEFAULT_RANGE,
            first_day=first,
            last_day=last,
            limit=MAX_DAYS,
            on_change=self._range_changed,
        )
        self.body.controls = self._draw(patient)
        self.body.update()

    async def _range_changed(self, _: DayRange) -> None:
        self.status.visible = False
        self.status.update()

    async def export(self, code: str) -> None:
        """Make the file (audited by the service) and hand it to the browser."""
        if self.busy or self.patient is None or self.chooser is None:
            return
        choice = export_format(code)
        chosen = self.chooser.range
        self._set_busy(True, f"Making the {choice.name}…")
        try:
            content = await self.ctx.call(
                export_patient,
                self.ctx.db,
                self.ctx.actor,
                self.patient_id,
                fmt=choice.code,
                start=chosen.start,
                end=chosen.end,
                via=VIA,
            )
        except ServiceError as refused:
            self._set_busy(False)
            self._failed(f"Nothing was exported. {refused.message}")
            return
        except Exception:
            logger.exception("export of a patient failed")
            self._set_busy(False)
            self._failed(
                f"The {choice.name} could not be made, so nothing was exported. Try again; "
                "if it keeps failing, tell the charge nurse."
            )
            return
        name = file_name(choice, chosen)
        try:
            await self.picker.save_file(file_name=name, src_bytes=content)
        except Exception:
            logger.exception("the browser did not take an export")
            self._set_busy(False)
            self._failed(
                f"The {choice.name} was made (and is in the audit log) but your browser did not "
                "save it. Try again."
            )
            return
        self._set_busy(False)
        self._done(confirmation(choice, self.patient, chosen, len(content), name))

    # Drawing

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.busy = busy
        for button in self.buttons:
            button.disabled = busy
        if busy:
            self._show_status(
                ft.Row(
                    [
                        ft.ProgressRing(width=24, height=24),
                        ft.Text(text, size=16, color=self.colors.text, expand=True),
                    ],
                    spacing=12,
                ),
                self.colors.card,
            )
        self.body.update()

    def _done(self, text: str) -> None:
        colors = self.colors
        self._outcome(ft.Icons.CHECK_CIRCLE_OUTLINE, colors.saved, text, colors.text, colors.card)

    def _failed(self, text: str) -> None:
        colors = self.colors
        self._outcome(
            ft.Icons.ERROR_OUTLINE, colors.overdue, text, colors.overdue, colors.overdue_card
        )
        self.ctx.tell(text)

    def _outcome(self, icon: str, icon_color: str, text: str, text_color: str, fill: str) -> None:
        """The export's result above its buttons: an icon and a sentence on a card."""
        self._show_status(
            ft.Row(
                vertical_alignment=ft.CrossAxisAlignment.START,
                spacing=12,
                controls=[
                    ft.Icon(icon, color=icon_color, size=28),
                    ft.Text(text, size=16, color=text_color, expand=True),
                ],
            ),
            fill,
        )
        self.body.update()

    def _show_status(self, content: ft.Control, fill: str) -> None:
        self.status.content = content
        self.status.bgcolor = fill
        self.status.visible = True

    def _draw(self, patient: PatientRead) -> list[ft.Control]:
        colors = self.colors
        page = self.ctx.page
        self.buttons = [
            ft.FilledButton(
                f"Download {choice.name}",
                icon=ft.Icons.DOWNLOAD,
                height=BIG_TARGET,
                on_click=guarded(page, lambda _, code=choice.code: self.export(code)),
            )
            for choice in FORMATS
        ]
        formats = [
            ft.Container(
                col={"xs": 12, "md": 4},
                padding=ft.Padding.all(12),
                border_radius=12,
                bgcolor=colors.card,
                content=ft.Column(
                    spacing=8,
                    horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
                    controls=[button, ft.Text(choice.purpose, size=15, color=colors.muted)],
                ),
            )
            for button, choice in zip(self.buttons, FORMATS, strict=True)
        ]
        controls: list[ft.Control] = [
            ft.Text(patient.display_name, size=24, weight=ft.FontWeight.W_700, color=colors.text),
            ft.Text(f"Room {patient.room_bed} · MRN {patient.mrn}", size=16, color=colors.muted),
            ft.Text("Days to export", size=20, weight=ft.FontWeight.W_600, color=colors.text),
            self.chooser.root,
        ]
        if patient.substance_use_program:
            controls.append(
                ft.Container(
                    padding=ft.Padding.all(12),
                    border_radius=12,
                    bgcolor=colors.overdue_card,
                    content=ft.Text(
                        PART_2_NOTICE, size=16, weight=ft.FontWeight.W_600, color=colors.overdue
                    ),
                )
            )
        controls += [
            # Above the buttons, so what happened is in view right after a tap on a phone.
            self.status,
            ft.ResponsiveRow(formats, spacing=10, run_spacing=10),
            ft.Text(
                "Every export is recorded in the audit log with your name, the format and the "
                "days. Keep exported files as you keep the paper chart.",
                size=14,
                color=colors.muted,
            ),
        ]
        return controls


def build_export(ctx: ScreenContext, patient_id: int) -> ft.Control:
    """Export a patient's record (route /patients/<patient_id>/export)."""
    screen = ExportScreen(ctx, patient_id)
    ctx.spawn(screen.load)
    return screen.root
