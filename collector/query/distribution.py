"""How a metric's values spread over a window: equal-width bins for a histogram.

From the rollups, the merged bucket histogram is re-binned: each bucket's count goes
to the display bin holding the bucket's value, which is within the sketch's 1 % of
every value in it (so an observation within 1 % of a bin edge may land in the
neighbouring bin). Filters no rollup level keeps, and exact mode, bin the raw values
of windows up to ``RAW_MAX_WINDOW``.

    spread = await distribution(conn=conn, site=site, window=window, metric="LCP")
    [(b.low, b.high, b.count) for b in spread.bins]
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import InvalidInput
from collector.query.aggregates import rollup_cells
from collector.query.levels import covering_level, supported_combinations
from collector.query.raw_rows import raw_conditions
from collector.query.schemas import Distribution, DistributionBin, Source
from collector.query.selection import Selection
from collector.query.service import RAW_MAX_WINDOW
from collector.query.sketch import mapping_for, nearest_rank
from collector.query.watermarks import RollupWatermarks
from collector.query.windows import SNAP_SLACK, Window
from collector.sites.schemas import Site
from collector.storage.db import stream_in_chunks
from collector.storage.tables import events
from collector.vitals import THRESHOLDS

DEFAULT_BINS = 24
MIN_BINS, MAX_BINS = 4, 100
# The bins reach past the poor threshold by half, or to the p95 if that is higher,
# so both thresholds show and a long tail does not squash the bulk into one bin.
_REACH_PAST_POOR = 1.5
_TOP_FRACTION = 0.95

ValueCounts = list[tuple[float, int]]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above ``value`` (a round axis maximum)."""
    if value <= 0:
        return 1.0
    # 10 **, not 10.0 **: from 1 up the answer stays the int it always was.
    magnitude: float = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def parse_bins(value: int) -> int:
    """How many bins to answer, MIN_BINS … MAX_BINS."""
    if not MIN_BINS <= value <= MAX_BINS:
        raise InvalidInput(
            f"bad bins {value}; allowed: {MIN_BINS} to {MAX_BINS}",
            details={"field": "bins", "allowed": f"{MIN_BINS}..{MAX_BINS}"},
        )
    return value


async def distribution(
    *,
    conn: AsyncConnection,
    site: Site,
    window: Window,
    metric: str,
    filters: Mapping[str, str] | None = None,
    bins: int = DEFAULT_BINS,
    exact: bool = False,
    watermarks: RollupWatermarks | None = None,
) -> Distribution:
    """``bins`` equal-width bins from 0; the last one also counts every larger value."""
    chosen = dict(filters or {})
    level = _rollup_level(chosen, window, exact)
    source: Source
    if level is None:
        values = await _raw_values(conn, site, window, metric, chosen)
        source = "raw"
    else:
        selection = Selection(site.id, (metric,), window, chosen)
        values = await _rollup_values(conn, selection, level, watermarks)
        source = "rollups"
    count = sum(n for _, n in values)
    top = nice_ceiling(max(THRESHOLDS[metric][1] * _REACH_PAST_POOR, _top_value(values, count)))
    return Distribution(
        site=site.key,
        start=window.start,
        end=window.end,
        source=source,
        metric=metric,
        count=count,
        bins=equal_bins(values, top=top, count=bins),
    )


def equal_bins(
    values: Iterable[tuple[float, int]], *, top: float, count: int
) -> list[DistributionBin]:
    """Equal-width bins from 0 to ``top`` of (value, how many) pairs; larger values go last."""
    width = top / count
    counts = [0] * count
    for value, n in values:
        counts[min(int(max(value, 0.0) / width), count - 1)] += n
    return [
        DistributionBin(low=i * width, high=(i + 1) * width, count=c) for i, c in enumerate(counts)
    ]


def _top_value(values: ValueCounts, count: int) -> float:
    """The ``_TOP_FRACTION`` percentile of sorted (value, how many) pairs (0 when empty)."""
    if count == 0:
        return 0.0
    rank, seen = nearest_rank(_TOP_FRACTION, count), 0
    for value, n in values:
        seen += n
        if seen >= rank:
            return value
    return values[-1][0]


def _rollup_level(filters: Mapping[str, str], window: Window, exact: bool) -> int | None:
    level = None
    if not exact:
        level = covering_level(set(filters), start=window.start_seconds, end=window.end_seconds)
    if level is None and window.span > RAW_MAX_WINDOW + SNAP_SLACK:
        what = "exact mode" if exact else f"{sorted(filters)} at this time resolution"
        raise InvalidInput(
            f"{what} is computed from raw rows, for windows up to {RAW_MAX_WINDOW.days} days; "
            "shorten the window, or filter by dimensions rollups keep together",
            details={
                "max_days": RAW_MAX_WINDOW.days,
                "rollup_combinations": supported_combinations(),
            },
        )
    return level


async def _rollup_values(
    conn: AsyncConnection,
    selection: Selection,
    level: int,
    watermarks: RollupWatermarks | None,
) -> ValueCounts:
    metric = selection.metrics[0]
    cells = await rollup_cells(conn, selection, level, watermarks=watermarks)
    cell = cells.get((metric, None, None))
    if cell is None:
        return []
    mapping = mapping_for(metric)
    return [(mapping.value_of(b), n) for b, n in sorted(cell.histogram.items()) if n > 0]


async def _raw_values(
    conn: AsyncConnection, site: Site, window: Window, metric: str, filters: Mapping[str, str]
) -> ValueCounts:
    query = select(events.c.value).where(
        *raw_conditions(site_id=site.id, metrics=(metric,), window=window, filters=filters)
    )
    values: array[float] = array("d")
    async with stream_in_chunks(conn, query) as result:
        async for partition in result.partitions():
            values.extend(row[0] for row in partition)
    return [(value, 1) for value in sorted(values)]
