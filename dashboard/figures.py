"""The figures a dashboard view shows, every one read through the query services.

The views ask ``collector.query`` exactly what the read API answers: the window is
the one ``/api/v1/sites/{key}/summary?from=7d`` resolves, and cards, trends, route
and device tables, movers, histograms and attribution come from the same services,
so the dashboard and the API always agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from collector.query import attribution, comparison, distribution, service
from collector.query.resolution import trend_interval
from collector.query.schemas import AttributionRow, MetricStats, Worsening
from collector.query.score import score_card
from collector.query.watermarks import RollupWatermarks
from collector.query.windows import SNAP_SLACK, Window, resolve_window
from collector.sites.schemas import Site
from collector.vitals import DAY, HOUR, Rating
from dashboard.charts import Bin, TrendPoint
from dashboard.filters import Filters
from dashboard.vitals import CORE_VITALS, VITALS, Vital

# Trend periods: about 24-28 points per chart, enough to see a change, few enough that
# five charts stay a small page. Filters only day-grained rollups keep get a point a day.
TREND_STEPS = {"24h": HOUR, "7d": 6 * HOUR, "14d": 12 * HOUR, "28d": DAY}
CULPRITS_SHOWN = 6
CHOICES_SHOWN = 12
# Attribution is read from raw rows, for a week at most: longer windows show their last week.
ATTRIBUTION_SPAN = timedelta(days=7)
PART_LABELS = {
    "timeToFirstByte": "TTFB",
    "resourceLoadDelay": "load delay",
    "resourceLoadDuration": "load time",
    "elementRenderDelay": "render delay",
    "inputDelay": "input delay",
    "processingDuration": "processing",
    "presentationDelay": "presentation",
    "largestShiftValue": "largest shift",
}


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
    change: float | None = None

    @classmethod
    def of(cls, vital: Vital, now: MetricStats, before: MetricStats | None = None) -> MetricSummary:
        """The card of ``vital`` from its statistics, and the previous window's if compared."""
        return cls(
            vital=vital,
            count=now.count,
            p75=now.p75,
            good=now.good,
            needs_improvement=now.needs_improvement,
            poor=now.poor,
            previous_p75=None if before is None else before.p75,
            change=None if before is None else comparison.p75_change(now, before),
        )

    @property
    def rating(self) -> Rating | None:
        """The rating of the p75, as Core Web Vitals assessments rate a page."""
        return None if self.p75 is None else self.vital.rate(self.p75)


@dataclass(slots=True)
class RouteRow:
    """One route (or device) of a site: its traffic and the p75 of each Core Web Vital."""

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

    window: Window
    summaries: dict[str, MetricSummary]
    trends: dict[str, list[TrendPoint]] = field(default_factory=dict)
    routes: list[RouteRow] = field(default_factory=list)
    movers: list[Worsening] = field(default_factory=list)
    devices: list[RouteRow] = field(default_factory=list)

    @property
    def start(self) -> datetime:
        """Where the window starts."""
        return self.window.start

    @property
    def end(self) -> datetime:
        """Where the window ends."""
        return self.window.end

    @property
    def samples(self) -> int:
        """How many samples of any metric the window holds."""
        return sum(summary.count for summary in self.summaries.values())

    @property
    def score(self) -> float | None:
        """The 0–100 performance score of these p75s (Lighthouse's curves, Sentry's weights)."""
        return score_card({name: s.p75 for name, s in self.summaries.items()}).score

    @property
    def unrated_core_vitals(self) -> list[str]:
        """The core metrics without samples in the window."""
        return [name for name in CORE_VITALS if self.summaries[name].rating is None]

    @property
    def passes_core_web_vitals(self) -> bool | None:
        """The Core Web Vitals assessment, as Google's field tools make it.

        A core metric with a p75 that is not good fails it. Otherwise it passes when
        LCP and CLS are rated, with INP left out if no one interacted; without LCP or
        CLS there is no assessment (None).
        """
        ratings = {name: self.summaries[name].rating for name in CORE_VITALS}
        if any(rating not in (Rating.GOOD, None) for rating in ratings.values()):
            return False
        if any(ratings[name] is None for name in _NEEDED_FOR_A_PASS):
            return None
        return True


# INP needs an interaction, which many page views never have; these two every view has.
_NEEDED_FOR_A_PASS = ("LCP", "CLS")


def view_window(filters: Filters, now: datetime | None = None) -> Window:
    """The window of a view: the one the read API resolves for ``from=<window>``."""
    return resolve_window(filters.window, None, now=now or datetime.now(UTC))


def dimensions_of(filters: Filters) -> dict[str, str]:
    """The dimension filters of a view, as the query services name them."""
    chosen = {
        "route": filters.route,
        "device": filters.device,
        "browser": filters.browser,
        "connection": filters.connection,
        "navigation_type": filters.navigation_type,
    }
    return {name: value for name, value in chosen.items() if value is not None}


async def cards(
    *,
    conn: AsyncConnection,
    site: Site,
    window: Window,
    dims: Mapping[str, str],
    watermarks: RollupWatermarks,
) -> dict[str, MetricSummary]:
    """Each Web Vital's card: p75, rating shares, and the change against the previous window."""
    compared = await comparison.compare(
        conn=conn,
        site=site,
        window=window,
        metrics=tuple(VITALS),
        filters=dims,
        watermarks=watermarks,
    )
    return {
        name: MetricSummary.of(vital, compared.metrics[name].now, compared.metrics[name].before)
        for name, vital in VITALS.items()
    }


