"""The figures the dashboard shows, computed exactly from a window of raw samples.

One read per view fetches the window and the one before it; summaries, trends,
route tables, histograms and attribution tables are all computed from those rows,
so the numbers on one page always agree with each other.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from collector.query.score import score_card
from collector.storage import raw_reads
from dashboard.charts import Bin, TrendPoint, equal_bins, nice_ceiling
from dashboard.filters import Filters
from dashboard.vitals import VITALS, Rating, Vital

PERCENTILE = 75
# Trend periods: about 24-28 points per chart, enough to see a change, few enough
# that five charts stay a small page.
TREND_STEPS = {"24h": 3600, "7d": 6 * 3600, "14d": 12 * 3600, "28d": 24 * 3600}
_TOP_ATTRIBUTIONS = 6


def percentile(sorted_values: Sequence[float], pct: float = PERCENTILE) -> float | None:
    """The nearest-rank percentile of already sorted values (None when there are none)."""
    if not sorted_values:
        return None
    rank = max(math.ceil(pct / 100 * len(sorted_values)), 1)
    return sorted_values[rank - 1]


@dataclass(slots=True)
class MetricSummary:
    """One metric over the window: p75, rating shares, and the previous window's p75."""

    vital: Vital
    count: int
    p75: float | None
    good: float | None
    needs_improvement: float | None
    poor: float | None
    previous_p75: float | None

    @property
    def rating(self) -> Rating | None:
        """The rating of the p75, as Core Web Vitals assessments rate a page."""
        return None if self.p75 is None else self.vital.rate(self.p75)

    @property
    def change(self) -> float | None:
        """The relative change of p75 against the previous window (+0.1 is 10 % higher)."""
        if self.p75 is None or not self.previous_p75:
            return None
        return self.p75 / self.previous_p75 - 1


def summarize(vital: Vital, values: list[float], previous: list[float]) -> MetricSummary:
    """The summary of one metric's current and previous window values."""
    values.sort()
    previous.sort()
    count = len(values)
    shares: list[float | None] = [None, None, None]
    if count:
        ratings = [vital.rate(v) for v in values]
        shares = [ratings.count(r) / count for r in Rating]
    return MetricSummary(
        vital=vital,
        count=count,
        p75=percentile(values),
        good=shares[0],
        needs_improvement=shares[1],
        poor=shares[2],
        previous_p75=percentile(previous),
    )


@dataclass(slots=True)
class RouteRow:
    """One route (or device) of a site: its traffic and the p75 of each Web Vital."""

    route: str
    views: int
    p75: dict[str, float | None]

    def rating(self, metric: str) -> Rating | None:
        """The rating of this route's p75 for ``metric``."""
        value = self.p75.get(metric)
        return None if value is None else VITALS[metric].rate(value)


@dataclass(slots=True)
class FieldView:
    """Everything one view shows about a slice of a site's traffic over a window."""

    start: datetime
    end: datetime
    summaries: dict[str, MetricSummary]
    trends: dict[str, list[TrendPoint]]
    routes: list[RouteRow]
    movers: list[Mover] = field(default_factory=list)
    devices: list[RouteRow] = field(default_factory=list)

    @property
    def samples(self) -> int:
        """How many samples of any metric the window holds."""
        return sum(summary.count for summary in self.summaries.values())

    @property
    def score(self) -> float | None:
        """The 0–100 performance score of these p75s (Lighthouse's curves, Sentry's weights)."""
        return score_card({name: s.p75 for name, s in self.summaries.items()}).score

    @property
    def passes_core_web_vitals(self) -> bool | None:
        """The Core Web Vitals assessment: every core metric's p75 is good (None: no data)."""
        ratings = [self.summaries[name].rating for name in ("LCP", "INP", "CLS")]
        if all(rating is None for rating in ratings):
            return None
        return all(rating in (Rating.GOOD, None) for rating in ratings)


def histogram_bins(metric: str, values: list[float]) -> list[Bin]:
    """Equal-width bins of sorted ``values`` from 0 to past the poor threshold (or the p95)."""
    vital = VITALS[metric]
    p95 = percentile(values, 95) or 0.0
    return equal_bins(values=values, top=nice_ceiling(max(vital.poor * 1.5, p95)))


