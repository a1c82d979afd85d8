"""Trend charts for a patient's timeline: mood and anxiety, sleep, group participation and
incidents per ward-local day, with treatment and level changes drawn on every chart.

The first half turns a `Trends` read model into plain chart data (tested without Flet); the
second half draws that data with flet-charts' LineChart.
"""

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import flet as ft
import flet_charts as fch

from app.services.trends import Trends
from app.ui.theme import Palette

# The ranges offered above the charts, in days.
RANGES = (7, 30, 90)
# Markers sit on the quarter day they happened in: the top axis can only label values on its
# label grid, and a quarter day is precise enough to see "before" and "after".
MARK_STEP = 0.25
# At most this many date labels under a chart: more overlap on a 360 px phone.
MAX_DATE_LABELS = 6


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    tip: str


@dataclass(frozen=True)
class Series:
    name: str
    points: list[Point]
    # "line": joined points (gaps split the line); "stem": a bar from 0 per point.
    style: str = "line"
    dashed: bool = False


@dataclass(frozen=True)
class ChangeMark:
    """A treatment or level change: a numbered vertical line on every chart."""

    number: int
    x: float
    day: date
    label: str


@dataclass(frozen=True)
class Chart:
    title: str
    series: list[Series]
    min_y: float
    max_y: float
    y_step: float
    unit: str = ""
    empty_text: str = "Nothing recorded in this range."

    @property
    def empty(self) -> bool:
        return not any(series.points for series in self.series)


@dataclass(frozen=True)
class TrendCharts:
    days: list[date]
    min_x: float
    max_x: float
    x_labels: list[tuple[int, str]]
    marks: list[ChangeMark]
    charts: list[Chart] = field(default_factory=list)

    def chart(self, title: str) -> Chart:
        return next(chart for chart in self.charts if chart.title == title)


MOOD = "Mood and anxiety"
SLEEP = "Sleep"
PARTICIPATION = "Group participation"
INCIDENTS = "Incidents"


def range_dates(today: date, days: int) -> tuple[date, date]:
    """The first and last ward-local day of a range ending today."""
    return today - timedelta(days=days - 1), today


def date_labels(days: list[date]) -> list[tuple[int, str]]:
    """Date labels under the charts, counted back from the last day so "today" is always shown."""
    if not days:
        return []
    short = len(days) <= 7
    # A week's two-line labels ("Fri" over "20") are narrow enough for every day.
    step = 1 if short else max(1, math.ceil(len(days) / MAX_DATE_LABELS))
    indexes = sorted(range(len(days) - 1, -1, -step))
    return [
        (index, f"{days[index]:%a}\n{days[index].day}" if short else _month_day(days[index]))
        for index in indexes
    ]


def _month_day(day: date) -> str:
    return f"{day:%b} {day.day}"


def mark_x(moment: datetime, first_day: date, zone: ZoneInfo) -> float:
    """Where a change sits on the x axis: day points are at whole numbers (the day's middle
    is its point), so midnight before day n is n - 0.5; rounded to a quarter day."""
    local = moment.astimezone(zone)
    into_day = (local.hour * 60 + local.minute) / (24 * 60)
    x = (local.date() - first_day).days - 0.5 + into_day
    return round(x / MARK_STEP) * MARK_STEP


def _hours(value: float) -> str:
    return f"{value:.1f} h"


def _nice_top(value: float, floor: float, step: float) -> float:
    return max(floor, math.ceil(value / step) * step)


