"""On a Citus cluster (a coordinator and two workers) the migrations lay perfbeacon out as
the README says: sites a reference table, raw events and rollups distributed on site_id
and co-located, their shards on both workers, daily partitions distributed with them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.storage.migrate import upgrade
from collector.storage.partitions import ensure_partitions, partition_name
from tests.citus import CITUS_DATABASE, CitusCluster
from tests.databases import postgres_engine

DISTRIBUTED_ON_SITE = ("events", "rollups", "metric_ids")
REFERENCE = ("sites", "rollup_watermark", "instance_secrets", "admin_tokens")


@pytest.fixture
async def citus_engine(citus: CitusCluster) -> AsyncIterator[AsyncEngine]:
    async with postgres_engine(server_url=citus.database_url(CITUS_DATABASE)) as engine:
        yield engine


async def distribution(engine: AsyncEngine) -> dict[str, tuple[str, str | None, int]]:
    """Each table Citus knows in the engine's schema: (method, column, colocation group)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT c.relname, p.partmethod::text, column_to_column_name(p.logicalrelid, "
                "p.partkey), p.colocationid FROM pg_dist_partition p "
                "JOIN pg_class c ON c.oid = p.logicalrelid "
                "WHERE c.relnamespace = current_schema()::regnamespace"
            )
        )
        return {name: (method, column, group) for name, method, column, group in rows}


async def test_events_rollups_and_claims_are_distributed_on_site_id_and_co_located(
    citus_engine: AsyncEngine,
) -> None:
    tables = await distribution(citus_engine)
    for name in DISTRIBUTED_ON_SITE:
        method, column, _group = tables[name]
        assert (method, column) == ("h", "site_id"), name
    assert tables["events"][2] == tables["rollups"][2] == tables["metric_ids"][2]
    for name in REFERENCE:
        assert tables[name][0] == "n", name
        assert tables[name][1] is None, name


async def test_shards_of_the_distributed_tables_are_on_both_workers(
    citus: CitusCluster, citus_engine: AsyncEngine
) -> None:
    async with citus_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT DISTINCT placement.nodeport FROM pg_dist_shard shard "
                "JOIN pg_dist_placement p ON p.shardid = shard.shardid "
                "JOIN pg_dist_node placement ON placement.groupid = p.groupid "
                "WHERE shard.logicalrelid = 'events'::regclass"
            )
        )
        ports = {port for (port,) in rows}
    assert ports == {worker.port for worker in citus.workers}


async def test_daily_partitions_are_distributed_like_their_table(
    citus_engine: AsyncEngine,
) -> None:
    day = date(2026, 3, 1)
    async with citus_engine.begin() as conn:
        assert await ensure_partitions(conn, first_day=day, days=2) == [
            partition_name(day),
            partition_name(date(2026, 3, 2)),
        ]
    tables = await distribution(citus_engine)
    assert tables[partition_name(day)][:2] == ("h", "site_id")
    assert tables[partition_name(day)][2] == tables["events"][2]


async def test_upgrading_from_the_previous_revision_keeps_the_layout(
    citus: CitusCluster,
) -> None:
    url = citus.database_url(CITUS_DATABASE)
    async with postgres_engine("0013", server_url=url) as engine:
        await upgrade(engine)
        tables = await distribution(engine)
    assert tables["events"][:2] == ("h", "site_id")
    assert tables["sites"][0] == "n"
