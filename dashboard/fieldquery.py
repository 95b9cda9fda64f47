"""The figures of a view: exact from raw rows when they are few, else from the rollups.

Up to ``RAW_LIMIT`` samples, computing everything from the raw rows of the two
windows in one read is exact and faster than a dozen rollup queries. Past it,
summaries, trends, route and device tables come from ``collector.query`` (rollup
histograms, about 1 % relative error, cost independent of traffic). A combination of
filters no rollup level keeps, over a window too long for raw reads, is computed
exactly all the same.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import InvalidInput
from collector.query import service as query
from collector.query.windows import Window
from collector.sites.schemas import Site
from collector.storage import raw_reads
from dashboard import fielddata
from dashboard.charts import TrendPoint
from dashboard.fielddata import (
    TREND_STEPS,
    FieldView,
    MetricSummary,
    RouteRow,
    dimensions_of,
)
from dashboard.filters import Filters
from dashboard.vitals import CORE_VITALS, VITALS

_ROUTES_SHOWN = 200
# Below this many samples in the two windows, one raw read beats the rollup queries.
RAW_LIMIT = 250_000


def aligned_window(filters: Filters, now: datetime | None = None) -> tuple[Window, int]:
    """The view's window (the one the exact path uses too) and its trend period."""
    start, end = fielddata.window_of(filters, now)
    return Window(start, end), TREND_STEPS[filters.window]


async def field_view(
    *,
    conn: AsyncConnection,
    site: Site,
    filters: Filters,
    now: datetime | None = None,
    raw_limit: int = RAW_LIMIT,
) -> FieldView:
    """Everything a view shows: exact for small traffic, from rollups for large."""
    window, step = aligned_window(filters, now)
    previous = Window(window.start - filters.span, window.start)
    dims = dimensions_of(filters)
    metrics = tuple(VITALS)
    samples = await raw_reads.count_samples(
        conn,
        site_id=site.id,
        metrics=metrics,
        start=previous.start,
        end=window.end,
        dimensions=dims,
    )
    if samples <= raw_limit:
        return await fielddata.field_view(conn=conn, site_id=site.id, filters=filters, now=now)
    try:
        current = await query.summarize(
            conn=conn, site=site, window=window, metrics=metrics, filters=dims
        )
        before = await query.summarize(
            conn=conn, site=site, window=previous, metrics=metrics, filters=dims
        )
        trends = {}
        for name in metrics:
            series = await query.timeseries(
                conn=conn, site=site, window=window, metric=name, interval=step, filters=dims
            )
            trends[name] = [TrendPoint(p.start, p.value, p.count) for p in series.points]
        routes = await _rows(conn, site, window, dims, "route")
        routes_before = await _rows(conn, site, previous, dims, "route")
        devices = await _rows(conn, site, window, dims, "device")
    except InvalidInput:
        return await fielddata.field_view(conn=conn, site_id=site.id, filters=filters, now=now)
    summaries = {
        name: MetricSummary(
            vital=vital,
            count=current.metrics[name].count,
            p75=current.metrics[name].p75,
            good=current.metrics[name].good,
            needs_improvement=current.metrics[name].needs_improvement,
            poor=current.metrics[name].poor,
            previous_p75=before.metrics[name].p75,
        )
        for name, vital in VITALS.items()
    }
    return FieldView(
        start=window.start,
        end=window.end,
        summaries=summaries,
        trends=trends,
        routes=routes,
        movers=fielddata.find_movers(routes, routes_before),
        devices=devices,
    )


async def _rows(
    conn: AsyncConnection, site: Site, window: Window, dims: dict[str, str], by: str
) -> list[RouteRow]:
    merged: dict[str, RouteRow] = {}
    for name in CORE_VITALS:
        breakdown = await query.break_down(
            conn=conn,
            site=site,
            window=window,
            metric=name,
            by=by,
            filters=dims,
            order="count",
            limit=_ROUTES_SHOWN,
        )
        for row in breakdown.rows:
            key = row.value or "unknown"
            found = merged.setdefault(key, RouteRow(route=key, views=0, p75=dict.fromkeys(VITALS)))
            found.p75[name] = row.p75
            found.views = max(found.views, row.count)
    return sorted(merged.values(), key=lambda r: r.views, reverse=True)


async def site_glance(*, conn: AsyncConnection, site: Site) -> FieldView | None:
    """The last 7 days of a site in one rollup read: its cards without trends or tables."""
    window, _step = aligned_window(Filters())
    try:
        current = await query.summarize(conn=conn, site=site, window=window, metrics=tuple(VITALS))
    except InvalidInput:
        return None
    summaries = {
        name: MetricSummary(
            vital=vital,
            count=current.metrics[name].count,
            p75=current.metrics[name].p75,
            good=current.metrics[name].good,
            needs_improvement=current.metrics[name].needs_improvement,
            poor=current.metrics[name].poor,
            previous_p75=None,
        )
        for name, vital in VITALS.items()
    }
    return FieldView(start=window.start, end=window.end, summaries=summaries, trends={}, routes=[])
