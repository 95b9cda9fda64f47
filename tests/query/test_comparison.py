"""Comparison with the previous window, routes that got worse, and whether a route was seen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.query.beacons import recent_beacons, route_seen
from collector.query.comparison import compare, previous_window, worsened_routes
from collector.query.windows import Window
from collector.sites.service import get_site
from tests.factories import event, make_site, store_events

DAY = datetime(2026, 11, 16, tzinfo=UTC)
WINDOW = Window(DAY, DAY + timedelta(days=2))


def _reports(site_id: int, route: str, value: float, start: datetime, n: int) -> list[object]:
    return [
        event(site_id=site_id, ts=start + timedelta(minutes=30 * i), value=value, route=route)
        for i in range(n)
    ]


async def test_compare_and_worsened_routes(engine: AsyncEngine) -> None:
    created = await make_site(engine)
    before = DAY - timedelta(days=2)
    await store_events(
        engine,
        [  # type: ignore[list-item]
            *_reports(created.id, "/slow", 2000.0, before, 40),
            *_reports(created.id, "/slow", 3000.0, DAY, 40),
            *_reports(created.id, "/steady", 1000.0, before, 40),
            *_reports(created.id, "/steady", 1050.0, DAY, 40),
            # Much worse, but too few samples to call out.
            *_reports(created.id, "/rare", 1000.0, before, 5),
            *_reports(created.id, "/rare", 5000.0, DAY, 5),
        ],
    )

    async with engine.connect() as conn:
        site = await get_site(conn=conn, key=created.key)
        compared = await compare(conn=conn, site=site, window=WINDOW, metrics=("LCP", "INP"))
        worse = await worsened_routes(conn=conn, site=site, window=WINDOW)

    assert previous_window(WINDOW) == Window(before, DAY)
    lcp = compared.metrics["LCP"]
    assert (lcp.now.count, lcp.before.count) == (85, 85)
    # Each p75 is within 1 % of 3000 and 2000: the change within 0.03 of 0.5.
    assert lcp.p75_change == pytest.approx(3000 / 2000 - 1, abs=0.031)
    assert compared.metrics["INP"].p75_change is None
    assert [(w.route, w.metric) for w in worse] == [("/slow", "LCP")]
    assert worse[0].change == pytest.approx(0.5, abs=0.031)
    assert worse[0].count == 40


async def test_route_seen_and_recent_beacons(engine: AsyncEngine) -> None:
    created = await make_site(engine)
    now = datetime.now(UTC)
    await store_events(
        engine,
        [event(site_id=created.id, ts=now - timedelta(hours=h), route="/cart") for h in (1, 30)],
    )

    async with engine.connect() as conn:
        site = await get_site(conn=conn, key=created.key)
        since = now - timedelta(days=30)
        cart = await route_seen(conn=conn, site=site, route="/cart", since=since, until=now)
        other = await route_seen(conn=conn, site=site, route="/nowhere", since=since, until=now)
        recent = await recent_beacons(
            conn=conn, site_id=site.id, metrics=("LCP",), since=now - timedelta(days=1), limit=5
        )

    assert cart
    assert not other
    assert len(recent) == 1
    assert recent[0].route == "/cart"


async def test_comparison_over_http(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    created = await make_site(engine)
    await store_events(
        engine,
        [  # type: ignore[list-item]
            *_reports(created.id, "/", 1000.0, DAY - timedelta(days=2), 4),
            *_reports(created.id, "/", 2000.0, DAY, 4),
        ],
    )
    headers = {"Authorization": f"Bearer {created.read_token}"}
    window = "from=2026-11-16T00:00:00Z&to=2026-11-18T00:00:00Z"
    base = f"/api/v1/sites/{created.key}/comparison?{window}"

    body = (await client.get(f"{base}&metric=LCP", headers=headers)).json()
    unknown = await client.get(f"{base}&metric=XYZ", headers=headers)

    assert body["previous_from"] == "2026-11-14T00:00:00Z"
    assert body["metrics"]["LCP"]["now"]["count"] == 4
    assert body["metrics"]["LCP"]["before"]["count"] == 4
    assert body["metrics"]["LCP"]["p75_change"] == pytest.approx(1.0, abs=0.03)
    assert unknown.status_code == 400
