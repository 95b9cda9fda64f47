"""Attribution rows carry their detail and sub-part medians, ranked by p75, count or impact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.query.attribution import attribute
from collector.query.windows import Window
from collector.sites.service import get_site
from tests.factories import event, make_site, store_events

DAY = datetime(2026, 11, 16, tzinfo=UTC)
WINDOW = Window(DAY, DAY + timedelta(days=1))


def _lcp(site_id: int, i: int, value: float, target: str, url: str) -> object:
    return event(
        site_id=site_id,
        ts=DAY + timedelta(minutes=10 * i),
        value=value,
        route="/product/:id",
        attribution={
            "target": target,
            "url": url,
            "timeToFirstByte": 100.0 * (i % 3 + 1),
            "resourceLoadDelay": 50.0,
            "elementRenderDelay": value / 2,
        },
    )


async def test_rows_carry_the_common_detail_and_the_median_of_each_part(
    engine: AsyncEngine,
) -> None:
    created = await make_site(engine)
    records = [
        # Often seen, moderately slow: the biggest impact.
        *(_lcp(created.id, i, 3000.0, "img.hero", f"https://cdn/{'a' if i else 'b'}.jpg")
          for i in range(9)),
        # Rarely seen, slowest: the worst p75.
        _lcp(created.id, 20, 9000.0, "h1", "https://cdn/none"),
        _lcp(created.id, 21, 9000.0, "h1", "https://cdn/none"),
    ]  # fmt: skip
    await store_events(engine, records)  # type: ignore[arg-type]

    async with engine.connect() as conn:
        site = await get_site(conn=conn, key=created.key)
        by_p75 = await attribute(conn=conn, site=site, window=WINDOW, metric="LCP")
        by_impact = await attribute(
            conn=conn, site=site, window=WINDOW, metric="LCP", order="impact"
        )
        by_count = await attribute(conn=conn, site=site, window=WINDOW, metric="LCP", order="count")

    assert [row.target for row in by_p75.rows] == ["h1", "img.hero"]
    assert [row.target for row in by_impact.rows] == ["img.hero", "h1"]
    assert [row.target for row in by_count.rows] == ["img.hero", "h1"]
    hero = by_impact.rows[0]
    assert hero.count == 9
    assert hero.detail == "https://cdn/a.jpg"
    # TTFB 100, 200, 300 three times each: median 200; render delay half of 3000.
    assert hero.parts == {
        "timeToFirstByte": 200.0,
        "resourceLoadDelay": 50.0,
        "elementRenderDelay": 1500.0,
    }


async def test_inp_phases_over_http_and_a_bad_order(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    created = await make_site(engine)
    phases = {"inputDelay": 20.0, "processingDuration": 200.0, "presentationDelay": 30.0}
    await store_events(
        engine,
        [
            event(
                site_id=created.id,
                ts=DAY + timedelta(hours=i),
                metric="INP",
                value=250.0,
                attribution={
                    "interactionTarget": "button#buy",
                    "interactionType": "pointer",
                    **phases,
                },
            )
            for i in range(3)
        ],
    )
    headers = {"Authorization": f"Bearer {created.read_token}"}
    base = f"/api/v1/sites/{created.key}/attribution?from=2026-11-16T00:00:00Z&metric=INP"

    rows = (await client.get(f"{base}&to=2026-11-17T00:00:00Z", headers=headers)).json()["rows"]
    bad = await client.get(f"{base}&order=worst", headers=headers)

    assert rows == [
        {
            "route": "/",
            "target": "button#buy",
            "count": 3,
            "p75": 250.0,
            "poor": 0.0,
            "detail": "pointer",
            "parts": phases,
        }
    ]
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["allowed"] == ["p75", "count", "impact"]
