"""A metric id counts once, with its latest value, in rollups and in exact mode."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.query.service import summarize
from collector.query.windows import Window
from collector.storage.records import EventRecord
from tests.factories import event, rereport, roll_up_to, set_watermark, store_events
from tests.query.conftest import T0, site_with_id

pytestmark = pytest.mark.citus


@pytest.mark.parametrize("rolled_between", [False, True], ids=["unrolled", "rolled"])
async def test_a_cls_id_reported_twice_counts_once_with_the_new_value(
    engine: AsyncEngine, rolled_between: bool
) -> None:
    site = site_with_id(41)
    await set_watermark(engine, T0 - timedelta(days=1))
    first = event(site_id=site.id, ts=T0 + timedelta(hours=5), metric="CLS", value=0.02)
    await store_events(engine, [first])
    if rolled_between:
        # The first value is in the rollups; the second report must move it out.
        await roll_up_to(engine, T0 + timedelta(hours=6))
    later = EventRecord(**{**_fields(first), "value": 0.31, "ts": first.ts + timedelta(seconds=9)})
    await rereport(engine, later)

    window = Window(T0, T0 + timedelta(days=1))
    async with engine.connect() as conn:
        for exact in (False, True):
            cls = (
                await summarize(conn=conn, site=site, window=window, metrics=("CLS",), exact=exact)
            ).metrics["CLS"]
            assert cls.count == 1
            assert cls.p75 == pytest.approx(0.31, rel=0.01)
            assert (cls.good, cls.needs_improvement, cls.poor) == (0.0, 0.0, 1.0)


async def test_a_late_event_behind_the_watermark_is_rolled_up_by_the_writer(
    engine: AsyncEngine,
) -> None:
    site = site_with_id(42)
    await set_watermark(engine, T0 - timedelta(days=1))
    await store_events(engine, [event(site_id=site.id, ts=T0 + timedelta(hours=1), value=900.0)])
    await roll_up_to(engine, T0 + timedelta(hours=12))
    # Arrives after the roller passed its time: the writer's flush must count it.
    await store_events(engine, [event(site_id=site.id, ts=T0 + timedelta(hours=2), value=3000.0)])
    await roll_up_to(engine, T0 + timedelta(days=1))

    window = Window(T0, T0 + timedelta(days=1))
    async with engine.connect() as conn:
        lcp = (await summarize(conn=conn, site=site, window=window, metrics=("LCP",))).metrics[
            "LCP"
        ]
    assert lcp.count == 2
    assert lcp.p99 == pytest.approx(3000.0, rel=0.01)
    assert lcp.needs_improvement == 0.5


def _fields(record: EventRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__struct_fields__}