def chart_series(trends: Trends) -> TrendCharts:
    """Chart data for a `Trends` read model: one x position per day, 0 = the first day."""
    zone = ZoneInfo(trends.time_zone)
    days = [row.day for row in trends.days]
    first = trends.days[0].day if trends.days else trends.start

    mood, anxiety, estimated, reported, rate, incidents = [], [], [], [], [], []
    for x, row in enumerate(trends.days):
        label = _month_day(row.day)
        if row.mood is not None:
            mood.append(
                Point(
                    x,
                    row.mood.mean,
                    f"{label}: mood {row.mood.mean:.1f} ({row.mood.low}-{row.mood.high}, "
                    f"{row.mood.count} rated)",
                )
            )
        if row.anxiety is not None:
            anxiety.append(
                Point(
                    x,
                    row.anxiety.mean,
                    f"{label}: anxiety {row.anxiety.mean:.1f} "
                    f"({row.anxiety.low}-{row.anxiety.high})",
                )
            )
        if row.sleep_estimated_hours is not None:
            estimated.append(
                Point(
                    x,
                    row.sleep_estimated_hours,
                    f"Night of {label}: about {_hours(row.sleep_estimated_hours)} on checks",
                )
            )
        if row.sleep_reported_hours is not None:
            quality = f", {row.sleep_quality}" if row.sleep_quality else ""
            reported.append(
                Point(
                    x,
                    row.sleep_reported_hours,
                    f"Night of {label}: {_hours(row.sleep_reported_hours)} reported{quality}",
                )
            )
        if row.participation_rate is not None:
            rate.append(
                Point(
                    x,
                    round(row.participation_rate * 100, 1),
                    f"{label}: took part in {row.groups_participated} of "
                    f"{row.groups_present} groups attended",
                )
            )
        if row.incidents:
            worst = f", MOAS up to {row.moas_max}" if row.moas_max is not None else ""
            plural = "s" if row.incidents != 1 else ""
            incidents.append(
                Point(x, row.incidents, f"{label}: {row.incidents} incident{plural}{worst}")
            )

    marks = [
        ChangeMark(number, mark_x(marker.at, first, zone), marker.day, marker.label)
        for number, marker in enumerate(trends.markers, start=1)
    ]
    top_sleep = max([point.y for point in estimated + reported] or [0])
    top_incidents = max([point.y for point in incidents] or [0])
    charts = [
        Chart(
            MOOD,
            [Series("Mood", mood), Series("Anxiety", anxiety, dashed=True)],
            0,
            10,
            2,
            "0-10, patient's own rating",
            "No mood or anxiety ratings in this range.",
        ),
        Chart(
            SLEEP,
            [
                Series("Estimated from checks", estimated),
                Series("Reported", reported, dashed=True),
            ],
            0,
            _nice_top(top_sleep, 12, 2),
            2,
            "hours per night",
            "No sleep estimates or reports in this range.",
        ),
        Chart(
            PARTICIPATION,
            [Series("Took part", rate)],
            0,
            100,
            25,
            "% of groups attended",
            "No groups attended in this range.",
        ),
        Chart(
            INCIDENTS,
            [Series("Incidents", incidents, style="stem")],
            0,
            _nice_top(top_incidents, 3, 1),
            1,
            "per day",
            "No incidents in this range.",
        ),
    ]
    return TrendCharts(
        days=days,
        min_x=-0.5,
        max_x=len(days) - 0.5,
        x_labels=date_labels(days),
        marks=marks,
        charts=charts,
    )


def runs(points: list[Point]) -> list[list[Point]]:
    """Points split where a day is missing, so a line never bridges days without data."""
    pieces: list[list[Point]] = []
    for point in points:
        if pieces and point.x - pieces[-1][-1].x <= 1:
            pieces[-1].append(point)
        else:
            pieces.append([point])
    return pieces


def mark_legend(mark: ChangeMark) -> str:
    """ "1 · Nov 12 · Medication started: sertraline"."""
    return f"{mark.number} · {_month_day(mark.day)} · {mark.label}"


def series_colours(colors: Palette) -> list[str]:
    """The colours of a chart's first and second series, far apart in hue by day and night."""
    # The night palette's accent and "due" are both amber; its olive "calm" stands apart.
    return [colors.accent, colors.calm if colors.night else colors.due]


def _dot(colour: str, radius: float = 3.5) -> fch.ChartCirclePoint:
    return fch.ChartCirclePoint(radius=radius, color=colour, stroke_width=0)


def _series_controls(chart: Chart, colors: Palette) -> list[fch.LineChartData]:
    drawn: list[fch.LineChartData] = []
    for series, colour in zip(chart.series, series_colours(colors), strict=False):
        if chart.title == INCIDENTS:
            colour = colors.overdue
        if series.style == "stem":
            for point in series.points:
                drawn.append(
                    fch.LineChartData(
                        points=[
                            fch.LineChartDataPoint(point.x, 0, show_tooltip=False),
                            fch.LineChartDataPoint(point.x, point.y, tooltip=point.tip),
                        ],
                        color=colour,
                        stroke_width=7,
                        point=False,
                    )
                )
            continue
        for piece in runs(series.points):
            drawn.append(
                fch.LineChartData(
                    points=[
                        fch.LineChartDataPoint(point.x, point.y, tooltip=point.tip)
                        for point in piece
                    ],
                    color=colour,
                    stroke_width=2.5,
                    dash_pattern=[6, 4] if series.dashed else None,
                    point=_dot(colour, 4 if len(piece) == 1 else 3),
                    curved=False,
                )
            )
    return drawn


def _span(chart: Chart) -> tuple[float, float]:
    """The drawn y range: a little room above and below, so points on the scale's ends are not
    cut in half."""
    room = chart.y_step * 0.15
    return chart.min_y - room, chart.max_y + room


def _mark_controls(layout: TrendCharts, chart: Chart, colors: Palette) -> list[fch.LineChartData]:
    return [
        fch.LineChartData(
            points=[
                fch.LineChartDataPoint(mark.x, _span(chart)[0], show_tooltip=False),
                fch.LineChartDataPoint(mark.x, _span(chart)[1], tooltip=mark_legend(mark)),
            ],
            color=colors.muted,
            stroke_width=1.5,
            dash_pattern=[3, 3],
            point=False,
        )
        for mark in layout.marks
        if layout.min_x <= mark.x <= layout.max_x
    ]


def _axis_text(text: str, colors: Palette, size: int = 11) -> ft.Text:
    return ft.Text(text, size=size, color=colors.muted, text_align=ft.TextAlign.CENTER)


