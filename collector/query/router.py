"""Read API: ``/api/v1/sites/{key}/...`` with the site's read token. Thin: parse, call, answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from collector.deps import Conn, EngineDep
from collector.query import attribution, comparison, distribution, export, score, service
from collector.query.api_params import (
    AttributionOrder,
    Bins,
    Dimension,
    Exact,
    Filters,
    Interval,
    Limit,
    Metric,
    MetricsQuery,
    MinCount,
    Order,
    Percentile,
    WindowDep,
)
from collector.query.deps import Watermarks
from collector.query.params import (
    parse_dimension,
    parse_interval,
    parse_limit,
    parse_metric,
    parse_min_count,
    parse_order,
    parse_percentile,
)
from collector.query.schemas import (
    Attribution,
    Breakdown,
    Comparison,
    Distribution,
    Scores,
    Summary,
    Timeseries,
)
from collector.sites.deps import SiteReader
from collector.vitals import DAY

router = APIRouter(prefix="/api/v1/sites/{key}", tags=["query"])


def _streamed(media_type: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answer of a streamed export: its media type, not JSON."""
    return {200: {"content": {media_type: {"schema": {"type": "string"}}}}}


@router.get("/summary")
async def summary(
    site: SiteReader, conn: Conn, query: MetricsQuery, watermarks: Watermarks
) -> Summary:
    """Count, p50/p75/p90/p95/p99 and good / needs-improvement / poor shares per metric."""
    return await service.summarize(conn=conn, site=site, watermarks=watermarks, **query)


@router.get("/comparison")
async def compare_windows(
    site: SiteReader, conn: Conn, query: MetricsQuery, watermarks: Watermarks
) -> Comparison:
    """Each metric's summary now and in the previous window of the same length."""
    return await comparison.compare(conn=conn, site=site, watermarks=watermarks, **query)


@router.get("/timeseries")
async def timeseries(
    site: SiteReader,
    conn: Conn,
    window: WindowDep,
    filters: Filters,
    watermarks: Watermarks,
    metric: Metric = "LCP",
    interval: Interval = "1h",
    percentile: Percentile = 75,
    exact: Exact = False,
) -> Timeseries:
    """One percentile of a metric per interval (5m … 1d)."""
    seconds = parse_interval(interval)
    return await service.timeseries(
        conn=conn,
        site=site,
        window=window.resolve(snap=seconds),
        metric=parse_metric(metric),
        interval=seconds,
        fraction=parse_percentile(percentile),
        filters=filters,
        exact=exact,
        watermarks=watermarks,
    )


@router.get("/breakdown")
async def breakdown(
    site: SiteReader,
    conn: Conn,
    window: WindowDep,
    filters: Filters,
    watermarks: Watermarks,
    metric: Metric = "LCP",
    by: Dimension = "page",
    order: Order = "count",
    limit: Limit = 10,
    exact: Exact = False,
) -> Breakdown:
    """The top values of one dimension, by count or by a percentile (worst first)."""
    return await service.break_down(
        conn=conn,
        site=site,
        window=window.resolve(),
        metric=parse_metric(metric),
        by=parse_dimension(by),
        filters=filters,
        order=parse_order(order),
        limit=parse_limit(limit),
        exact=exact,
        watermarks=watermarks,
    )


@router.get("/attribution")
async def attribution_top(
    site: SiteReader,
    conn: Conn,
    window: WindowDep,
    filters: Filters,
    metric: Metric = "LCP",
    limit: Limit = 10,
    min_count: MinCount = 1,
    order: AttributionOrder = "p75",
) -> Attribution:
    """The worst LCP elements, INP targets or CLS sources per route (raw rows, ≤ 7 days).

    Ranked by p75, count or impact (count × p75); each with its sub-parts' medians.
    """
    return await attribution.attribute(
        conn=conn,
        site=site,
        window=window.resolve(),
        metric=parse_metric(metric),
        filters=filters,
        limit=parse_limit(limit),
        min_count=parse_min_count(min_count),
        order=attribution.parse_order(order),
    )


@router.get("/distribution")
async def value_distribution(
    site: SiteReader,
    conn: Conn,
    window: WindowDep,
    filters: Filters,
    watermarks: Watermarks,
    metric: Metric = "LCP",
    bins: Bins = distribution.DEFAULT_BINS,
    exact: Exact = False,
) -> Distribution:
    """How a metric's values spread: equal-width bins from 0, for a histogram."""
    return await distribution.distribution(
        conn=conn,
        site=site,
        window=window.resolve(),
        metric=parse_metric(metric),
        filters=filters,
        bins=distribution.parse_bins(bins),
        exact=exact,
        watermarks=watermarks,
    )


@router.get("/score")
async def performance_score(
    site: SiteReader,
    conn: Conn,
    window: WindowDep,
    filters: Filters,
    watermarks: Watermarks,
    limit: Limit = 10,
) -> Scores:
    """The site's performance score and its busiest routes' scores, worst first (whole days)."""
    # Route rollups keep whole days only, and every route's p75s are needed.
    return await score.score(
        conn=conn,
        site=site,
        window=window.resolve(snap=DAY),
        filters=filters,
        limit=parse_limit(limit),
        watermarks=watermarks,
    )


@router.get("/export.csv", response_class=StreamingResponse, responses=_streamed("text/csv"))
async def export_csv(
    site: SiteReader, engine: EngineDep, window: WindowDep, filters: Filters
) -> StreamingResponse:
    """Raw events of the window matching the filters as CSV, streamed."""
    chunks = export.export_csv(engine, site_id=site.id, window=window.resolve(), filters=filters)
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{site.key}-events.csv"'},
    )


@router.get(
    "/export.ndjson", response_class=StreamingResponse, responses=_streamed("application/x-ndjson")
)
async def export_ndjson(
    site: SiteReader, engine: EngineDep, window: WindowDep, filters: Filters
) -> StreamingResponse:
    """Raw events of the window matching the filters as newline-delimited JSON, streamed."""
    chunks = export.export_ndjson(engine, site_id=site.id, window=window.resolve(), filters=filters)
    return StreamingResponse(chunks, media_type="application/x-ndjson")
