"""Geometry of the dashboard's server-rendered SVG charts.

Functions here turn numbers into coordinates and words; the Jinja macros in
``templates/charts.html`` draw them, so every label (routes, selectors) goes
through autoescaping. Each chart carries a title, a one-sentence description and
the data as table rows: the text alternative for people who cannot see it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from collector.query.distribution import nice_ceiling
from collector.vitals import Rating
from dashboard.vitals import RATING_WORDS, Vital

_YScale = Callable[[float], float]
_TimeScale = Callable[[datetime], float]

WIDTH = 640
HEIGHT = 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 58, 134, 12, 30


@dataclass(frozen=True, slots=True)
class Band:
    """A horizontal zone of the chart for one rating, labelled in words."""

    y: float
    height: float
    rating: Rating
    label: str
    label_y: float


@dataclass(frozen=True, slots=True)
class Tick:
    """An axis tick: its position and its text."""

    at: float
    label: str


@dataclass(frozen=True, slots=True)
class Point:
    """One measured point of a trend, with the sentence shown on hover."""

    x: float
    y: float
    rating: Rating
    label: str


@dataclass(slots=True)
class TrendChart:
    """A p75 line over time on top of the good / needs-improvement / poor bands."""

    title: str
    description: str
    bands: list[Band]
    paths: list[str]
    points: list[Point]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    table: list[tuple[str, str, str]]
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: float = _LEFT
    plot_right: float = WIDTH - _RIGHT
    plot_bottom: float = HEIGHT - _BOTTOM
    empty: bool = False


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """A period of a time series: its start, its percentile value (None if no data), its count."""

    start: datetime
    value: float | None
    count: int


def trend_chart(
    *, vital: Vital, series: Sequence[TrendPoint], start: datetime, end: datetime, title: str
) -> TrendChart:
    """The geometry of a trend chart for ``series`` between ``start`` and ``end``."""
    values = [p.value for p in series if p.value is not None]
    top = nice_ceiling(max([vital.poor * 1.25, *(v * 1.08 for v in values)]))
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    span = max((end - start).total_seconds(), 1.0)

    def x_of(moment: datetime) -> float:
        return round(_LEFT + (moment - start).total_seconds() / span * plot_w, 1)

    def y_of(value: float) -> float:
        return round(_TOP + plot_h - min(value, top) / top * plot_h, 1)

    points: list[Point] = []
    paths: list[str] = []
    segment: list[str] = []
    table: list[tuple[str, str, str]] = []
    for period in series:
        when = period.start.strftime("%a %d %b %H:%M")
        if period.value is None:
            if segment:
                paths.append(" ".join(segment))
            segment = []
            continue
        x, y = x_of(period.start), y_of(period.value)
        rating = vital.rate(period.value)
        shown = vital.format(period.value)
        segment.append(f"{'M' if not segment else 'L'}{x},{y}")
        points.append(
            Point(
                x,
                y,
                rating,
                f"{when}: p75 {shown} ({RATING_WORDS[rating]}), {period.count:,} samples",
            )
        )
        table.append((when, shown, f"{period.count:,}"))
    if segment:
        paths.append(" ".join(segment))
    return TrendChart(
        title=title,
        description=describe_trend(vital=vital, series=series),
        bands=_bands(vital, top, y_of),
        paths=paths,
        points=points,
        y_ticks=[Tick(y_of(v), vital.format(v)) for v in _ticks(top)],
        x_ticks=_time_ticks(start, end, x_of),
        table=table,
        empty=not values,
    )


def describe_trend(*, vital: Vital, series: Sequence[TrendPoint]) -> str:
    """One sentence saying where the line starts, ends and peaks, and what the bands mean."""
    measured = [p for p in series if p.value is not None]
    bands = f"Good is up to {vital.format(vital.good)}, poor is above {vital.format(vital.poor)}."
    if not measured:
        return f"No {vital.name} samples in this window. {bands}"
    first, last = measured[0], measured[-1]
    peak = max(measured, key=lambda p: p.value or 0.0)
    first_value, last_value, peak_value = first.value or 0.0, last.value or 0.0, peak.value or 0.0
    return (
        f"p75 {vital.name} went from {vital.format(first_value)} to {vital.format(last_value)} "
        f"({RATING_WORDS[vital.rate(last_value)].lower()}); highest {vital.format(peak_value)} on "
        f"{peak.start.strftime('%a %d %b %H:%M')}. {bands}"
    )


def _bands(vital: Vital, top: float, y_of: _YScale) -> list[Band]:
    zones = (
        (0.0, vital.good, Rating.GOOD, f"Good ≤ {vital.format(vital.good)}"),
        (vital.good, vital.poor, Rating.NEEDS_IMPROVEMENT, "Needs improvement"),
        (vital.poor, top, Rating.POOR, f"Poor > {vital.format(vital.poor)}"),
    )
    bands = []
    for low, high, rating, label in zones:
        y_top, y_bottom = y_of(high), y_of(low)
        bands.append(
            Band(
                y=y_top,
                height=round(y_bottom - y_top, 1),
                rating=rating,
                label=label,
                label_y=round((y_top + y_bottom) / 2 + 4, 1),
            )
        )
    return bands


def _ticks(top: float, count: int | None = None) -> list[float]:
    """Evenly spaced round ticks from 0 to ``top`` (a value ``nice_ceiling`` returned)."""
    if count is None:
        leading = top / 10 ** math.floor(math.log10(top))
        count = 5 if leading in (2.5, 5) else 4
    return [top * i / count for i in range(count + 1)]


def _count_ceiling(largest: int) -> int:
    """The top of a count axis ticked at 0, half and top: round and even, so the middle
    tick is a whole number of samples too (a top of 1 would label 0.5 as "0")."""
    peak = nice_ceiling(largest)
    return int(peak) if peak % 2 == 0 else 2 * math.ceil(peak / 2)


def _time_ticks(start: datetime, end: datetime, x_of: _TimeScale) -> list[Tick]:
    span = end - start
    step = timedelta(hours=6) if span <= timedelta(days=1) else timedelta(days=1)
    if span > timedelta(days=14):
        step = timedelta(days=7)
    elif span > timedelta(days=7):
        step = timedelta(days=2)
    fmt = "%H:%M" if step < timedelta(days=1) else "%d %b"
    first = start.replace(minute=0, second=0, microsecond=0)
    if step >= timedelta(days=1):
        first = first.replace(hour=0)
    ticks = []
    moment = first
    while moment <= end:
        if moment >= start:
            ticks.append(Tick(x_of(moment), moment.strftime(fmt)))
        moment += step
    return ticks


@dataclass(frozen=True, slots=True)
class Segment:
    """One rating's share of a distribution bar."""

    rating: Rating
    x: float
    width: float
    share: float
    label: str


