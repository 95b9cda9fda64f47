"""The roller: rolls raw events up into the rollup tables in SQL, behind a watermark.

On PostgreSQL, rolling up inside every ingest batch would upsert tens of rollup rows
per metric; rolled up every few seconds, thousands of batches collapse onto the same
cells and PostgreSQL does the grouping in one statement. A pass takes the watermark
row ``FOR UPDATE``, rolls ``[rolled_before, until)`` and moves the watermark in the
same transaction, so a crash loses nothing: the next pass starts where the last
committed one ended. Writers hold the row ``FOR SHARE`` while they commit a batch,
so each batch is either seen by a pass or sees its new watermark (and then applies
its late records itself, see ``rollups.py``).

    async with engine.begin() as conn:
        await roll_up(conn, until=datetime.now(UTC))
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector.query.levels import ALL, DIMENSIONS, GRAINS, LEVELS, dimensions_of
from collector.query.rollups import WATERMARK_ID, read_watermark
from collector.query.sketch import sql_bucket_expression, sql_rating_expression
from collector.storage.tables import ROLLUP_COUNTS_KEY, ROLLUP_KEY, rollup_watermark

MAX_PASS_SPAN = timedelta(hours=6)

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
_KEY = ", ".join(ROLLUP_COUNTS_KEY)
_SMALLEST = GRAINS[0]
_GRAIN_VALUES = ", ".join(f"({grain})" for grain in GRAINS)

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
    SELECT site_id, metric, level, g.grain, base.period - base.period % g.grain AS period,
           {_DIMS}, bucket, rating, sum(n)::bigint AS n
    FROM base CROSS JOIN (VALUES {_GRAIN_VALUES}) AS g(grain)
    GROUP BY site_id, metric, level, g.grain, 5, {_DIMS}, bucket, rating
), histogram AS (
    INSERT INTO rollups ({", ".join(ROLLUP_KEY)}, count)
    SELECT {", ".join(ROLLUP_KEY)}, sum(n) FROM grained
    GROUP BY {", ".join(ROLLUP_KEY)}
    ORDER BY {", ".join(ROLLUP_KEY)}
    ON CONFLICT ({", ".join(ROLLUP_KEY)}) DO UPDATE SET count = rollups.count + EXCLUDED.count
)
INSERT INTO rollup_counts ({_KEY}, count, good, needs_improvement, poor)
SELECT {_KEY}, sum(n),
       coalesce(sum(n) FILTER (WHERE rating = 1), 0),
       coalesce(sum(n) FILTER (WHERE rating = 2), 0),
       coalesce(sum(n) FILTER (WHERE rating = 3), 0)
FROM grained
GROUP BY {_KEY}
ORDER BY {_KEY}
ON CONFLICT ({_KEY}) DO UPDATE SET
    count = rollup_counts.count + EXCLUDED.count,
    good = rollup_counts.good + EXCLUDED.good,
    needs_improvement = rollup_counts.needs_improvement + EXCLUDED.needs_improvement,
    poor = rollup_counts.poor + EXCLUDED.poor
"""  # noqa: S608


async def roll_up(
    conn: AsyncConnection, *, until: datetime, max_span: timedelta = MAX_PASS_SPAN
) -> RollResult:
    """One pass in ``conn``'s transaction: roll up events from the watermark to ``until``.

    A pass covers at most ``max_span``; call again to catch up further. On SQLite the
    watermark is at the end of time (writers roll up themselves) and this does nothing.
    """
    if conn.dialect.name != "postgresql":
        watermark = await read_watermark(conn, lock=False)
        return RollResult(watermark, watermark)
    locked = select(rollup_watermark.c.rolled_before).where(rollup_watermark.c.id == WATERMARK_ID)
    watermark = (await conn.execute(locked.with_for_update())).scalar_one()
    end = min(until, watermark + max_span)
    if end <= watermark:
        return RollResult(watermark, watermark)
    await conn.execute(text(ROLL_UP_SQL), {"start": watermark, "end": end})
    await conn.execute(
        update(rollup_watermark)
        .where(rollup_watermark.c.id == WATERMARK_ID)
        .values(rolled_before=end)
    )
    return RollResult(watermark, end)


async def catch_up(
    engine: AsyncEngine, *, until: datetime, max_span: timedelta = MAX_PASS_SPAN
) -> datetime:
    """Run passes, each in its own transaction, until the watermark reaches ``until``."""
    while True:
        async with engine.begin() as conn:
            result = await roll_up(conn, until=until, max_span=max_span)
        if result.end >= until or result.end == result.start:
            return result.end


async def roll_forever(engine: AsyncEngine, *, interval: timedelta) -> None:
    """Keep the rollups at most about ``interval`` behind the raw events, until cancelled."""
    while True:
        try:
            await catch_up(engine, until=datetime.now(UTC))
        except Exception:
            # The raw rows stay; the next pass rolls them up from the same watermark.
            logger.exception("rollup_pass_failed")
        await asyncio.sleep(interval.total_seconds())
