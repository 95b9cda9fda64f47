"""Multi-day grains: kept by writer and roller, filled in by the migration, read by queries."""

from __future__ import annotations

from datetime import timedelta

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.query.levels import COMPACTED_GRAINS
from collector.query.service import summarize
from collector.query.windows import Window
from collector.storage.migrate import downgrade, upgrade
from collector.storage.tables import rollups
from collector.vitals import DAY
from tests.factories import roll_up_everything, set_watermark, store_events
from tests.query.conftest import T0, site_with_id
from tests.query.test_roller import random_events, stored_rollups


async def multi_day_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(rollups).where(rollups.c.grain > DAY)
        return (await conn.execute(query)).scalar_one()


async def test_the_migration_builds_multi_day_rows_equal_to_those_kept_since(
    engine: AsyncEngine,
) -> None:
    await set_watermark(engine, T0 - timedelta(days=1))
    await store_events(engine, random_events(7, 1200))
    await roll_up_everything(engine)
    kept = await stored_rollups(engine)
    assert {key[3] for key in kept} >= {DAY, *COMPACTED_GRAINS}

    await downgrade(engine, "0010-1")
    assert await multi_day_rows(engine) == 0
    await upgrade(engine)
    assert await stored_rollups(engine) == kept


async def test_a_long_window_counts_every_event_once(engine: AsyncEngine) -> None:
    site = site_with_id(8)
    await set_watermark(engine, T0 - timedelta(days=40))
    # One event a day over 33 days; the 30-day window reads 2- to 16-day rows.
    records = [
        msgspec.structs.replace(record, ts=record.ts - timedelta(days=days))
        for days, record in enumerate(random_events(8, 33))
    ]
    await store_events(engine, records)
    await roll_up_everything(engine)
    window = Window(T0 - timedelta(days=29), T0 + timedelta(days=1))
    async with engine.connect() as conn:
        summary = await summarize(
            conn=conn, site=site, window=window, metrics=("LCP", "CLS", "INP", "TTFB")
        )
    in_window = [r for r in records if window.start <= r.ts < window.end]
    assert 0 < len(in_window) < len(records)
    assert sum(stats.count for stats in summary.metrics.values()) == len(in_window)
