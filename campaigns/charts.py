"""Server-rendered SVG charts for the campaign page: geometry only, from the
series that campaigns.metrics returns (no counting happens here).

The template draws the SVG from these numbers, so the chart needs no
JavaScript and the same numbers sit in a table beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

CHART_METRICS = ("sent", "delivered", "opened", "clicked", "converted")
HOUR = "hour"
DAY = "day"
GRANULARITIES = (HOUR, DAY)
# "auto" shows hours for a campaign that spans two days or less.
AUTO_HOURS = 48
# Beyond this many hourly points the chart is unreadable: show days.
MAX_HOURLY_POINTS = 24 * 31

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 14, 12, 30
MARKERS_UP_TO = 120


@dataclass
class Line:
    metric: str
    points: str  # SVG polyline points "x,y x,y"
    markers: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Chart:
    granularity: str
    buckets: list[dict[str, Any]]  # {"label", "start", <metric>: n}
    lines: list[Line]
    y_ticks: list[dict[str, Any]]  # {"y", "label"}
    x_ticks: list[dict[str, Any]]  # {"x", "label"}
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = HEIGHT - BOTTOM
    coarsened: bool = False  # asked for hours, shown in days

    @property
    def empty(self) -> bool:
        return not self.buckets


def _nice_step(value: float) -> int:
    """The smallest 1, 2 or 5 x 10^k (an integer) at least ``value``."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= value:
                return factor * magnitude
        magnitude *= 10


def y_scale(peak: int) -> tuple[int, int]:
    """(step, intervals) of the y axis: round steps, the top just above the peak."""
    if peak <= 0:
        return 1, 4
    return min(
        ((_nice_step(peak / intervals), intervals) for intervals in (4, 5)),
        key=lambda scale: scale[0] * scale[1],
    )


def _fill(
    series: Sequence[Mapping[str, Any]], granularity: str
) -> list[tuple[datetime, dict[str, int]]]:
    """Sum the hourly series into hours or days and fill the gaps with zeros
    so the x axis is real time."""
    totals: dict[datetime, dict[str, int]] = {}
    for row in series:
        moment = datetime.fromisoformat(row["bucket"]).astimezone(UTC)
        if granularity == DAY:
            moment = moment.replace(hour=0)
        slot = totals.setdefault(moment, dict.fromkeys(CHART_METRICS, 0))
        for metric in CHART_METRICS:
            slot[metric] += row.get(metric, 0)
    if not totals:
        return []
    step = timedelta(days=1) if granularity == DAY else timedelta(hours=1)
    # One empty bucket either side, so a campaign sent within one hour still
    # draws a line (from zero, to its count, back to zero) rather than a dot.
    first, last = min(totals) - step, max(totals) + step
    filled = []
    moment = first
    while moment <= last:
        filled.append((moment, totals.get(moment, dict.fromkeys(CHART_METRICS, 0))))
        moment += step
    return filled


def choose_granularity(series: Sequence[Mapping[str, Any]], requested: str) -> tuple[str, bool]:
    """(granularity, coarsened): auto picks hours for short campaigns; hours
    over too long a span fall back to days."""
    if not series:
        return (requested if requested in GRANULARITIES else HOUR), False
    moments = [datetime.fromisoformat(row["bucket"]) for row in series]
    span_hours = (max(moments) - min(moments)) / timedelta(hours=1)
    if requested not in GRANULARITIES:
        return (HOUR if span_hours <= AUTO_HOURS else DAY), False
    if requested == HOUR and span_hours + 1 > MAX_HOURLY_POINTS:
        return DAY, True
    return requested, False


def _label(moment: datetime, granularity: str) -> str:
    if granularity == DAY:
        return moment.strftime("%b %d")
    return moment.strftime("%b %d %H:00")


def series_chart(series: Sequence[Mapping[str, Any]], *, granularity: str = "auto") -> Chart:
    granularity, coarsened = choose_granularity(series, granularity)
    filled = _fill(series, granularity)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    peak = max((values[m] for _, values in filled for m in CHART_METRICS), default=0)
    step, intervals = y_scale(peak)
    ceiling = step * intervals
    n = len(filled)

    def x_of(index: int) -> float:
        if n == 1:
            return LEFT + plot_w / 2
        return LEFT + index * plot_w / (n - 1)

    def y_of(value: int) -> float:
        return TOP + plot_h - value * plot_h / ceiling

    buckets = [
        {
            "start": moment,
            "label": _label(moment, granularity),
            "pad": index in (0, n - 1),  # the empty bucket either side
            **values,
        }
        for index, (moment, values) in enumerate(filled)
    ]
    lines = []
    for metric in CHART_METRICS:
        coords = [(round(x_of(i), 1), round(y_of(b[metric]), 1)) for i, b in enumerate(buckets)]
        markers = []
        if n <= MARKERS_UP_TO:
            markers = [
                {"x": x, "y": y, "title": f"{b['label']}: {b[metric]:,} {metric}"}
                for (x, y), b in zip(coords, buckets, strict=True)
            ]
        lines.append(
            Line(metric=metric, points=" ".join(f"{x},{y}" for x, y in coords), markers=markers)
        )

    y_ticks = [
        {"y": round(y_of(step * k), 1), "label": f"{step * k:,}"} for k in range(intervals + 1)
    ]
    x_ticks = []
    if n:
        every = max(1, -(-n // 8))  # at most ~8 labels
        x_ticks = [
            {
                "x": round(x_of(i), 1),
                "label": buckets[i]["label"],
                # Labels at the edges stay inside the drawing.
                "anchor": "start" if i == 0 and n > 1 else ("end" if i == n - 1 else "middle"),
            }
            for i in range(0, n, every)
        ]
    return Chart(
        granularity=granularity,
        buckets=buckets,
        lines=lines,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        coarsened=coarsened,
    )
