"""The demo data: realistic enough to read, with a regression to find, written once per run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.demo.generator import REGRESSED_ROUTE, REGRESSION_DAYS, page_views
from collector.demo.service import demo_start, load_demo, prepare_demo_site
from collector.errors import Unauthenticated
from collector.query.sketch import nearest_rank
from collector.sites.service import find_site_by_read_token
from collector.storage.records import EventRecord
from collector.storage.tables import events
from tests.factories import store_events

END = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _week() -> list[EventRecord]:
    return [
        r for hour in page_views(start=END - timedelta(days=7), end=END, per_hour=40) for r in hour
    ]


def test_demo_traffic_has_routes_devices_metrics_and_attribution() -> None:
    records = _week()

    assert len({r.route for r in records}) >= 5
    devices = Counter(r.device for r in records if r.metric == "TTFB")
    assert devices["mobile"] > devices["desktop"] > devices["tablet"] > 0
    assert {r.metric for r in records} == {"LCP", "INP", "CLS", "FCP", "TTFB"}
    lcp = [r for r in records if r.metric == "LCP"]
    assert all(r.attribution and r.attribution["target"] for r in lcp)
    inp = [r for r in records if r.metric == "INP"]
    assert all(
        {"inputDelay", "processingDuration", "presentationDelay"} <= set(r.attribution or {})
        for r in inp
    )
    assert all(r.ts < END for r in records)
    assert len({r.metric_id for r in records}) == len(records)


def test_the_product_page_regresses_in_the_last_days_and_the_rest_does_not() -> None:
    records = _week()
    since = END - timedelta(days=REGRESSION_DAYS)

    def p75(route_is_regressed: bool, recent: bool) -> float:
        values = sorted(
            r.value
            for r in records
            if r.metric == "LCP"
            and (r.route == REGRESSED_ROUTE) == route_is_regressed
            and (r.ts >= since) == recent
        )
        return values[nearest_rank(0.75, len(values)) - 1]

    assert p75(True, recent=True) > 1.3 * p75(True, recent=False)
    assert abs(p75(False, recent=True) / p75(False, recent=False) - 1) < 0.15


async def test_loading_writes_every_hour_and_reports_progress(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        site = await prepare_demo_site(conn=conn)
    written: list[EventRecord] = []
    progress: list[tuple[int, int]] = []

    async def write(records: Sequence[EventRecord]) -> None:
        written.extend(records)

    total = await load_demo(
        site_id=site.id,
        start=END - timedelta(hours=8),
        end=END,
        write=write,
        on_progress=lambda hours, count: progress.append((hours, count)),
    )

    assert total == len(written) > 0
    assert {r.site_id for r in written} == {site.id}
    assert [hours for hours, _ in progress] == [6, 8]
    assert progress[-1][1] == total


async def test_a_second_demo_run_reuses_the_site_with_a_new_token_and_tops_up(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        first = await prepare_demo_site(conn=conn)
    newest = END - timedelta(hours=2)
    async with engine.connect() as conn:
        assert await demo_start(conn=conn, site_id=first.id, now=END) == END - timedelta(days=14)

    records = [
        r
        for hour in page_views(start=newest - timedelta(hours=1), end=newest, per_hour=20)
        for r in hour
    ]
    await store_events(engine, [msgspec.structs.replace(r, site_id=first.id) for r in records])
    async with engine.connect() as conn:
        second = await prepare_demo_site(conn=conn)
        start = await demo_start(conn=conn, site_id=second.id, now=END)
        with pytest.raises(Unauthenticated):
            await find_site_by_read_token(conn=conn, token=first.read_token)
        new_holder = await find_site_by_read_token(conn=conn, token=second.read_token)
        stored = (await conn.execute(select(func.count()).select_from(events))).scalar_one()

    assert second.id == first.id
    assert second.read_token != first.read_token
    assert new_holder.id == first.id
    assert max(r.ts for r in records) < start <= newest
    assert stored == len(records)
