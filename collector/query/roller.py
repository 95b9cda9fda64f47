"""The roller: rolls raw events up into the rollup tables in SQL, behind a watermark.

On PostgreSQL, rolling up inside every ingest batch would upsert tens of rollup rows
per metric; rolled up every few seconds, thousands of batches collapse onto the same
cells and PostgreSQL does the grouping in one statement. A pass takes the watermark
row ``FOR UPDATE``, rolls ``[rolled_before, until)`` and moves the watermark in the
same transaction, so a crash loses nothing: the next pass starts where the last
committed one ended. A pass never rolls events younger than ``ROLL_LAG``, so writers
committing fresh events need no lock at all; only a batch holding older records reads
the row ``FOR SHARE``, and is then either seen by a pass or sees its new watermark
(and applies its late records itself, see ``rollups.py``).

    async with engine.begin() as conn:
        await roll_up(conn, until=datetime.now(UTC))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector.query.levels import (
    ALL,
    COMPACTED_GRAINS,
    DIMENSIONS,
    GRAINS,
    LEVEL_GRAINS,
    LEVELS,
    dimensions_of,
)
from collector.query.packed import sql_pack_expression
from collector.query.rollups import ROLL_LAG, WATERMARK_ID, read_watermark
from collector.query.sketch import sql_bucket_expression, sql_rating_expression
from collector.query.timeutil import epoch_seconds
from collector.storage.tables import ROLLUP_KEY, rollup_watermark

MAX_PASS_SPAN = timedelta(days=1)

logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RollResult:
    """One pass: the slice of time rolled up (empty when there was nothing to do)."""

    start: datetime
    end: datetime


def _grouping_sets() -> str:
    return ", ".join("(" + ", ".join(dimensions_of(level)) + ")" for level in LEVELS)


def _kept_or_all(dimension: str) -> str:
    return f"CASE WHEN GROUPING({dimension}) = 1 THEN '{ALL}' ELSE {dimension} END AS {dimension}"


_DIMS = ", ".join(DIMENSIONS)
_KEY = ", ".join(ROLLUP_KEY)
_SMALLEST = GRAINS[0]
_LEVEL_GRAINS = ", ".join(
    f"({level}, {grain})" for level, grains in LEVEL_GRAINS.items() for grain in grains
)

# Built from constants only; the window is bound as parameters.
ROLL_UP_SQL = f"""
WITH src AS (
    SELECT site_id, metric, route, device, browser, connection, navigation_type,
           coalesce(country, '') AS country,
           (floor(extract(epoch FROM ts))::bigint / {_SMALLEST}) * {_SMALLEST} AS period,
           {sql_bucket_expression("value", "metric")} AS bucket,
           {sql_rating_expression("value", "metric")} AS rating
    FROM events
    WHERE ts >= :start AND ts < :end
), base AS (
    SELECT site_id, metric, period, bucket, rating,
           ({(1 << len(DIMENSIONS)) - 1} - GROUPING({_DIMS}))::smallint AS level,
           {", ".join(_kept_or_all(d) for d in DIMENSIONS)},
           count(*) AS n
    FROM src
    GROUP BY site_id, metric, period, bucket, rating, GROUPING SETS ({_grouping_sets()})
), grained AS (
    SELECT site_id, metric, base.level, g.grain, base.period - base.period % g.grain AS period,
           {_DIMS}, bucket, rating, sum(n)::bigint AS n
    FROM base JOIN (VALUES {_LEVEL_GRAINS}) AS g(level, grain) ON g.level = base.level
    GROUP BY site_id, metric, base.level, g.grain, 5, {_DIMS}, bucket, rating
), per_bucket AS (
    SELECT {_KEY}, bucket, sum(n) AS n,
           coalesce(sum(n) FILTER (WHERE rating = 1), 0) AS good,
           coalesce(sum(n) FILTER (WHERE rating = 2), 0) AS needs_improvement,
           coalesce(sum(n) FILTER (WHERE rating = 3), 0) AS poor
    FROM grained
    GROUP BY {_KEY}, bucket
)
INSERT INTO rollups ({_KEY}, count, good, needs_improvement, poor, histogram)
SELECT {_KEY}, sum(n), sum(good), sum(needs_improvement), sum(poor),
       array_agg({sql_pack_expression("bucket", "n")} ORDER BY bucket)
FROM per_bucket
GROUP BY {_KEY}
ORDER BY {_KEY}
ON CONFLICT ({_KEY}) DO UPDATE SET
    count = rollups.count + EXCLUDED.count,
    good = rollups.good + EXCLUDED.good,
    needs_improvement = rollups.needs_improvement + EXCLUDED.needs_improvement,
    poor = rollups.poor + EXCLUDED.poor,
    histogram = perfbeacon_merge_histograms(rollups.histogram, EXCLUDED.histogram)
