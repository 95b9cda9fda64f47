"""Query services: summary, timeseries and breakdown. Keyword-only, typed, free of HTTP.

Each reads rollups when a rollup level keeps every dimension it filters or groups by,
and raw rows otherwise (allowed for windows up to ``RAW_MAX_WINDOW``), or when exact
mode is asked for. Both use the nearest-rank percentile definition.

    summary = await summarize(conn=conn, site=site, window=window, metrics=("LCP",),
                              watermarks=runtime.watermarks)
    summary.metrics["LCP"].p75

``watermarks`` (the runtime's) saves the watermark's round trip on windows it covers;
without it the watermark is read every time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import InvalidInput
from collector.query.aggregates import rollup_stats, rollup_top_by_count
from collector.query.exact import exact_stats
from collector.query.levels import covering_level, supported_combinations
from collector.query.schemas import (
    Breakdown,
    BreakdownRow,
    MetricStats,
    Source,
    Summary,
    Timeseries,
)
from collector.query.selection import GroupKey, Percentiles, Selection, Tally
from collector.query.timeutil import from_epoch
from collector.query.watermarks import RollupWatermarks
from collector.query.windows import SNAP_SLACK, Window
from collector.sites.schemas import Site

RAW_MAX_WINDOW = timedelta(days=7)
MAX_POINTS = 2000
SUMMARY_FRACTIONS = (0.5, 0.75, 0.9, 0.95, 0.99)


async def summarize(
    *,
    conn: AsyncConnection,
    site: Site,
    window: Window,
    metrics: Sequence[str],
    filters: Mapping[str, str] | None = None,
    exact: bool = False,
    watermarks: RollupWatermarks | None = None,
) -> Summary:
    """Count, p50/p75/p90/p95/p99 and rating shares of each metric over ``window``."""
    selection = Selection(site.id, tuple(metrics), window, dict(filters or {}))
    tallies, percentiles, source = await _statistics(
        conn, selection, SUMMARY_FRACTIONS, exact, watermarks
    )
    return Summary(
        site=site.key,
        start=window.start,
        end=window.end,
        source=source,
        metrics={
            metric: _metric_stats(
                tallies.get((metric, None, None)), percentiles.get((metric, None, None))
            )
            for metric in metrics
        },
    )


async def timeseries(
    *,
    conn: AsyncConnection,
    site: Site,
    window: Window,
    metric: str,
    interval: int,
    fraction: float = 0.75,
    filters: Mapping[str, str] | None = None,
    exact: bool = False,
    watermarks: RollupWatermarks | None = None,
) -> Timeseries:
    """One percentile of ``metric`` per ``interval`` seconds; empty intervals have count 0."""
    steps = (window.end_seconds - window.start_seconds) // interval
    if window.start_seconds % interval or window.end_seconds % interval:
        raise InvalidInput(f"the window must be aligned on the interval ({interval} s)")
    if steps > MAX_POINTS:
        raise InvalidInput(
            f"the window is too long for this interval: {steps} points, at most {MAX_POINTS}; "
            "use a larger interval or a shorter window",
            details={"field": "interval", "max_points": MAX_POINTS},
        )
    selection = Selection(site.id, (metric,), window, dict(filters or {}), interval=interval)
    tallies, percentiles, source = await _statistics(
        conn, selection, (fraction,), exact, watermarks
    )
    points: list[dict[str, object]] = []
    for slot in range(window.start_seconds, window.end_seconds, interval):
        tally = tallies.get((metric, None, slot))
        value = percentiles.get((metric, None, slot), {}).get(fraction)
        points.append(
            {
                "start": from_epoch(slot),
                "count": tally.count if tally else 0,
                "value": value if tally else None,
            }
        )
    # Points as plain dicts, validated with the answer in one call: a model per point
    # cost twice as much for a week's 168 hours (``model_construct`` four times).
    return Timeseries.model_validate(
        {
            "site": site.key,
            "start": window.start,
            "end": window.end,
            "source": source,
            "metric": metric,
            "interval": _interval_name(interval),
            "percentile": round(fraction * 100, 6),
            "points": points,
        }
    )


async def break_down(
    *,
    conn: AsyncConnection,
    site: Site,
    window: Window,
    metric: str,
    by: str,
    filters: Mapping[str, str] | None = None,
    order: str = "count",
    limit: int = 10,
    exact: bool = False,
    watermarks: RollupWatermarks | None = None,
) -> Breakdown:
    """The top ``limit`` values of dimension ``by``: most observed, or worst ``order`` percentile.

    Ranked by count, only the top groups' histograms are read (in the same statement).
    """
    selection = Selection(site.id, (metric,), window, dict(filters or {}), group_by=by)
    level = _rollup_level(selection, exact)
    if level is None:
        tallies, percentiles = await exact_stats(conn, selection, SUMMARY_FRACTIONS)
        source: Source = "raw"
    elif order == "count":
        tallies, percentiles = await rollup_top_by_count(
            conn, selection, level, limit, SUMMARY_FRACTIONS, watermarks=watermarks
        )
        source = "rollups"
    else:
        # Ranking by a percentile needs every group's histogram anyway: one read.
        tallies, percentiles = await rollup_stats(
            conn, selection, level, SUMMARY_FRACTIONS, watermarks=watermarks
        )
        source = "rollups"
    keys = (
        _ranked_by_count(tallies) if order == "count" else _ranked_by(order, percentiles, tallies)
    )
    rows = [
        BreakdownRow(
            value=_group_value(by, key[1]),
            **_metric_stats(tallies.get(key), percentiles.get(key)).model_dump(),
        )
        for key in keys[:limit]
    ]
    return Breakdown(
        site=site.key,
        start=window.start,
        end=window.end,
        source=source,
        metric=metric,
        by=by,
        order=order,
        groups=len(tallies),
        rows=rows,
    )


def _rollup_level(selection: Selection, exact: bool) -> int | None:
    """The rollup level to read, or None to read raw rows (exact or uncovered)."""
    if exact:
        _check_raw_window(selection.window, "exact mode")
        return None
    needed = set(selection.filters)
    if selection.group_by is not None:
        needed.add(selection.group_by)
    window = selection.window
    level = covering_level(
        needed,
        start=window.start_seconds,
        end=window.end_seconds,
        interval=selection.interval,
    )
    if level is None:
        _check_raw_window(window, f"{sorted(needed) or 'no filter'} at this time resolution")
    return level


def _check_raw_window(window: Window, what: str) -> None:
    if window.span > RAW_MAX_WINDOW + SNAP_SLACK:
        raise InvalidInput(
            f"{what} is computed from raw rows, for windows up to {RAW_MAX_WINDOW.days} days; "
            "shorten the window, or filter or group by dimensions rollups keep together",
            details={
                "max_days": RAW_MAX_WINDOW.days,
                "rollup_combinations": supported_combinations(),
            },
        )


async def _statistics(
    conn: AsyncConnection,
    selection: Selection,
    fractions: Sequence[float],
    exact: bool,
    watermarks: RollupWatermarks | None,
) -> tuple[dict[GroupKey, Tally], dict[GroupKey, Percentiles], Source]:
    level = _rollup_level(selection, exact)
    if level is None:
        tallies, percentiles = await exact_stats(conn, selection, fractions)
        return tallies, percentiles, "raw"
    tallies, percentiles = await rollup_stats(
        conn, selection, level, fractions, watermarks=watermarks
    )
    return tallies, percentiles, "rollups"


def _metric_stats(tally: Tally | None, percentiles: Percentiles | None) -> MetricStats:
    if tally is None or tally.count == 0:
        return MetricStats(
            count=0, p50=None, p75=None, p90=None, p95=None, p99=None,
            good=None, needs_improvement=None, poor=None,
        )  # fmt: skip
    found = percentiles or {}
    return MetricStats(
        count=tally.count,
        p50=found.get(0.5),
        p75=found.get(0.75),
        p90=found.get(0.9),
        p95=found.get(0.95),
        p99=found.get(0.99),
        good=tally.good / tally.count,
        needs_improvement=tally.needs_improvement / tally.count,
        poor=tally.poor / tally.count,
    )


def _ranked_by_count(tallies: Mapping[GroupKey, Tally]) -> list[GroupKey]:
    return sorted(tallies, key=lambda key: (-tallies[key].count, key[1] or ""))


def _ranked_by(
    order: str, percentiles: Mapping[GroupKey, Percentiles], tallies: Mapping[GroupKey, Tally]
) -> list[GroupKey]:
    fraction = int(order.removeprefix("p")) / 100

    def worst_first(key: GroupKey) -> tuple[float, int, str]:
        value = percentiles.get(key, {}).get(fraction)
        return (-(value if value is not None else float("-inf")), -tallies[key].count, key[1] or "")

    return sorted(tallies, key=worst_first)


def _group_value(by: str, value: str | None) -> str | None:
    # Unknown countries are stored as '' in rollups; answer null.
    return None if by == "country" and not value else value


def _interval_name(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"
