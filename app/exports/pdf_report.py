"""The record as a PDF to read on paper at a team meeting: who, the charts with treatment
changes marked, the before/after summary, incidents and treatment changes, drawn with fpdf2."""

import math
import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from app.exports.record import PART2_NOTICE, PART2_SHORT, PatientRecord
from app.services.effect import MeasureComparison, Verdict, p_text
from app.services.timeline import words
from models.codes import RecordKind

# DejaVu Sans covers every script a name may be written in; without it the report falls back to
# Helvetica, which prints Latin-1 only (other letters are simplified or shown as "?").
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
FONT = "DejaVu"

Colour = tuple[int, int, int]
INK: Colour = (30, 30, 30)
GRID: Colour = (215, 215, 215)
MOOD: Colour = (31, 119, 180)
ANXIETY: Colour = (214, 110, 20)
ESTIMATED: Colour = (40, 60, 140)
REPORTED: Colour = (44, 150, 70)
OFFERED: Colour = (200, 200, 200)
PARTICIPATED: Colour = (44, 150, 70)
INCIDENT: Colour = (200, 40, 40)
TREATMENT: Colour = (130, 40, 160)
LEVEL: Colour = (150, 150, 150)
NOTICE_FILL: Colour = (255, 243, 205)

CHART_HEIGHT = 38.0
Y_LABELS = 10.0

_PLAIN = str.maketrans(
    {
        "\u2014": "-",
        "\u2013": "-",
        "\u2212": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u2192": "->",
        "\u2265": ">=",
        "\u2264": "<=",
    }
)


def plain(text: str) -> str:
    """Text Helvetica can print: Latin-1, other letters without their accents, else "?"."""
    text = text.translate(_PLAIN)
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        base = unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode("latin-1")
        out.append(base or "?")
    return "".join(out)


def font_files() -> tuple[Path, Path] | None:
    """DejaVu Sans regular and bold, when installed."""
    for folder in FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


class _Report(FPDF):
    def __init__(self, record: PatientRecord, fonts: tuple[Path, Path] | None) -> None:
        super().__init__(orientation="P", unit="mm", format="Letter")
        self.record = record
        self.family = "Helvetica"
        if fonts is not None:
            self.add_font(FONT, "", fonts[0])
            self.add_font(FONT, "B", fonts[1])
            self.family = FONT
        self.set_margins(15, 14, 15)
        self.set_auto_page_break(True, margin=20)
        self.set_title(f"Patient report: {record.patient.display_name}")
        self.set_author("Rounds")
        self.set_creation_date(record.generated_at)

    def normalize_text(self, text: str) -> str:
        return super().normalize_text(text if self.is_ttf_font else plain(text))

    def get_string_width(self, s: str, normalized: bool = False, markdown: bool = False) -> float:
        if not self.is_ttf_font:
            s = plain(s)
        return super().get_string_width(s, normalized, markdown)

    def font(self, size: float, bold: bool = False) -> None:
        self.set_font(self.family, "B" if bold else "", size)

    def footer(self) -> None:
        self.set_y(-16)
        self.font(7)
        self.set_text_color(*INK)
        if self.record.protected:
            self.cell(0, 4, PART2_SHORT, align="C", new_x="LMARGIN", new_y="NEXT")
        patient = self.record.patient
        self.cell(
            0,
            4,
            f"{patient.display_name} · MRN {patient.mrn} · Confidential patient record · "
            f"Page {self.page_no()} of {{nb}}",
            align="C",
        )

    def room_for(self, height: float) -> None:
        """Start a new page unless `height` mm still fit on this one."""
        if self.get_y() + height > self.page_break_trigger:
            self.add_page()

    def heading(self, text: str) -> None:
        self.room_for(20)
        self.ln(3)
        self.font(12, bold=True)
        self.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(*INK)
        self.set_line_width(0.3)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(2)

    def paragraph(self, text: str, size: float = 9, bold: bool = False) -> None:
        self.font(size, bold)
        self.multi_cell(0, size * 0.5, text, align="L", new_x="LMARGIN", new_y="NEXT")

    def grid(self, widths: Sequence[float], rows: list[list[str]]) -> None:
        """A table with a grey heading row; rows split across pages as needed."""
        self.font(8)
        self.set_fill_color(255, 255, 255)
        self.set_text_color(*INK)
        with self.table(
            col_widths=widths,
            text_align="LEFT",
            line_height=4,
            padding=(0.8, 1),
            headings_style=FontFace(emphasis="BOLD", fill_color=(232, 232, 232)),
            width=self.epw,
        ) as table:
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(value)
        self.ln(2)