async def field_view(
    *,
    conn: AsyncConnection,
    site: Site,
    filters: Filters,
    watermarks: RollupWatermarks,
    now: datetime | None = None,
) -> FieldView:
    """The cards, trends, route and device tables and movers of a view."""
    window = view_window(filters, now)
    dims = dimensions_of(filters)
    routes = await _by_metric(
        conn=conn, site=site, window=window, dims=dims, by="route", watermarks=watermarks
    )
    routes_before = await _by_metric(
        conn=conn,
        site=site,
        window=comparison.previous_window(window),
        dims=dims,
        by="route",
        watermarks=watermarks,
    )
    devices = await _by_metric(
        conn=conn, site=site, window=window, dims=dims, by="device", watermarks=watermarks
    )
    return FieldView(
        window=window,
        summaries=await cards(
            conn=conn, site=site, window=window, dims=dims, watermarks=watermarks
        ),
        trends=await trends(
            conn=conn,
            site=site,
            window=window,
            dims=dims,
            filters=filters,
            watermarks=watermarks,
        ),
        routes=_rows(routes),
        movers=comparison.worsened(routes, routes_before),
        devices=_rows(devices),
    )


async def trends(
    *,
    conn: AsyncConnection,
    site: Site,
    window: Window,
    dims: Mapping[str, str],
    filters: Filters,
    watermarks: RollupWatermarks,
) -> dict[str, list[TrendPoint]]:
    """The p75 of each Web Vital per period, at the finest period the rollups answer."""
    interval = trend_interval(window=window, filters=dims, preferred=TREND_STEPS[filters.window])
    found = {}
    for name in VITALS:
        series = await service.timeseries(
            conn=conn,
            site=site,
            window=window,
            metric=name,
            interval=interval,
            filters=dims,
            watermarks=watermarks,
        )
        found[name] = [TrendPoint(p.start, p.value, p.count) for p in series.points]
    return found


async def table(
    *,
    conn: AsyncConnection,
    site: Site,
    window: Window,
    dims: Mapping[str, str],
    by: str,
    watermarks: RollupWatermarks,
) -> list[RouteRow]:
    """The busiest values of ``by`` (route or device) with the p75 of each Core Web Vital."""
    return _rows(
        await _by_metric(
            conn=conn, site=site, window=window, dims=dims, by=by, watermarks=watermarks
        )
    )


async def _by_metric(
    *,
    conn: AsyncConnection,
    site: Site,
    window: Window,
    dims: Mapping[str, str],
    by: str,
    watermarks: RollupWatermarks,
) -> dict[str, dict[str, MetricStats]]:
    """Each Core Web Vital's statistics per value of ``by``."""
    return {
        name: await comparison.group_stats(
            conn=conn,
            site=site,
            window=window,
            metric=name,
            by=by,
            filters=dims,
            watermarks=watermarks,
        )
        for name in CORE_VITALS
    }


def _rows(by_metric: Mapping[str, Mapping[str, MetricStats]]) -> list[RouteRow]:
    merged: dict[str, RouteRow] = {}
    for name, groups in by_metric.items():
        for key, stats in groups.items():
            found = merged.setdefault(key, RouteRow(key, 0, dict.fromkeys(CORE_VITALS)))
            found.p75[name] = stats.p75
            found.views = max(found.views, stats.count)
    return sorted(merged.values(), key=lambda row: (-row.views, row.route))


async def site_glance(
    *, conn: AsyncConnection, site: Site, watermarks: RollupWatermarks
) -> FieldView:
    """The default window of a site in one rollup read: its cards, without comparison."""
    window = view_window(Filters())
    current = await service.summarize(
        conn=conn, site=site, window=window, metrics=tuple(VITALS), watermarks=watermarks
    )
    summaries = {
        name: MetricSummary.of(vital, current.metrics[name]) for name, vital in VITALS.items()
    }
    return FieldView(window=window, summaries=summaries)


async def filter_choices(
    *, conn: AsyncConnection, site: Site, window: Window, watermarks: RollupWatermarks
) -> dict[str, list[str]]:
    """The most frequent browsers and connections of the window, for the filter menus."""
    choices = {}
    for by in ("browser", "connection"):
        breakdown = await service.break_down(
            conn=conn,
            site=site,
            window=window,
            metric="TTFB",
            by=by,
            limit=CHOICES_SHOWN,
            watermarks=watermarks,
        )
        choices[by] = [row.value for row in breakdown.rows if row.value]
    return choices


def attribution_window(window: Window) -> Window:
    """The part of ``window`` attribution is read for: all of it, or its last week."""
    if window.span <= ATTRIBUTION_SPAN + SNAP_SLACK:
        return window
    return Window(window.end - ATTRIBUTION_SPAN, window.end)


async def culprits(
    *, conn: AsyncConnection, site: Site, window: Window, dims: Mapping[str, str]
) -> dict[str, list[AttributionRow]]:
    """The LCP elements, INP targets and CLS sources that cost most (count × p75)."""
    found = {}
    for name in CORE_VITALS:
        ranked = await attribution.attribute(
            conn=conn,
            site=site,
            window=attribution_window(window),
            metric=name,
            filters=dims,
            limit=CULPRITS_SHOWN,
            order="impact",
        )
        found[name] = ranked.rows
    return found


async def histogram_bins(
    *,
    conn: AsyncConnection,
    site: Site,
    window: Window,
    dims: Mapping[str, str],
    metric: str,
    watermarks: RollupWatermarks,
) -> list[Bin]:
    """The equal-width bins of ``metric``'s values, from the query engine's distribution."""
    spread = await distribution.distribution(
        conn=conn, site=site, window=window, metric=metric, filters=dims, watermarks=watermarks
    )
    return [Bin(b.low, b.high, b.count) for b in spread.bins]