def legend_row(chart: Chart, colors: Palette) -> ft.Control:
    """Coloured keys for a chart's series ("— Mood  - - Anxiety")."""
    keys = []
    for series, colour in zip(chart.series, series_colours(colors), strict=False):
        if chart.title == INCIDENTS:
            colour = colors.overdue
        keys.append(
            ft.Row(
                tight=True,
                spacing=6,
                controls=[
                    ft.Container(
                        width=18,
                        height=4 if not series.dashed else 3,
                        bgcolor=colour,
                        border_radius=2,
                    ),
                    ft.Text(
                        series.name + (" (dashed)" if series.dashed else ""),
                        size=13,
                        color=colors.muted,
                    ),
                ],
            )
        )
    return ft.Row(keys, wrap=True, spacing=14, run_spacing=4)


def line_chart(layout: TrendCharts, chart: Chart, colors: Palette, height: int = 180) -> ft.Control:
    """One chart card: title and unit, the series' key, the chart or a quiet "nothing" line."""
    header = ft.Row(
        wrap=True,
        spacing=8,
        vertical_alignment=ft.CrossAxisAlignment.END,
        controls=[
            ft.Text(chart.title, size=17, weight=ft.FontWeight.W_600, color=colors.text),
            ft.Text(chart.unit, size=13, color=colors.muted),
        ],
    )
    if chart.empty:
        body: ft.Control = ft.Container(
            height=56,
            alignment=ft.Alignment.CENTER_LEFT,
            content=ft.Text(chart.empty_text, size=15, color=colors.muted),
        )
    else:
        grid = colors.chip
        body = fch.LineChart(
            height=height,
            min_x=layout.min_x,
            max_x=layout.max_x,
            min_y=_span(chart)[0],
            max_y=_span(chart)[1],
            data_series=_series_controls(chart, colors) + _mark_controls(layout, chart, colors),
            horizontal_grid_lines=fch.ChartGridLines(interval=chart.y_step, color=grid, width=1),
            border=ft.Border.all(1, grid),
            left_axis=fch.ChartAxis(
                label_size=34,
                label_spacing=chart.y_step,
                show_min=False,
                show_max=False,
                labels=[
                    fch.ChartAxisLabel(value=value, label=_axis_text(f"{value:g}", colors))
                    for value in _ticks(chart.min_y, chart.max_y, chart.y_step)
                ],
            ),
            bottom_axis=fch.ChartAxis(
                label_size=34 if len(layout.days) <= 7 else 22,
                label_spacing=1,
                show_min=False,
                show_max=False,
                labels=[
                    fch.ChartAxisLabel(value=index, label=_axis_text(text, colors))
                    for index, text in layout.x_labels
                ],
            ),
            top_axis=fch.ChartAxis(
                show_labels=bool(layout.marks),
                label_size=18 if layout.marks else 0,
                label_spacing=MARK_STEP,
                show_min=False,
                show_max=False,
                labels=[
                    fch.ChartAxisLabel(
                        value=mark.x,
                        label=ft.Text(
                            str(mark.number),
                            size=12,
                            weight=ft.FontWeight.W_700,
                            color=colors.text,
                        ),
                    )
                    for mark in layout.marks
                ],
            ),
            right_axis=fch.ChartAxis(show_labels=False, label_size=8),
            tooltip=fch.LineChartTooltip(
                bgcolor=colors.card,
                max_width=220,
                fit_inside_horizontally=True,
                fit_inside_vertically=True,
                border_side=ft.BorderSide(1, colors.muted),
            ),
            animation=ft.Animation(duration=ft.Duration(milliseconds=0)),
        )
    return ft.Container(
        padding=ft.Padding.only(left=12, right=12, top=10, bottom=8),
        border_radius=12,
        bgcolor=colors.card,
        content=ft.Column(
            spacing=6,
            controls=[
                header,
                legend_row(chart, colors) if not chart.empty else ft.Container(),
                body,
            ],
        ),
    )


def _ticks(low: float, high: float, step: float) -> list[float]:
    count = round((high - low) / step)
    return [low + step * n for n in range(count + 1)]


def change_legend(layout: TrendCharts, colors: Palette) -> ft.Control:
    """The numbered treatment and level changes the dashed lines stand for."""
    if not layout.marks:
        return ft.Text("No treatment or level changes in this range.", size=14, color=colors.muted)
    return ft.Column(
        spacing=2,
        controls=[
            ft.Text(
                "Changes (dashed lines)", size=14, weight=ft.FontWeight.W_600, color=colors.text
            ),
            *[ft.Text(mark_legend(mark), size=14, color=colors.text) for mark in layout.marks],
        ],
    )


def trend_charts(layout: TrendCharts, colors: Palette) -> ft.Control:
    """All four charts and the change legend: one column on a phone, two on a tablet."""
    cards = [line_chart(layout, chart, colors) for chart in layout.charts]
    return ft.Column(
        spacing=10,
        controls=[
            change_legend(layout, colors),
            ft.ResponsiveRow(
                spacing=10,
                run_spacing=10,
                controls=[ft.Container(card, col={"xs": 12, "md": 6}) for card in cards],
            ),
        ],
    )