async def metric_values(
    *, conn: AsyncConnection, site_id: int, filters: Filters, metric: str
) -> list[float]:
    """Every value of one metric in a view's window, sorted (for its histogram)."""
    start, end = window_of(filters)
    rows = await raw_reads.metric_samples(
        conn,
        site_id=site_id,
        metrics=(metric,),
        start=start,
        end=end,
        dimensions=dimensions_of(filters),
    )
    return sorted(row[2] for row in rows)


def window_of(filters: Filters, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The window a view covers, ending at the next boundary of its trend period (epoch-aligned,
    as the rollups are), so every period of a trend is whole."""
    step = TREND_STEPS[filters.window]
    moment = (now or datetime.now(UTC)).timestamp()
    end = datetime.fromtimestamp(math.ceil(moment / step) * step, UTC)
    return end - filters.span, end


def dimensions_of(filters: Filters) -> dict[str, str]:
    """The equality filters a view applies to raw samples."""
    chosen = {
        "route": filters.route,
        "device": filters.device,
        "browser": filters.browser,
        "connection": filters.connection,
        "navigation_type": filters.navigation_type,
    }
    return {name: value for name, value in chosen.items() if value is not None}


async def field_view(
    *, conn: AsyncConnection, site_id: int, filters: Filters, now: datetime | None = None
) -> FieldView:
    """The figures of a view: this window and the previous one, from one read."""
    start, end = window_of(filters, now)
    previous_start = start - filters.span
    rows = await raw_reads.metric_samples(
        conn,
        site_id=site_id,
        metrics=tuple(VITALS),
        start=previous_start,
        end=end,
        dimensions=dimensions_of(filters),
    )
    step = timedelta(seconds=TREND_STEPS[filters.window])
    current: dict[str, list[float]] = defaultdict(list)
    previous: dict[str, list[float]] = defaultdict(list)
    periods: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_route: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    before_by_route: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_device: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for metric, ts, value, route, device in rows:
        if ts < start:
            previous[metric].append(value)
            before_by_route[route][metric].append(value)
            continue
        current[metric].append(value)
        periods[metric][int((ts - start) / step)].append(value)
        by_route[route][metric].append(value)
        by_device[device][metric].append(value)
    summaries = {
        name: summarize(vital, current[name], previous[name]) for name, vital in VITALS.items()
    }
    slots = math.ceil(filters.span / step)
    trends = {
        name: [_trend_point(start + i * step, periods[name].get(i, [])) for i in range(slots)]
        for name in VITALS
    }
    routes = _route_rows(by_route)
    return FieldView(
        start=start,
        end=end,
        summaries=summaries,
        trends=trends,
        routes=routes,
        movers=find_movers(routes, _route_rows(before_by_route)),
        devices=_route_rows(by_device),
    )


def _trend_point(start: datetime, values: list[float]) -> TrendPoint:
    values.sort()
    return TrendPoint(start=start, value=percentile(values), count=len(values))


def _route_rows(by_route: dict[str, dict[str, list[float]]]) -> list[RouteRow]:
    rows = []
    for route, metrics in by_route.items():
        p75 = {}
        for name in VITALS:
            values = metrics.get(name, [])
            values.sort()
            p75[name] = percentile(values)
        views = max((len(values) for values in metrics.values()), default=0)
        rows.append(RouteRow(route=route, views=views, p75=p75))
    rows.sort(key=lambda row: row.views, reverse=True)
    return rows


@dataclass(frozen=True, slots=True)
class Mover:
    """A route whose p75 of a Core Web Vital got clearly worse than in the previous window."""

    route: str
    metric: str
    before: float
    now: float
    samples: int

    @property
    def change(self) -> float:
        """The relative worsening (0.5 is 50 % worse)."""
        return self.now / self.before - 1


# A route needs this many samples in both windows, and p75 must move this much, to be
# called out: fewer samples make p75 too noisy to flag.
MOVER_MIN_SAMPLES = 30
MOVER_MIN_CHANGE = 0.15


def find_movers(now: list[RouteRow], before: list[RouteRow], limit: int = 3) -> list[Mover]:
    """Routes whose p75 of a Core Web Vital got clearly worse, worst first."""
    earlier = {row.route: row for row in before}
    found = []
    for row in now:
        past = earlier.get(row.route)
        if past is None or min(row.views, past.views) < MOVER_MIN_SAMPLES:
            continue
        for metric in ("LCP", "INP", "CLS"):
            was, current = past.p75.get(metric), row.p75.get(metric)
            if was and current and current / was - 1 >= MOVER_MIN_CHANGE:
                found.append(Mover(row.route, metric, was, current, row.views))
    found.sort(key=lambda mover: mover.change, reverse=True)
    return found[:limit]


@dataclass(slots=True)
class Culprit:
    """An element or interaction that attribution names, with how often and how badly."""

    name: str
    detail: str
    count: int
    p75: float
    parts: list[tuple[str, float]]


async def attribution(
    *, conn: AsyncConnection, site_id: int, filters: Filters, now: datetime | None = None
) -> dict[str, list[Culprit]]:
    """The worst LCP elements, INP interactions and CLS sources of a slice of traffic."""
    start, end = window_of(filters, now)
    found: dict[str, list[Culprit]] = {}
    for metric, spec in _ATTRIBUTION_SPECS.items():
        rows = await raw_reads.attributed_samples(
            conn,
            site_id=site_id,
            metric=metric,
            start=start,
            end=end,
            dimensions=dimensions_of(filters),
        )
        found[metric] = _culprits(rows, spec)
    return found


@dataclass(frozen=True, slots=True)
class _Spec:
    key: str
    detail: str | None
    parts: tuple[tuple[str, str], ...]


_ATTRIBUTION_SPECS = {
    "LCP": _Spec(
        key="target",
        detail="url",
        parts=(
            ("timeToFirstByte", "TTFB"),
            ("resourceLoadDelay", "load delay"),
            ("resourceLoadDuration", "load time"),
            ("elementRenderDelay", "render delay"),
        ),
    ),
    "INP": _Spec(
        key="interactionTarget",
        detail="interactionType",
        parts=(
            ("inputDelay", "input delay"),
            ("processingDuration", "processing"),
            ("presentationDelay", "presentation"),
        ),
    ),
    "CLS": _Spec(
        key="largestShiftTarget",
        detail="loadState",
        parts=(("largestShiftValue", "largest shift"),),
    ),
}


def _culprits(rows: Iterable[Sequence[Any]], spec: _Spec) -> list[Culprit]:
    groups: dict[str, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
    for value, summary in rows:
        if isinstance(summary, dict) and isinstance(summary.get(spec.key), str):
            groups[summary[spec.key]].append((value, summary))
    culprits = []
    for name, samples in groups.items():
        values = sorted(value for value, _ in samples)
        details = [s.get(spec.detail) for _, s in samples if spec.detail] if spec.detail else []
        common = max(set(map(str, filter(None, details))), key=details.count, default="")
        parts = []
        for key, label in spec.parts:
            numbers = [s[key] for _, s in samples if isinstance(s.get(key), int | float)]
            if numbers:
                parts.append((label, float(median(numbers))))
        culprits.append(
            Culprit(
                name=name,
                detail=common,
                count=len(samples),
                p75=percentile(values) or 0.0,
                parts=parts,
            )
        )
    culprits.sort(key=lambda c: c.count * c.p75, reverse=True)
    return culprits[:_TOP_ATTRIBUTIONS]


async def filter_choices(
    *, conn: AsyncConnection, site_id: int, filters: Filters, now: datetime | None = None
) -> dict[str, list[str]]:
    """Values seen recently for the filters whose values are open-ended (browser, connection)."""
    start, end = window_of(filters, now)
    choices = {}
    for column in ("browser", "connection"):
        choices[column] = await raw_reads.dimension_values(
            conn, site_id=site_id, metric="TTFB", column=column, start=start, end=end, limit=12
        )
    return choices
