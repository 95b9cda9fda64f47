"""The rollup watermarks a process remembers: read once, reused while they cover a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.query.service import summarize
from collector.query.watermarks import RollupWatermarks
from collector.query.windows import Window
from collector.runtime import Runtime
from collector.storage.tables import rollup_watermark
from tests.factories import event, make_site, store_events
from tests.query.conftest import T0, site_with_id


async def _move_watermark(engine: AsyncEngine, to: datetime) -> None:
    # Straight in the table, on both databases (SQLite's stays at the end of time otherwise).
    async with engine.begin() as conn:
        await conn.execute(update(rollup_watermark).values(rolled_before=to))


def _ending(end: datetime) -> Window:
    return Window(end - timedelta(hours=1), end)


async def test_a_covered_window_reuses_the_watermark_and_a_later_one_reads_it(
    engine: AsyncEngine,
) -> None:
    watermarks = RollupWatermarks()
    first, second = T0, T0 + timedelta(days=1)
    await _move_watermark(engine, first)
    async with engine.connect() as conn:
        assert await watermarks.covering(conn, _ending(first - timedelta(days=3))) == first
    await _move_watermark(engine, second)
    async with engine.connect() as conn:
        # Ends before the remembered watermark: no second look.
        assert await watermarks.covering(conn, _ending(first)) == first
        # Ends past it: read again, and remembered from then on.
        assert await watermarks.covering(conn, _ending(second)) == second
        assert await watermarks.covering(conn, _ending(first)) == second
        # A fresh memory knows nothing yet.
        assert await RollupWatermarks().covering(conn, _ending(first)) == second


async def test_the_remembered_watermark_never_goes_back(engine: AsyncEngine) -> None:
    watermarks = RollupWatermarks()
    later, earlier = T0 + timedelta(days=1), T0
    await _move_watermark(engine, later)
    async with engine.connect() as conn:
        await watermarks.covering(conn, _ending(later))
    await _move_watermark(engine, earlier)
    async with engine.connect() as conn:
        # Past the remembered one, the read answers; the memory keeps the newer.
        assert await watermarks.covering(conn, _ending(later + timedelta(days=1))) == earlier
        assert await watermarks.covering(conn, _ending(later)) == later


async def test_summaries_with_and_without_remembered_watermarks_agree(
    engine: AsyncEngine,
) -> None:
    site = site_with_id(61)
    await _move_watermark(engine, T0 + timedelta(days=2))
    await store_events(
        engine,
        [event(site_id=site.id, ts=T0 + timedelta(hours=h), value=1000.0 + h) for h in range(30)],
    )
    window = Window(T0, T0 + timedelta(days=1))
    watermarks = RollupWatermarks()
    async with engine.connect() as conn:
        read_each_time = await summarize(conn=conn, site=site, window=window, metrics=("LCP",))
        first = await summarize(
            conn=conn, site=site, window=window, metrics=("LCP",), watermarks=watermarks
        )
        remembered = await summarize(
            conn=conn, site=site, window=window, metrics=("LCP",), watermarks=watermarks
        )
    assert read_each_time.metrics["LCP"].count == 24
    assert read_each_time == first == remembered


async def test_the_read_api_remembers_watermarks_in_the_runtime(
    app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    shop = await make_site(engine)
    read, later = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    await _move_watermark(engine, read)
    response = await client.get(
        f"/api/v1/sites/{shop.key}/summary?metric=LCP&from=2025-12-01&to=2025-12-02",
        headers={"Authorization": f"Bearer {shop.read_token}"},
    )
    assert response.status_code == 200
    await _move_watermark(engine, later)
    runtime: Runtime = app.state.runtime
    async with runtime.engine.connect() as conn:
        # The request's read is remembered; a fresh memory would read the moved one.
        assert await runtime.watermarks.covering(conn, _ending(read)) == read
