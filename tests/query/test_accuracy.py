"""Rollup answers are within 1 % of exact ones, for random data, filters and windows.

On PostgreSQL each example also puts the roller's watermark somewhere random, so
answers mix rolled-up cells, the raw tail and the writer's own corrections.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.query.levels import LEVELS, dimensions_of
from collector.query.schemas import MetricStats
from collector.query.service import break_down, summarize, timeseries
from collector.query.sketch import CLS_MAPPING, TIME_MAPPING
from collector.query.timeutil import from_epoch
from collector.query.windows import Window
from collector.storage.db import create_engine
from collector.storage.records import EventRecord
from tests.factories import event, rereport, roll_up_to, set_watermark, store_events
from tests.query.conftest import T0, site_with_id

pytestmark = pytest.mark.citus

DOMAINS = {
    "route": ["/", "/product/:id", "/cart"],
    "device": ["mobile", "desktop", "tablet"],
    "browser": ["chrome", "safari"],
    "connection": ["4g", "3g"],
    "navigation_type": ["navigate", "reload"],
    "country": ["de", "us", ""],
}
METRICS = ("LCP", "CLS", "INP")
SPAN = 3 * 86400
_sites = itertools.count(10_000)


def values_of(metric: str) -> st.SearchStrategy[float]:
    floor, top = (CLS_MAPPING.floor, 5.0) if metric == "CLS" else (TIME_MAPPING.floor, 60000.0)
    return st.one_of(st.just(0.0), st.floats(min_value=floor, max_value=top))


@st.composite
def observations(draw: st.DrawFn) -> dict[str, object]:
    metric = draw(st.sampled_from(METRICS))
    return {
        "metric": metric,
        "value": draw(values_of(metric)),
        "offset": draw(st.integers(0, SPAN - 1)),
        **{dimension: draw(st.sampled_from(domain)) for dimension, domain in DOMAINS.items()},
    }


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, object]:
    # Whole days are read from every level; whole hours from the small levels or raw rows.
    unit = draw(st.sampled_from([3600, 86400]))
    start = draw(st.integers(-2, SPAN // unit)) * unit
    length = draw(st.integers(1, SPAN // unit + 1)) * unit
    level = draw(st.sampled_from(LEVELS))
    kept = dimensions_of(level)
    filtered = draw(st.sets(st.sampled_from(kept))) if kept else set()
    free = [dimension for dimension in kept if dimension not in filtered]
    rows = draw(st.lists(observations(), min_size=1, max_size=120))
    return {
        "rows": rows,
        "window": (start, start + length),
        "whole_days": unit == 86400,
        "filters": {dimension: draw(st.sampled_from(DOMAINS[dimension])) for dimension in filtered},
        "group_by": draw(st.one_of(st.none(), st.sampled_from(free))) if free else None,
        "rolled_until": draw(st.integers(0, SPAN)),
        "rereports": draw(st.lists(st.tuples(st.integers(0, 119), values_of("CLS")), max_size=5)),
    }


def assert_close(rolled: MetricStats, exact: MetricStats) -> None:
    assert rolled.count == exact.count
    assert (rolled.good, rolled.needs_improvement, rolled.poor) == (
        exact.good,
        exact.needs_improvement,
        exact.poor,
    )
    for name in ("p50", "p75", "p90", "p95", "p99"):
        estimate, truth = getattr(rolled, name), getattr(exact, name)
        if truth is None or truth == 0:
            assert estimate == truth, name
        else:
            assert estimate is not None
            assert abs(estimate - truth) <= 0.01 * truth, (name, estimate, truth)


def record_of(site_id: int, row: dict[str, object]) -> EventRecord:
    return event(
        site_id=site_id,
        ts=T0 + timedelta(seconds=int(row["offset"]), microseconds=123),  # type: ignore[arg-type]
        metric=str(row["metric"]),
        value=float(row["value"]),  # type: ignore[arg-type]
        route=str(row["route"]),
        device=str(row["device"]),
        browser=str(row["browser"]),
        connection=str(row["connection"]),
        navigation_type=str(row["navigation_type"]),
        country=str(row["country"]) or None,
    )


async def check(url: str, scenario: dict[str, object]) -> None:
    engine = create_engine(url)
    try:
        site = site_with_id(next(_sites))
        await set_watermark(engine, T0 - timedelta(days=1))
        records = [record_of(site.id, row) for row in scenario["rows"]]  # type: ignore[attr-defined]
        await store_events(engine, records)
        await roll_up_to(engine, T0 + timedelta(seconds=scenario["rolled_until"]))  # type: ignore[arg-type]
        for index, value in scenario["rereports"]:  # type: ignore[attr-defined]
            if index < len(records) and records[index].metric == "CLS":
                later = EventRecord(**{**_fields(records[index]), "value": value})
                await rereport(engine, later)
        await compare(engine, site_id=site.id, scenario=scenario)
    finally:
        await engine.dispose()


def _fields(record: EventRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__struct_fields__}


async def compare(engine: AsyncEngine, *, site_id: int, scenario: dict[str, object]) -> None:
    site = site_with_id(site_id)
    start, end = scenario["window"]  # type: ignore[misc]
    base = T0.timestamp()
    window = Window(from_epoch(int(base) + start), from_epoch(int(base) + end))
    filters: dict[str, str] = scenario["filters"]  # type: ignore[assignment]
    async with engine.connect() as conn:
        answers = [
            await summarize(
                conn=conn, site=site, window=window, metrics=METRICS, filters=filters, exact=exact
            )
            for exact in (False, True)
        ]
        # Every level keeps days: whole-day windows must be answered from rollups.
        assert answers[0].source == ("rollups" if scenario["whole_days"] else answers[0].source)
        for metric in METRICS:
            assert_close(answers[0].metrics[metric], answers[1].metrics[metric])
        by = scenario["group_by"]
        if by is not None:
            # Every group, and a top 2 whose histograms alone are read with the counts.
            for limit in (100, 2):
                rolled, exact = [
                    await break_down(
                        conn=conn, site=site, window=window, metric="LCP", by=str(by),
                        filters=filters, limit=limit, exact=flag,
                    )
                    for flag in (False, True)
                ]  # fmt: skip
                assert [row.value for row in rolled.rows] == [row.value for row in exact.rows]
                for rolled_row, exact_row in zip(rolled.rows, exact.rows, strict=True):
                    assert_close(rolled_row, exact_row)
        series = [
            await timeseries(
                conn=conn, site=site, window=window, metric="CLS", interval=3600,
                fraction=0.9, filters=filters, exact=flag,
            )
            for flag in (False, True)
        ]  # fmt: skip
        for rolled_point, exact_point in zip(series[0].points, series[1].points, strict=True):
            assert rolled_point.count == exact_point.count
            if exact_point.value in (None, 0):
                assert rolled_point.value == exact_point.value
            else:
                assert abs(rolled_point.value - exact_point.value) <= 0.01 * exact_point.value  # type: ignore[operator]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_rollups_are_within_one_percent_of_exact(
    database_url: str, engine: AsyncEngine, scenario: dict[str, object]
) -> None:
    asyncio.run(check(database_url, scenario))