class _Chart:
    """One chart: a frame over the range's days with gridlines, dates and the change markers."""

    def __init__(
        self,
        pdf: _Report,
        title: str,
        y_max: float,
        y_ticks: Sequence[float],
        y_label: Callable[[float], str],
    ) -> None:
        record = pdf.record
        pdf.room_for(CHART_HEIGHT + 22)
        pdf.font(9.5, bold=True)
        pdf.set_text_color(*INK)
        pdf.cell(0, 6, title, new_x="LMARGIN", new_y="NEXT")
        self.pdf = pdf
        self.days = len(record.days)
        self.left = pdf.l_margin + Y_LABELS
        self.width = pdf.epw - Y_LABELS
        self.top = pdf.get_y() + 3
        self.height = CHART_HEIGHT
        self.bottom = self.top + self.height
        self.y_max = y_max
        span = (record.window_end - record.window_start).total_seconds()
        self.span = span

        pdf.set_line_width(0.15)
        pdf.font(6.5)
        for tick in y_ticks:
            y = self.y(tick)
            pdf.set_draw_color(*GRID)
            pdf.line(self.left, y, self.left + self.width, y)
            label = y_label(tick)
            pdf.text(self.left - 1.2 - pdf.get_string_width(label), y + 1, label)
        every = max(1, math.ceil(self.days / 10))
        for index, day in enumerate(record.days):
            if index % every:
                continue
            x = self.x(index + 0.5)
            pdf.set_draw_color(*GRID)
            pdf.line(x, self.bottom, x, self.bottom + 1)
            label = day.day.strftime("%d %b")
            pdf.text(x - pdf.get_string_width(label) / 2, self.bottom + 3.6, label)
        self.markers()
        pdf.set_draw_color(*INK)
        pdf.set_line_width(0.25)
        pdf.rect(self.left, self.top, self.width, self.height)

    def x(self, day_index: float) -> float:
        return self.left + self.width * day_index / max(self.days, 1)

    def y(self, value: float) -> float:
        return self.bottom - self.height * min(max(value, 0), self.y_max) / self.y_max

    def at(self, moment: datetime) -> float:
        """A moment's x, placed within its day."""
        elapsed = (moment - self.pdf.record.window_start).total_seconds()
        return self.left + self.width * elapsed / self.span

    def markers(self) -> None:
        pdf = self.pdf
        for number, marker in enumerate(pdf.record.markers, start=1):
            x = self.at(marker.at)
            treatment = marker.kind == RecordKind.treatment
            pdf.set_draw_color(*(TREATMENT if treatment else LEVEL))
            pdf.set_line_width(0.5 if treatment else 0.25)
            pdf.set_dash_pattern(dash=1.2, gap=0.8)
            pdf.line(x, self.top, x, self.bottom)
            pdf.set_dash_pattern()
            pdf.set_text_color(*(TREATMENT if treatment else LEVEL))
            pdf.font(6.5, bold=True)
            pdf.text(x + 0.6, self.top + 2.6, str(number))
        pdf.set_text_color(*INK)

    def line(self, values: Sequence[float | None], colour: Colour) -> None:
        """A line through each day's value, broken where a day has none, with a dot per day."""
        pdf = self.pdf
        pdf.set_draw_color(*colour)
        pdf.set_fill_color(*colour)
        pdf.set_line_width(0.45)
        run: list[tuple[float, float]] = []
        for index, value in enumerate([*values, None]):
            if value is None:
                if len(run) > 1:
                    pdf.polyline(run)
                run = []
                continue
            point = (self.x(index + 0.5), self.y(value))
            run.append(point)
            pdf.circle(point[0], point[1], 0.55, style="F")

    def bars(self, values: Sequence[float], colour: Colour, share: float = 0.7) -> None:
        pdf = self.pdf
        pdf.set_fill_color(*colour)
        # A day's slot, but no wider than a bar on a fortnight's chart.
        width = min(self.width / max(self.days, 1), self.width / 14) * share
        for index, value in enumerate(values):
            if value:
                top = self.y(value)
                pdf.rect(self.x(index + 0.5) - width / 2, top, width, self.bottom - top, style="F")

    def legend(self, items: Sequence[tuple[str, Colour]]) -> None:
        pdf = self.pdf
        pdf.set_y(self.bottom + 5)
        pdf.set_x(self.left)
        pdf.font(7.5)
        for label, colour in items:
            pdf.set_fill_color(*colour)
            pdf.rect(pdf.get_x(), pdf.get_y() + 1.2, 3, 2, style="F")
            pdf.set_x(pdf.get_x() + 4)
            pdf.cell(pdf.get_string_width(label) + 5, 4.5, label)
        pdf.ln(6)


