"""Migrations go from empty to head and back, on SQLite, PostgreSQL and Citus."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.storage.db import create_engine
from collector.storage.migrate import current_revision, downgrade, head_revision, upgrade

pytestmark = pytest.mark.citus

PERFBEACON_TABLES = {"sites", "events", "rollups", "rollup_watermark"}


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync_conn: inspect(sync_conn).get_table_names())
    # PostgreSQL lists partitions as tables too; they are not part of the schema proper.
    return {name for name in names if not name.startswith("events_p")}


async def test_upgrade_from_empty_then_downgrade_to_base(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await current_revision(engine) is None
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        assert await table_names(engine) >= PERFBEACON_TABLES

        await downgrade(engine, "base")
        assert await current_revision(engine) is None
        assert not (PERFBEACON_TABLES & await table_names(engine))

        await upgrade(engine)
        assert await table_names(engine) >= PERFBEACON_TABLES
    finally:
        await engine.dispose()


async def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()
