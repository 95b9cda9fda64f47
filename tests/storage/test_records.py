"""EventRecord rows round-trip through the events table on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.storage.partitions import ensure_partitions
from collector.storage.records import EVENT_COLUMNS, EventRecord
from collector.storage.tables import events


async def test_a_record_is_stored_and_read_back_unchanged(engine: AsyncEngine) -> None:
    record = EventRecord(
        site_id=7,
        ts=datetime(2026, 11, 26, 9, 30, 15, 250_000, tzinfo=UTC),
        metric="INP",
        value=212.0,
        delta=48.0,
        rating="needs-improvement",
        metric_id="v5-1732611015250-8123456789012",
        navigation_type="back-forward-cache",
        page_path="/product/42",
        route="/product/:id",
        device="mobile",
        browser="chrome mobile",
        os="android",
        connection="4g",
        device_memory=4.0,
        country="de",
        attribution={"interactionTarget": "button.buy", "interactionType": "pointer"},
    )
    async with engine.begin() as conn:
        await ensure_partitions(conn, first_day=record.ts.date(), days=1)
        await conn.execute(insert(events).values(**msgspec.structs.asdict(record)))
    async with engine.connect() as conn:
        row = (await conn.execute(select(events))).one()
    assert EventRecord(**row._asdict()) == record
    assert tuple(row._fields) == EVENT_COLUMNS
