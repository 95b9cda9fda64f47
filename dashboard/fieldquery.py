"""The figures of a view from the query engine's rollups, with the exact raw path as fallback.

Summaries, trends, route and device tables come from ``collector.query`` (rollup
histograms, about 1 % relative error, fast at any volume). A combination of
filters that no rollup level keeps, over a window too long to read raw rows,
falls back to the exact computation of ``fielddata``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import InvalidInput
from collector.query import service as query
from collector.query.windows import Window
from collector.sites.schemas import Site
from dashboard import fielddata
from dashboard.charts import TrendPoint
from dashboard.fielddata import FieldView, MetricSummary, RouteRow, dimensions_of
from dashboard.filters import Filters
from dashboard.vitals import CORE_VITALS, VITALS

_STEPS = {"24h": 3600, "7d": 3 * 3600, "14d": 6 * 3600}
_DEFAULT_STEP = 12 * 3600
_ROUTES_SHOWN = 200


def aligned_window(filters: Filters, now: datetime | None = None) -> tuple[Window, int]:
    """The view's window, ending at the next period boundary, and its trend period."""
    step = _STEPS.get(filters.window, _DEFAULT_STEP)
    moment = (now or datetime.now(UTC)).timestamp()
    end = datetime.fromtimestamp(math.ceil(moment / step) * step, UTC)
    return Window(end - filters.span, end), step


async def field_view(
    *, conn: AsyncConnection, site: Site, filters: Filters, now: datetime | None = None
) -> FieldView:
    """Everything a view shows, read from rollups (exact raw figures when they cannot say)."""
    window, step = aligned_window(filters, now)
    previous = Window(window.start - filters.span, window.start)
    dims = dimensions_of(filters)
    metrics = tuple(VITALS)
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