@dataclass(slots=True)
class DistributionBar:
    """The good / needs improvement / poor shares as one stacked bar, with words."""

    segments: list[Segment]
    description: str
    empty: bool


def distribution_bar(
    *, good: float | None, ni: float | None, poor: float | None
) -> DistributionBar:
    """A stacked bar of the three rating shares (fractions summing to about 1)."""
    shares = [max(share or 0.0, 0.0) for share in (good, ni, poor)]
    total = sum(shares)
    if total <= 0:
        return DistributionBar(segments=[], description="No samples yet.", empty=True)
    segments = []
    x = 0.0
    for rating, share in zip(
        (Rating.GOOD, Rating.NEEDS_IMPROVEMENT, Rating.POOR), shares, strict=True
    ):
        fraction = share / total
        width = round(fraction * 100, 2)
        segments.append(Segment(rating, round(x, 2), width, fraction, f"{fraction:.0%}"))
        x += width
    description = ", ".join(f"{s.label} {RATING_WORDS[s.rating].lower()}" for s in segments)
    return DistributionBar(segments=segments, description=description, empty=False)


@dataclass(frozen=True, slots=True)
class Bar:
    """One bin of a histogram."""

    x: float
    y: float
    width: float
    height: float
    rating: Rating
    label: str


@dataclass(slots=True)
class Histogram:
    """How many samples fell in each value range, with the thresholds marked."""

    title: str
    description: str
    bars: list[Bar]
    thresholds: list[Tick]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    table: list[tuple[str, str]]
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: float = _LEFT
    plot_right: float = WIDTH - _RIGHT
    plot_top: float = _TOP
    plot_bottom: float = HEIGHT - _BOTTOM
    empty: bool = False


@dataclass(frozen=True, slots=True)
class Bin:
    """Samples with ``low <= value < high``."""

    low: float
    high: float
    count: int


def histogram(*, vital: Vital, bins: Sequence[Bin], title: str) -> Histogram:
    """The geometry of a histogram over equal-width ``bins`` (the last may be open-ended)."""
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    total = sum(b.count for b in bins)
    if not bins or total == 0:
        return Histogram(
            title=title,
            description=f"No {vital.name} samples in this window.",
            bars=[],
            thresholds=[],
            x_ticks=[],
            y_ticks=[],
            table=[],
            empty=True,
        )
    low, high = bins[0].low, bins[-1].high
    peak = _count_ceiling(max(b.count for b in bins))
    bar_w = plot_w / len(bins)

    def x_of(value: float) -> float:
        return round(_LEFT + (value - low) / (high - low) * plot_w, 1)

    bars, table = [], []
    for index, b in enumerate(bins):
        h = round(b.count / peak * plot_h, 1)
        rating = vital.rate((b.low + b.high) / 2)
        span = f"{vital.format(b.low)}–{vital.format(b.high)}"
        share = b.count / total
        bars.append(
            Bar(
                x=round(_LEFT + index * bar_w + 0.5, 1),
                y=round(_TOP + plot_h - h, 1),
                width=round(max(bar_w - 1, 0.5), 1),
                height=h,
                rating=rating,
                label=f"{span}: {b.count:,} samples ({share:.1%}, {RATING_WORDS[rating].lower()})",
            )
        )
        table.append((span, f"{b.count:,} ({share:.1%})"))
    thresholds = [
        Tick(x_of(limit), f"{word} {vital.format(limit)}")
        for limit, word in ((vital.good, "good ≤"), (vital.poor, "poor >"))
        if low < limit < high
    ]
    good_share = sum(b.count for b in bins if b.high <= vital.good) / total
    return Histogram(
        title=title,
        description=(
            f"{total:,} {vital.name} samples from {vital.format(low)} to {vital.format(high)}; "
            f"{good_share:.0%} at or below the good threshold of {vital.format(vital.good)}."
        ),
        bars=bars,
        thresholds=thresholds,
        x_ticks=[Tick(x_of(low + v), vital.format(low + v)) for v in _ticks(high - low)],
        y_ticks=[
            Tick(round(_TOP + plot_h - c / peak * plot_h, 1), f"{c:,.0f}") for c in _ticks(peak, 2)
        ],
        table=table,
    )