"""  # noqa: S608


def _compact_sql(grain: int) -> str:
    """One multi-day grain's periods, each summed from the two rows of its halves.

    Histograms add bucket by bucket (``perfbeacon_sum_histograms``). A period is
    compacted once, when the watermark passes its end; replacing keeps that idempotent.
    Built from constants only; the periods are bound as parameters.
    """
    return f"""
INSERT INTO rollups ({_KEY}, count, good, needs_improvement, poor, histogram)
SELECT site_id, metric, level, {grain}, period - period % {grain}, {_DIMS},
       sum(count), sum(good), sum(needs_improvement), sum(poor),
       perfbeacon_sum_histograms(histogram)
FROM rollups
WHERE grain = {grain // 2} AND period >= :start AND period < :end
GROUP BY site_id, metric, level, period - period % {grain}, {_DIMS}
ON CONFLICT ({_KEY}) DO UPDATE SET
    count = EXCLUDED.count,
    good = EXCLUDED.good,
    needs_improvement = EXCLUDED.needs_improvement,
    poor = EXCLUDED.poor,
    histogram = EXCLUDED.histogram
"""  # noqa: S608


_COMPACT_SQL = {grain: _compact_sql(grain) for grain in COMPACTED_GRAINS}


async def compact(conn: AsyncConnection, *, after: datetime, until: datetime) -> None:
    """Build the multi-day rows of every period ending in ``(after, until]``, finest first."""
    first, last = epoch_seconds(after), epoch_seconds(until)
    for grain in COMPACTED_GRAINS:
        start = first - first % grain
        end = last - last % grain
        if start < end:
            await conn.execute(text(_COMPACT_SQL[grain]), {"start": start, "end": end})


async def roll_up(
    conn: AsyncConnection,
    *,
    until: datetime,
    max_span: timedelta = MAX_PASS_SPAN,
    lag: timedelta = ROLL_LAG,
) -> RollResult:
    """One pass in ``conn``'s transaction: roll up events from the watermark to ``until``.

    A pass covers at most ``max_span`` and stops ``lag`` before now; call again to catch
    up further. On SQLite the watermark is at the end of time (writers roll up
    themselves) and this does nothing.
    """
    if conn.dialect.name != "postgresql":
        watermark = await read_watermark(conn, lock=False)
        return RollResult(watermark, watermark)
    locked = select(rollup_watermark.c.rolled_before).where(rollup_watermark.c.id == WATERMARK_ID)
    watermark = (await conn.execute(locked.with_for_update())).scalar_one()
    # Read the clock after taking the lock and before the pass's snapshot: a batch that
    # snapshot misses commits after this moment, so records it found fresh lie past ``end``.
    end = min(until, watermark + max_span, datetime.now(UTC) - lag)
    if end <= watermark:
        return RollResult(watermark, watermark)
    # The grouping spills to disk with the default work_mem; a pass is short-lived.
    await conn.execute(text("SET LOCAL work_mem = '64MB'"))
    await conn.execute(text(ROLL_UP_SQL), {"start": watermark, "end": end})
    await compact(conn, after=watermark, until=end)
    await conn.execute(
        update(rollup_watermark)
        .where(rollup_watermark.c.id == WATERMARK_ID)
        .values(rolled_before=end)
    )
    return RollResult(watermark, end)


async def catch_up(
    engine: AsyncEngine,
    *,
    until: datetime,
    max_span: timedelta = MAX_PASS_SPAN,
    lag: timedelta = ROLL_LAG,
) -> datetime:
    """Run passes, each in its own transaction, until the watermark reaches ``until``.

    It stops short of ``until`` when that is less than ``lag`` ago.
    """
    until = min(until, datetime.now(UTC) - lag)
    while True:
        async with engine.begin() as conn:
            result = await roll_up(conn, until=until, max_span=max_span, lag=lag)
        if result.end >= until or result.end == result.start:
            return result.end


async def roll_once(
    engine: AsyncEngine, *, report_lag: Callable[[float], None] | None = None
) -> None:
    """Roll up every raw event up to now; ``report_lag`` gets how far the watermark is behind.

    A failed pass leaves the raw rows, and the next one rolls up from the same watermark.
    """
    watermark = await catch_up(engine, until=datetime.now(UTC))
    if report_lag is not None:
        report_lag(max((datetime.now(UTC) - watermark).total_seconds(), 0.0))
