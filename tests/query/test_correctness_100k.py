"""100 000 events: every rollup answer matches exact mode (counts exactly, percentiles ≤ 1 %)."""

from __future__ import annotations

import math
import random
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from collector.query.schemas import MetricStats
from collector.query.service import break_down, summarize, timeseries
from collector.query.windows import Window
from collector.storage.records import EventRecord
from tests.factories import event, roll_up_to, set_watermark, store_events
from tests.query.conftest import T0, site_with_id

EVENTS = 100_000
DAYS = 3
ROUTES = ["/", "/product/:id", "/category/:id", *(f"/page-{i}" for i in range(20))]
SHAPES = {"LCP": (1800, 0.6), "FCP": (1100, 0.5), "TTFB": (450, 0.7), "INP": (120, 0.8)}


def realistic_events(site_id: int) -> list[EventRecord]:
    rng = random.Random(100)
    records = []
    for i in range(EVENTS):
        metric = rng.choice(["LCP", "FCP", "TTFB", "INP", "CLS"])
        if metric == "CLS":
            value = 0.0 if rng.random() < 0.5 else rng.lognormvariate(math.log(0.03), 1.2)
        else:
            median, sigma = SHAPES[metric]
            value = rng.lognormvariate(math.log(median), sigma)
        records.append(
            event(
                site_id=site_id,
                ts=T0 + timedelta(seconds=rng.randrange(DAYS * 86400)),
                metric=metric,
                value=value,
                metric_id=f"id-{i}",
                route=rng.choices(ROUTES, [1 / (k + 1) for k in range(len(ROUTES))])[0],
                device=rng.choice(["mobile", "desktop", "tablet"]),
                browser=rng.choice(["chrome", "safari", "firefox"]),
                connection=rng.choice(["4g", "3g"]),
                country=rng.choice(["de", "us", "fr", None]),
            )
        )
    return records


def assert_close(rolled: MetricStats, exact: MetricStats) -> None:
    assert rolled.count == exact.count
    assert rolled.poor == exact.poor
    for name in ("p50", "p75", "p90", "p95", "p99"):
        estimate, truth = getattr(rolled, name), getattr(exact, name)
        assert (estimate == truth) if not truth else abs(estimate - truth) <= 0.01 * truth


async def test_100k_events_rollups_match_exact(engine: AsyncEngine) -> None:
    site = site_with_id(77)
    await set_watermark(engine, T0)
    await store_events(engine, realistic_events(site.id))
    await roll_up_to(engine, T0 + timedelta(days=DAYS))
    window = Window(T0, T0 + timedelta(days=DAYS))
    async with engine.connect() as conn:
        rolled, exact = [
            await summarize(conn=conn, site=site, window=window, metrics=(*SHAPES, "CLS"),
                            exact=flag)
            for flag in (False, True)
        ]  # fmt: skip
        assert rolled.source == "rollups"
        assert sum(stats.count for stats in exact.metrics.values()) == EVENTS
        for metric, stats in exact.metrics.items():
            assert_close(rolled.metrics[metric], stats)
        for by in ("route", "device", "browser", "country", "connection"):
            rolled_rows, exact_rows = [
                (await break_down(conn=conn, site=site, window=window, metric="LCP", by=by,
                                  limit=100, exact=flag)).rows
                for flag in (False, True)
            ]  # fmt: skip
            assert [r.value for r in rolled_rows] == [r.value for r in exact_rows]
            for rolled_row, exact_row in zip(rolled_rows, exact_rows, strict=True):
                assert_close(rolled_row, exact_row)
        series = [
            await timeseries(conn=conn, site=site, window=window, metric="INP", interval=3600,
                             fraction=0.95, exact=flag)
            for flag in (False, True)
        ]  # fmt: skip
        assert series[0].source == "rollups"
        for rolled_point, exact_point in zip(series[0].points, series[1].points, strict=True):
            assert rolled_point.count == exact_point.count > 0
            assert abs(rolled_point.value - exact_point.value) <= 0.01 * exact_point.value  # type: ignore[operator]