def _header(pdf: _Report) -> None:
    record, patient = pdf.record, pdf.record.patient
    pdf.font(16, bold=True)
    pdf.cell(0, 8, f"Patient report: {patient.display_name}", new_x="LMARGIN", new_y="NEXT")
    pdf.font(9)
    full_name = f"{patient.given_name} {patient.family_name}"
    if patient.preferred_name:
        full_name += f" (known as {patient.preferred_name})"
    level = patient.level.label if patient.level else "none ordered"
    precautions = ", ".join(words(code) for code in patient.precautions) or "none"
    discharged = (
        f"   Discharged: {record.local(patient.discharged_at, '%d %b %Y')}"
        if patient.discharged_at
        else ""
    )
    rows = [
        f"Name: {full_name}    MRN: {patient.mrn}    Born: {patient.birth_date:%d %b %Y}",
        f"Ward: {record.ward_name}    Room: {patient.room_bed}    Observation level: {level}",
        f"Precautions: {precautions}",
        f"Admitted: {record.local(patient.admitted_at, '%d %b %Y %H:%M')}{discharged}",
        f"Report covers {record.start:%a %d %b %Y} to {record.end:%a %d %b %Y} "
        f"(ward time, {record.time_zone}). Printed {record.local(record.generated_at)} "
        f"by {record.generated_by}.",
    ]
    for row in rows:
        pdf.multi_cell(0, 4.6, row, align="L", new_x="LMARGIN", new_y="NEXT")
    if record.protected:
        pdf.ln(2)
        pdf.set_fill_color(*NOTICE_FILL)
        pdf.set_draw_color(*INK)
        pdf.font(9, bold=True)
        pdf.multi_cell(
            0, 4.6, PART2_NOTICE, border=1, fill=True, align="L", padding=2,
            new_x="LMARGIN", new_y="NEXT",
        )  # fmt: skip
    pdf.ln(1)


def _at_a_glance(pdf: _Report) -> None:
    record = pdf.record
    made = sum(not row.missed for row in record.check_ins)
    late = sum(row.late and not row.missed for row in record.check_ins)
    missed = sum(row.missed for row in record.check_ins)
    offered = sum(day.groups_offered for day in record.days)
    present = sum(day.groups_present for day in record.days)
    pdf.paragraph(
        f"In this range: {made} checks made ({late} late, {missed} missed), "
        f"{len(record.incidents)} incident{'s' if len(record.incidents) != 1 else ''}, "
        f"{len(record.restraints)} restraint or seclusion episode"
        f"{'s' if len(record.restraints) != 1 else ''}, "
        f"{present} of {offered} groups attended, {len(record.sleep_reports)} sleep reports, "
        f"{len(record.treatments)} treatment change{'s' if len(record.treatments) != 1 else ''}."
    )


