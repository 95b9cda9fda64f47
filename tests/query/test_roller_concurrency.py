"""Batches committed while roller passes run are counted exactly once, without a lock.

Many writers commit batches (first reports and re-reports, fresh and late) while a
roller runs passes back to back, on PostgreSQL, with random pauses at every step of a
batch so that commits land before, during and after passes. The lag and freshness
limits are scaled down so that passes reach the newest events a writer may commit
without a lock; the rollups must then equal those built from the final raw rows.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.query.roller import catch_up, roll_up
from collector.query.rollups import RollupAccumulator
from collector.storage.partitions import ensure_partitions
from collector.storage.records import EVENT_COLUMNS, EventRecord
from collector.storage.tables import events
from tests.databases import postgres_engine
from tests.factories import event, set_watermark
from tests.query.test_roller import expected_rollups, stored_rollups

# A busy machine (a test suite on two cores) can stall a batch for most of a second
# between its check and its commit: the margin must stay well above that.
LAG = timedelta(seconds=3)
FRESH_FOR = timedelta(seconds=1.5)  # leaves 1.5 s between a batch's check and its commit
WRITERS = 6
BATCHES_PER_WRITER = 12
# How old a record is when its batch commits: most batches are fresh; the others also
# hold records past the freshness limit, some behind the watermark (a replayed spool).
FRESH_AGES = (0.0, 0.0, 0.2, 0.6, 1.0)
LATE_AGES = (0.0, 1.6, 2.4, 4.0, 12.0)


@dataclass
class Tally:
    """What the run did, so the test can tell it exercised the paths it is about."""

    passes_that_rolled: int = 0
    batches_applied_by_writer: int = 0
    batches_left_to_roller: int = 0


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_batches_committed_during_roll_passes_count_exactly_once(seed: int) -> None:
    async with postgres_engine(pool_size=WRITERS + 2) as engine:
        start = datetime.now(UTC)
        await set_watermark(engine, start - timedelta(seconds=30))
        async with engine.begin() as conn:
            await ensure_partitions(conn, first_day=(start - timedelta(days=1)).date(), days=3)
        # Each writer re-reports only its own ids: one writer owns a metric id, as one
        # collector process's writer does.
        latest: list[dict[str, EventRecord]] = [{} for _ in range(WRITERS)]
        tally = Tally()
        stop = asyncio.Event()
        roller = asyncio.create_task(_roll_until(engine, stop, tally, random.Random(seed)))
        rngs = [random.Random(seed * 100 + writer) for writer in range(WRITERS)]
        await asyncio.gather(
            *(
                _write_batches(engine, owned, tally, rng)
                for owned, rng in zip(latest, rngs, strict=True)
            )
        )
        stop.set()
        await roller
        await catch_up(engine, until=datetime.now(UTC) + timedelta(hours=1), lag=timedelta(0))

        final = [record for owned in latest for record in owned.values()]
        assert await stored_rollups(engine) == await expected_rollups(engine, final)
        # Not vacuous: passes ran beside the writers, and both kinds of batch occurred.
        assert tally.passes_that_rolled >= 5
        assert tally.batches_applied_by_writer >= 1
        assert tally.batches_left_to_roller >= WRITERS * BATCHES_PER_WRITER // 3


async def _roll_until(
    engine: AsyncEngine, stop: asyncio.Event, tally: Tally, rng: random.Random
) -> None:
    while not stop.is_set():
        async with engine.begin() as conn:
            result = await roll_up(conn, until=datetime.now(UTC), lag=LAG)
        if result.end > result.start:
            tally.passes_that_rolled += 1
        await asyncio.sleep(rng.uniform(0, 0.03))


async def _write_batches(
    engine: AsyncEngine, latest: dict[str, EventRecord], tally: Tally, rng: random.Random
) -> None:
    for _ in range(BATCHES_PER_WRITER):
        accumulator = RollupAccumulator(fresh_for=FRESH_FOR)
        choices = LATE_AGES if rng.random() < 0.3 else FRESH_AGES
        ages = [rng.choice(choices) for _ in range(rng.randint(1, 6))]
        # Stamped on receipt; the records then wait in the queue for up to their age.
        received = datetime.now(UTC)
        fresh = [
            event(
                site_id=1,
                ts=received - timedelta(seconds=age),
                metric=rng.choice(["LCP", "CLS", "INP"]),
                value=rng.choice([0.0, rng.lognormvariate(4, 2)]),
                route=rng.choice(["/", "/a/:id"]),
                device=rng.choice(["mobile", "desktop"]),
            )
            for age in ages
        ]
        earlier = [record for record in latest.values() if rng.random() < 0.05][:3]
        await asyncio.sleep(rng.uniform(0, 0.2))
        async with engine.begin() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            rows = [msgspec.structs.astuple(record) for record in fresh]
            await raw.copy_records_to_table("events", records=rows, columns=list(EVENT_COLUMNS))
            for record in fresh:
                accumulator.add(record)
            for old in earlier:
                new = msgspec.structs.replace(old, value=old.value * 2 + 1)
                await conn.execute(
                    update(events)
                    .where(events.c.metric_id == old.metric_id, events.c.metric == old.metric)
                    .values(value=new.value)
                )
                accumulator.replace(old, new)
            await asyncio.sleep(rng.uniform(0, 0.05))
            result = await accumulator.flush(conn)
            await asyncio.sleep(rng.uniform(0, 0.05))
        if result.applied:
            tally.batches_applied_by_writer += 1
        else:
            tally.batches_left_to_roller += 1
        for record in fresh:
            latest[record.metric_id] = record
        for old in earlier:
            latest[old.metric_id] = msgspec.structs.replace(old, value=old.value * 2 + 1)
