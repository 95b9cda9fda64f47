"""Distributions: rollup bins hold the exact bins' counts, up to values within 1 % of an edge."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.query.distribution import distribution, equal_bins
from collector.query.windows import Window
from collector.sites.service import get_site
from tests.factories import event, make_site, roll_up_to, store_events

DAY = datetime(2026, 11, 16, tzinfo=UTC)
WINDOW = Window(DAY, DAY + timedelta(days=2))
ROUTES = ("/", "/product/:id", "/cart")


def _values(seed: int, n: int) -> list[float]:
    rng = random.Random(seed)
    return [round(rng.lognormvariate(7.6, 0.6), 1) for _ in range(n)]


def _near_an_edge(value: float, width: float) -> bool:
    edge = round(value / width) * width
    return edge > 0 and abs(value - edge) <= 0.0101 * value


def test_equal_bins_put_larger_values_in_the_last_bin() -> None:
    bins = equal_bins([(0.0, 1), (1.0, 1), (9.9, 1), (500.0, 2)], top=10.0, count=10)

    assert [b.count for b in bins] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 3]
    assert bins[-1].high == pytest.approx(10.0)


@pytest.mark.parametrize("filters", [{}, {"device": "mobile"}, {"route": "/cart"}])
async def test_rollup_bins_match_the_exact_bins(
    engine: AsyncEngine, filters: dict[str, str]
) -> None:
    created = await make_site(engine)
    values = _values(seed=len(filters), n=600)
    records = [
        event(
            site_id=created.id,
            ts=DAY + timedelta(minutes=4 * i),
            value=value,
            route=ROUTES[i % 3],
            device="mobile" if i % 2 else "desktop",
        )
        for i, value in enumerate(values)
    ]
    await store_events(engine, records)
    await roll_up_to(engine, DAY + timedelta(days=1))  # PostgreSQL: half rolled, half raw
    kept = [r.value for r in records if all(getattr(r, k) == v for k, v in filters.items())]

    async with engine.connect() as conn:
        site = await get_site(conn=conn, key=created.key)
        rolled = await distribution(
            conn=conn, site=site, window=WINDOW, metric="LCP", filters=filters
        )
        exact = await distribution(
            conn=conn, site=site, window=WINDOW, metric="LCP", filters=filters, exact=True
        )

    assert rolled.source == "rollups"
    assert exact.source == "raw"
    assert rolled.count == exact.count == len(kept)
    width = rolled.bins[0].high
    expected = equal_bins([(v, 1) for v in kept], top=rolled.bins[-1].high, count=len(rolled.bins))
    near_edges = sum(1 for v in kept if _near_an_edge(v, width))
    moved = sum(abs(a.count - b.count) for a, b in zip(rolled.bins, expected, strict=True))
    assert moved <= 2 * near_edges
    # The top reaches past the poor threshold by half, or the p95 if higher.
    assert rolled.bins[-1].high >= 6000


async def test_filters_rollups_do_not_keep_are_binned_from_raw_rows(engine: AsyncEngine) -> None:
    created = await make_site(engine)
    await store_events(
        engine,
        [
            event(site_id=created.id, ts=DAY + timedelta(hours=i), value=500.0 * i)
            for i in range(10)
        ],
    )
    async with engine.connect() as conn:
        site = await get_site(conn=conn, key=created.key)
        found = await distribution(
            conn=conn,
            site=site,
            window=WINDOW,
            metric="LCP",
            filters={"route": "/", "browser": "chrome"},
        )

    assert found.source == "raw"
    assert found.count == 10
    assert sum(b.count for b in found.bins) == 10


async def test_distribution_over_http_and_its_bad_input(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    created = await make_site(engine)
    await store_events(
        engine,
        [
            event(site_id=created.id, ts=DAY + timedelta(hours=i), value=100.0 * i)
            for i in range(24)
        ],
    )
    headers = {"Authorization": f"Bearer {created.read_token}"}
    window = "from=2026-11-16T00:00:00Z&to=2026-11-18T00:00:00Z"
    base = f"/api/v1/sites/{created.key}/distribution?{window}"

    body = (await client.get(f"{base}&metric=LCP&bins=10", headers=headers)).json()
    too_few = await client.get(f"{base}&bins=2", headers=headers)
    unknown = await client.get(f"{base}&metric=XYZ", headers=headers)
    too_long = await client.get(
        f"/api/v1/sites/{created.key}/distribution?from=30d&route=/&browser=chrome", headers=headers
    )
    anonymous = await client.get(base)

    assert body["count"] == 24
    assert body["from"] == "2026-11-16T00:00:00Z"
    assert len(body["bins"]) == 10
    assert sum(b["count"] for b in body["bins"]) == 24
    assert too_few.status_code == 400
    assert too_few.json()["error"]["details"]["allowed"] == "4..100"
    assert unknown.status_code == 400
    assert "LCP" in unknown.json()["error"]["details"]["allowed"]
    assert too_long.status_code == 400
    assert ["route"] in too_long.json()["error"]["details"]["rollup_combinations"]
    assert anonymous.status_code == 401
