"""Daily partitions on PostgreSQL and Citus, and retention on every database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.storage.maintenance import maintain_once
from collector.storage.partitions import (
    apply_retention,
    ensure_partitions,
    list_partitions,
    partition_name,
)
from collector.storage.tables import events
from tests.citus import CITUS_DATABASE
from tests.databases import postgres_engine

DAY_ONE = date(2026, 3, 1)
DAY_TWO = date(2026, 3, 2)


def event_at(ts: datetime, metric_id: str) -> dict[str, object]:
    return {
        "site_id": 1,
        "ts": ts,
        "metric": "LCP",
        "value": 1234.5,
        "delta": 1234.5,
        "rating": "good",
        "metric_id": metric_id,
        "navigation_type": "navigate",
        "page_path": "/",
        "route": "/",
        "device": "desktop",
        "browser": "chrome",
        "os": "linux",
        "connection": "4g",
    }


pytestmark = pytest.mark.citus


@pytest.fixture(params=["postgresql", "citus"])
async def pg_engine(request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh schema of PostgreSQL, or of the Citus cluster."""
    server_url = None
    if request.param == "citus":
        server_url = request.getfixturevalue("citus").database_url(CITUS_DATABASE)
    async with postgres_engine(server_url=server_url) as engine:
        yield engine


async def test_events_of_two_days_land_in_two_partitions_and_retention_drops_the_old(
    pg_engine: AsyncEngine,
) -> None:
    async with pg_engine.begin() as conn:
        created = await ensure_partitions(conn, first_day=DAY_ONE, days=2)
        assert created == [partition_name(DAY_ONE), partition_name(DAY_TWO)]
        await conn.execute(
            insert(events),
            [
                event_at(datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC), "v5-1"),
                event_at(datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC), "v5-2"),
                event_at(datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC), "v5-3"),
            ],
        )
        # Counted per partition table: on Citus a row's tableoid is its shard's.
        counts = {
            name: (await conn.execute(text(f'SELECT count(*) FROM "{name}"'))).scalar_one()
            for name in created
        }
        assert counts == {"events_p20260301": 1, "events_p20260302": 2}

    async with pg_engine.begin() as conn:
        result = await apply_retention(conn, retention_days=1, today=DAY_TWO + timedelta(days=1))
    assert result.dropped_partitions == ("events_p20260301",)
    async with pg_engine.connect() as conn:
        assert await list_partitions(conn) == ["events_p20260302"]
        remaining = await conn.execute(select(events.c.metric_id).order_by(events.c.metric_id))
        assert remaining.scalars().all() == ["v5-2", "v5-3"]


async def test_ensure_partitions_is_idempotent(pg_engine: AsyncEngine) -> None:
    async with pg_engine.begin() as conn:
        await ensure_partitions(conn, first_day=DAY_ONE, days=3)
        assert await ensure_partitions(conn, first_day=DAY_ONE, days=3) == []
        assert len(await list_partitions(conn)) == 3


async def test_maintenance_creates_partitions_ahead_so_inserts_today_succeed(
    pg_engine: AsyncEngine,
) -> None:
    now = datetime.now(UTC)
    await maintain_once(pg_engine, retention_days=30, ahead_days=7, now=now)
    async with pg_engine.begin() as conn:
        names = await list_partitions(conn)
        assert partition_name(now.date() + timedelta(days=7)) in names
        await conn.execute(insert(events).values(**event_at(now, "today")))


async def test_retention_deletes_old_rows(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await ensure_partitions(conn, first_day=DAY_ONE, days=2)
        await conn.execute(
            insert(events),
            [
                event_at(datetime(2026, 3, 1, 8, tzinfo=UTC), "old"),
                event_at(datetime(2026, 3, 2, 8, tzinfo=UTC), "new"),
            ],
        )
    async with engine.begin() as conn:
        await apply_retention(conn, retention_days=1, today=DAY_TWO + timedelta(days=1))
    async with engine.connect() as conn:
        assert (await conn.execute(select(events.c.metric_id))).scalars().all() == ["new"]
        assert (await conn.execute(select(func.count()).select_from(events))).scalar() == 1
