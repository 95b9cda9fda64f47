"""Comparison with the previous window: how each metric moved, and which routes got worse.

The previous window has the same length and ends where the current one starts, so
both are made of the same kind of rollup periods.

    compared = await compare(conn=conn, site=site, window=window, metrics=("LCP",))
    compared.metrics["LCP"].p75_change   # 0.12: p75 is 12 % higher than before
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from collector.query import service
from collector.query.schemas import Comparison, MetricChange, MetricStats, Worsening
from collector.query.watermarks import RollupWatermarks
from collector.query.windows import Window
from collector.sites.schemas import Site
from collector.vitals import CORE_METRICS

# A route needs this many samples in both windows, and p75 must move this much, to be
# called out: fewer samples make p75 too noisy to flag.
WORSENING_MIN_SAMPLES = 30
WORSENING_MIN_CHANGE = 0.15
GROUPS_COMPARED = 200


def previous_window(window: Window) -> Window:
    """The window of the same length that ends where ``window`` starts."""
    return Window(window.start - window.span, window.start)


def p75_change(now: MetricStats, before: MetricStats) -> float | None:
    """The relative change of p75 (+0.1 is 10 % higher), or None without both."""
    if now.p75 is None or not before.p75:
        return None
    return now.p75 / before.p75 - 1


async def compare(
    *,
    conn: AsyncConnection,
    site: Site,
    window: Window,
    metrics: Sequence[str],
    filters: Mapping[str, str] | None = None,
    exact: bool = False,
    watermarks: RollupWatermarks | None = None,
) -> Comparison:
    """Each metric's summary over ``window`` and over the previous window."""
    before_window = previous_window(window)
    now = await service.summarize(
        conn=conn,
        site=site,
        window=window,
        metrics=metrics,
        filters=filters,
        exact=exact,
        watermarks=watermarks,
    )
    before = await service.summarize(
        conn=conn,
        site=site,
        window=before_window,
        metrics=metrics,
        filters=filters,
        exact=exact,
        watermarks=watermarks,
    )
    return Comparison(
        site=site.key,
        start=window.start,
        end=window.end,
        source=now.source if now.source == before.source else "raw",
        previous_start=before_window.start,
        metrics={
            metric: MetricChange(
                now=now.metrics[metric],
                before=before.metrics[metric],
                p75_change=p75_change(now.metrics[metric], before.metrics[metric]),
            )
            for metric in metrics
        },
    )


async def worsened_routes(
    *,
    conn: AsyncConnection,
    site: Site,
    window: Window,
    metrics: Sequence[str] = CORE_METRICS,
    filters: Mapping[str, str] | None = None,
    limit: int = 3,
    watermarks: RollupWatermarks | None = None,
) -> list[Worsening]:
    """Busy routes whose p75 got at least 15 % worse than in the previous window, worst first."""
    now, before = {}, {}
    for metric in metrics:
        now[metric] = await group_stats(
            conn=conn,
            site=site,
            window=window,
            metric=metric,
            by="route",
            filters=filters,
            watermarks=watermarks,
        )
        before[metric] = await group_stats(
            conn=conn,
            site=site,
            window=previous_window(window),
            metric=metric,
            by="route",
            filters=filters,
            watermarks=watermarks,
        )
    return worsened(now, before, limit=limit)


def worsened(
    now: Mapping[str, Mapping[str, MetricStats]],
    before: Mapping[str, Mapping[str, MetricStats]],
    *,
    limit: int = 3,
) -> list[Worsening]:
    """The routes of ``now`` (metric → route → stats) clearly worse than ``before``."""
    found = []
    for metric, routes in now.items():
        earlier = before.get(metric, {})
        for route, stats in routes.items():
            past = earlier.get(route)
            if past is None or min(stats.count, past.count) < WORSENING_MIN_SAMPLES:
                continue
            if stats.p75 is None or not past.p75:
                continue
            change = stats.p75 / past.p75 - 1
            if change >= WORSENING_MIN_CHANGE:
                found.append(
                    Worsening(
                        route=route,
                        metric=metric,
                        before=past.p75,
                        now=stats.p75,
                        count=stats.count,
                        change=change,
                    )
                )
    found.sort(key=lambda worse: (-worse.change, worse.route, worse.metric))
    return found[:limit]


async def group_stats(
    *,
    conn: AsyncConnection,
    site: Site,
    window: Window,
    metric: str,
    by: str,
    filters: Mapping[str, str] | None = None,
    watermarks: RollupWatermarks | None = None,
) -> dict[str, MetricStats]:
    """The statistics of the ``GROUPS_COMPARED`` most observed values of ``by``."""
    breakdown = await service.break_down(
        conn=conn,
        site=site,
        window=window,
        metric=metric,
        by=by,
        filters=filters,
        order="count",
        limit=GROUPS_COMPARED,
        watermarks=watermarks,
    )
    return {row.value or "unknown": row for row in breakdown.rows}
