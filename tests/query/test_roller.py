"""The roller (SQL) and the writer's accumulator (Python) build the same rollups."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.query.packed import unpack
from collector.query.roller import ROLL_LAG, roll_once, roll_up
from collector.query.rollups import (
    FRESH_FOR,
    RollupAccumulator,
    batch_needs_rollups,
    cells_of,
    read_watermark,
)
from collector.query.timeutil import epoch_seconds
from collector.storage.tables import ROLLUP_KEY, rollups
from tests.databases import postgres_engine
from tests.factories import event, roll_up_to, set_watermark, store_events
from tests.query.conftest import T0


def random_events(site_id: int, count: int) -> list:  # type: ignore[type-arg]
    rng = random.Random(5)
    return [
        event(
            site_id=site_id,
            ts=T0 + timedelta(seconds=rng.randrange(3 * 86400)),
            metric=rng.choice(["LCP", "CLS", "INP", "TTFB"]),
            value=rng.choice([0.0, rng.lognormvariate(4, 3)]),
            route=rng.choice(["/", "/a/:id"]),
            device=rng.choice(["mobile", "desktop"]),
            browser=rng.choice(["chrome", "firefox"]),
            country=rng.choice([None, "de"]),
        )
        for _ in range(count)
    ]


def histogram_of(stored: list[int] | dict[str, int]) -> dict[int, int]:
    """A histogram as PostgreSQL (packed entries) or SQLite (JSON) stores it."""
    if isinstance(stored, dict):
        return {int(bucket): n for bucket, n in stored.items()}
    buckets, counts = unpack(np.array(stored, np.int64))
    return dict(zip(buckets.tolist(), counts.tolist(), strict=True))


async def stored_rollups(engine: AsyncEngine) -> dict[tuple[object, ...], tuple[object, ...]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(rollups))
        return {
            tuple(row[: len(ROLLUP_KEY)]): (
                row.count,
                row.good,
                row.needs_improvement,
                row.poor,
                histogram_of(row.histogram),
            )
            for row in rows
        }


async def expected_rollups(
    engine: AsyncEngine,
    records: list,  # type: ignore[type-arg]
) -> dict[tuple[object, ...], tuple[object, ...]]:
    """The rollups ``records`` make, multi-day periods compacted up to the watermark."""
    async with engine.connect() as conn:
        watermark = epoch_seconds(await read_watermark(conn, lock=False))
    cells = cells_of(((1, record) for record in records), complete_before=watermark)
    return {
        key: (cell.count, cell.good, cell.needs_improvement, cell.poor, cell.histogram)
        for key, cell in cells.items()
    }


async def test_sql_roller_and_python_accumulator_agree() -> None:
    async with postgres_engine() as engine:
        await set_watermark(engine, T0 - timedelta(days=1))
        records = random_events(1, 1500)
        await store_events(engine, records)
        assert await stored_rollups(engine) == {}  # all left for the roller
        await roll_up_to(engine, T0 + timedelta(days=1, hours=7))
        # The rest arrives late, behind the watermark: the writer rolls it up itself.
        late = random_events(1, 500)
        await store_events(engine, late)
        await roll_up_to(engine, T0 + timedelta(days=4))
        assert await stored_rollups(engine) == await expected_rollups(engine, records + late)


async def test_a_pass_moves_the_watermark_and_a_second_pass_does_nothing() -> None:
    async with postgres_engine() as engine:
        await set_watermark(engine, T0)
        await store_events(engine, random_events(2, 50))
        until = T0 + timedelta(hours=3)
        async with engine.begin() as conn:
            first = await roll_up(conn, until=until)
            assert (first.start, first.end) == (T0, until)
            assert await read_watermark(conn, lock=False) == until
        before = await stored_rollups(engine)
        async with engine.begin() as conn:
            second = await roll_up(conn, until=until)
        assert second.start == second.end == until
        assert await stored_rollups(engine) == before


async def test_events_behind_the_watermark_are_rolled_up_by_the_writer(
    engine: AsyncEngine,
) -> None:
    # On SQLite the watermark is at the end of time; on PostgreSQL, freshly migrated, at
    # the migration's time: either way these past events are the writer's to roll up.
    records = random_events(3, 300)
    await store_events(engine, records)
    assert await stored_rollups(engine) == await expected_rollups(engine, records)


async def test_flush_always_empties_the_accumulator(engine: AsyncEngine) -> None:
    accumulator = RollupAccumulator()
    accumulator.add(event(site_id=4, ts=T0))
    assert len(accumulator) == 1
    async with engine.begin() as conn:
        result = await accumulator.flush(conn)
    assert len(accumulator) == 0
    assert result.applied == 1
    async with engine.begin() as conn:
        assert (await accumulator.flush(conn)).applied == 0


async def test_only_batches_with_older_records_need_the_writer_s_rollups(
    engine: AsyncEngine,
) -> None:
    now = datetime.now(UTC)
    fresh = event(site_id=5, ts=now)
    old = event(site_id=5, ts=now - FRESH_FOR - timedelta(seconds=1))
    async with engine.connect() as conn:
        # On PostgreSQL the roller will count fresh records; SQLite has no roller.
        on_postgresql = conn.dialect.name == "postgresql"
        assert batch_needs_rollups(conn, [fresh], []) is not on_postgresql
        assert batch_needs_rollups(conn, [fresh, old], [])
        # A re-report of a row stored long ago moves that row's old value.
        assert batch_needs_rollups(conn, [], [(old, fresh)])


async def test_a_rolling_pass_reports_how_far_the_watermark_is_behind() -> None:
    async with postgres_engine() as engine:
        await set_watermark(engine, datetime.now(UTC) - timedelta(hours=2))
        lags: list[float] = []
        await roll_once(engine, report_lag=lags.append)
        (lag,) = lags
        # Caught up to the roller's own lag behind now, not two hours behind.
        assert ROLL_LAG.total_seconds() <= lag < ROLL_LAG.total_seconds() + 30