def _charts(pdf: _Report) -> None:
    record = pdf.record
    pdf.heading("Trends, with treatment changes marked")
    days = record.days
    ratings = _Chart(
        pdf,
        "Mood and anxiety: the patient's own ratings, daily mean (0-10)",
        10,
        (0, 2, 4, 6, 8, 10),
        lambda v: f"{v:g}",
    )
    ratings.line([day.mood.mean if day.mood else None for day in days], MOOD)
    ratings.line([day.anxiety.mean if day.anxiety else None for day in days], ANXIETY)
    ratings.legend([("Mood", MOOD), ("Anxiety", ANXIETY)])

    hours = [day.sleep_estimated_hours for day in days] + [day.sleep_reported_hours for day in days]
    top = max(10.0, math.ceil(max((h for h in hours if h is not None), default=0) / 2) * 2)
    sleep = _Chart(
        pdf,
        "Sleep: hours a night, estimated from night checks and as the patient reported",
        top,
        [float(tick) for tick in range(0, int(top) + 1, 2)],
        lambda v: f"{v:g} h",
    )
    sleep.line([day.sleep_estimated_hours for day in days], ESTIMATED)
    sleep.line([day.sleep_reported_hours for day in days], REPORTED)
    sleep.legend([("Estimated from checks", ESTIMATED), ("Self-reported", REPORTED)])

    most = max([day.groups_offered for day in days] + [2])
    groups = _Chart(
        pdf,
        "Groups: offered and taken part in, each day",
        most,
        [float(tick) for tick in range(0, most + 1)],
        lambda v: f"{v:g}",
    )
    groups.bars([day.groups_offered for day in days], OFFERED, share=0.8)
    groups.bars([day.groups_participated for day in days], PARTICIPATED, share=0.45)
    groups.legend([("Offered", OFFERED), ("Took part", PARTICIPATED)])

    worst = max([day.incidents for day in days] + [2])
    incidents = _Chart(
        pdf,
        "Incidents each day (the day's highest MOAS above the bar)",
        worst + 0.6,
        [float(tick) for tick in range(0, worst + 1)],
        lambda v: f"{v:g}",
    )
    incidents.bars([day.incidents for day in days], INCIDENT)
    pdf.font(6.5, bold=True)
    pdf.set_text_color(*INCIDENT)
    for index, day in enumerate(days):
        if day.incidents:
            label = str(day.moas_max or 0)
            x = incidents.x(index + 0.5) - pdf.get_string_width(label) / 2
            pdf.text(x, incidents.y(day.incidents) - 0.8, label)
    pdf.set_text_color(*INK)
    incidents.legend([("Incidents", INCIDENT)])
    _marker_key(pdf)


def _marker_key(pdf: _Report) -> None:
    record = pdf.record
    if not record.markers:
        pdf.paragraph("No treatment or level changes in this range.")
        return
    pdf.font(8)
    for number, marker in enumerate(record.markers, start=1):
        treatment = marker.kind == RecordKind.treatment
        pdf.set_text_color(*(TREATMENT if treatment else LEVEL))
        pdf.font(8, bold=True)
        pdf.cell(6, 4.2, str(number))
        pdf.set_text_color(*INK)
        pdf.font(8)
        pdf.multi_cell(
            0, 4.2, f"{record.local(marker.at)}  {marker.label}", align="L",
            new_x="LMARGIN", new_y="NEXT",
        )  # fmt: skip


def _shown(row: MeasureComparison, value: float | None) -> str:
    if value is None:
        return "-"
    if row.measure == "participation":
        return f"{value * 100:.0f}%"
    if row.measure == "incidents":
        return f"{value * 7:.1f}/wk"
    if row.measure.startswith("sleep"):
        return f"{value:.1f} h"
    return f"{value:.1f}"


def _p(p_value: float) -> str:
    shown = p_text(p_value)
    return shown if shown.startswith("<") else f"= {shown}"


VERDICTS = {
    Verdict.better: "Better",
    Verdict.worse: "Worse",
    Verdict.unclear: "Could be chance",
    Verdict.not_enough_data: "Not enough data",
}


def _before_after(pdf: _Report) -> None:
    comparison = pdf.record.comparison
    pdf.heading("Before and after the latest treatment change")
    if comparison is None:
        pdf.paragraph("No treatment change is recorded, so there is nothing to compare.")
        return
    pdf.paragraph(
        f"{comparison.event_label}, {pdf.record.local(comparison.event.effective_at)}. "
        f"The {comparison.days} days before ({comparison.before_first:%d %b} to "
        f"{comparison.before_last:%d %b}) against the days after ({comparison.after_first:%d %b} "
        f"to {comparison.after_last:%d %b}); the day of the change counts on neither side.",
        bold=True,
    )
    pdf.ln(1)
    rows = [["Measure", "Before", "After", "Change (95% interval)", "Rank test", "Reading"]]
    for row in comparison.measures:
        if row.change is None:
            change = "-"
        else:
            change = (
                f"{_signed(row, row.change)} ({_signed(row, row.interval_low, unit=False)} to "
                f"{_signed(row, row.interval_high, unit=False)})"
            )
        rows.append(
            [
                row.label,
                f"{_shown(row, row.before.mean)} ({row.before.days} d)",
                f"{_shown(row, row.after.mean)} ({row.after.days} d)",
                change,
                "-" if row.p_value is None else f"p {_p(row.p_value)}",
                VERDICTS[row.verdict],
            ]
        )
    pdf.grid((48, 22, 22, 44, 20, 30), rows)
    for row in comparison.measures:
        pdf.font(8.5)
        pdf.cell(4, 4.3, "•" if pdf.is_ttf_font else "-")
        pdf.multi_cell(0, 4.3, row.sentence, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.paragraph(comparison.caveat, size=7.5)


def _signed(row: MeasureComparison, value: float | None, *, unit: bool = True) -> str:
    shown = _shown(row, abs(value or 0))
    if not unit:
        shown = shown.removesuffix(" h").removesuffix("/wk")
    return ("+" if (value or 0) >= 0 else "-") + shown


def _lists(pdf: _Report) -> None:
    record = pdf.record
    pdf.heading("Treatment changes in this range")
    if record.treatments:
        rows = [["When", "Change", "Detail", "Ordered by"]]
        rows += [
            [record.local(row.effective_at), f"{words(row.kind)}: {row.name}", row.detail,
             row.ordered_by]
            for row in record.treatments
        ]  # fmt: skip
        pdf.grid((34, 50, 66, 36), rows)
    else:
        pdf.paragraph("None.")

    pdf.heading("Incidents")
    if record.incidents:
        rows = [["When", "Type", "Where", "MOAS (v/p/s/ph)", "Injury", "What happened"]]
        for row in record.incidents:
            told = " ".join(part for part in (row.antecedent, row.behaviour) if part)
            measures = ", ".join(words(code) for code in row.measures)
            if measures:
                told += f" Measures: {measures}."
            rows.append(
                [
                    record.local(row.occurred_at),
                    words(row.incident_type),
                    words(row.location),
                    f"{row.moas_total} ({row.moas_verbal}/{row.moas_property}/"
                    f"{row.moas_self}/{row.moas_physical})",
                    words(row.injury),
                    told,
                ]
            )
        pdf.grid((30, 30, 20, 22, 16, 68), rows)
    else:
        pdf.paragraph("No incidents recorded in this range.")
    if record.restraints:
        rows = [["Started", "Kind", "Ended", "Ordered by", "Face-to-face", "Guardian told"]]
        rows += [
            [
                record.local(row.started_at),
                words(row.kind),
                record.local(row.ended_at) if row.ended_at else "ongoing",
                row.ordered_by,
                record.local(row.face_to_face_at) if row.face_to_face_at else "not recorded",
                record.local(row.guardian_notified_at)
                if row.guardian_notified_at
                else "not recorded",
            ]
            for row in record.restraints
        ]
        pdf.grid((32, 26, 32, 30, 33, 33), rows)

    if record.levels:
        pdf.heading("Observation level orders")
        rows = [["When", "Level", "Reason", "Ordered by"]]
        rows += [
            [record.local(row.effective_at), row.label, row.reason, row.ordered_by]
            for row in record.levels
        ]
        pdf.grid((34, 30, 86, 36), rows)


def patient_pdf(record: PatientRecord, *, fonts: tuple[Path, Path] | bool | None = True) -> bytes:
    """The report as PDF bytes. `fonts` True finds DejaVu Sans; None prints in Helvetica."""
    chosen = font_files() if fonts is True else fonts or None
    pdf = _Report(record, chosen)
    pdf.add_page()
    pdf.set_text_color(*INK)
    _header(pdf)
    _at_a_glance(pdf)
    _charts(pdf)
    _before_after(pdf)
    _lists(pdf)
    return bytes(pdf.output())
