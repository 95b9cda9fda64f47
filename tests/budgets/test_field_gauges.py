"""Field p75 and field regressions as Prometheus gauges: data in, scrape, same values as the
query API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.app import create_app
from collector.budgets.field.regressions import check_site
from collector.config import Settings
from collector.sites.schemas import CreatedSite
from collector.sites.service import get_site
from tests.budgets.helpers import site_headers
from tests.factories import event, make_site

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def series(text: str, prefix: str = "perfbeacon_field_") -> Series:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith(prefix)
    }


@pytest.fixture
async def gauge_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """An app refreshing its field gauges often, with two routes listed for the site 'shop'."""
    fast = settings.model_copy(
        update={
            "field_gauge_interval_seconds": 0.2,
            "field_gauge_routes": {"shop": ["/checkout", "/missing"]},
        }
    )
    app = create_app(fast)
    async with app.router.lifespan_context(app):
        yield app


async def scrape_until(client: httpx.AsyncClient, name: str, labels: dict[str, str]) -> Series:
    key = (name, tuple(sorted(labels.items())))
    for _ in range(100):
        found = series((await client.get("/metrics")).text)
        if key in found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{key} never appeared on /metrics")


async def api_p75(client: httpx.AsyncClient, site: CreatedSite, metric: str, query: str) -> float:
    response = await client.get(
        f"/api/v1/sites/{site.key}/summary?metric={metric}&from=24h&{query}",
        headers=site_headers(site),
    )
    value: float = response.json()["metrics"][metric]["p75"]
    return value


async def test_field_p75_gauges_equal_the_query_apis_p75(
    gauge_app: FastAPI, engine: AsyncEngine
) -> None:
    site = await make_site(engine, name="shop")
    now = datetime.now(UTC) - timedelta(minutes=5)
    records = [
        *(event(site_id=site.id, ts=now, value=900 + 7 * i, device="mobile", route="/checkout")
          for i in range(120)),
        *(event(site_id=site.id, ts=now, value=600 + 3 * i, device="desktop") for i in range(80)),
        *(event(site_id=site.id, ts=now, metric="CLS", value=0.01 * (i % 30), device="mobile")
          for i in range(60)),
    ]  # fmt: skip
    await gauge_app.state.runtime.writer.write(records)
    transport = httpx.ASGITransport(app=gauge_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://perfbeacon.test") as client:
        labels = {"site": "shop", "metric": "LCP", "device": "mobile"}
        found = await scrape_until(client, "perfbeacon_field_p75", labels)

        def gauge(name: str, **labels: str) -> float:
            return found[(name, tuple(sorted(labels.items())))]

        assert gauge(
            "perfbeacon_field_p75", site="shop", metric="LCP", device="mobile"
        ) == await api_p75(client, site, "LCP", "device=mobile")
        assert gauge(
            "perfbeacon_field_p75", site="shop", metric="LCP", device="desktop"
        ) == await api_p75(client, site, "LCP", "device=desktop")
        assert gauge(
            "perfbeacon_field_p75", site="shop", metric="CLS", device="mobile"
        ) == await api_p75(client, site, "CLS", "device=mobile")
        # Routes are read over whole UTC days (the rollups keep routes per day).
        today = datetime.now(UTC).date()
        days = (
            f"from={today - timedelta(days=1)}T00:00:00Z&to={today + timedelta(days=1)}T00:00:00Z"
        )
        route_window = (
            await client.get(
                f"/api/v1/sites/{site.key}/summary?metric=LCP&{days}&page=/checkout",
                headers=site_headers(site),
            )
        ).json()
        assert route_window["source"] == "rollups"
        assert (
            gauge("perfbeacon_field_route_p75", site="shop", metric="LCP", route="/checkout")
            == route_window["metrics"]["LCP"]["p75"]
        )
        # Only listed routes get series, only devices and routes with data.
        routes = {dict(k[1]).get("route") for k in found if k[0] == "perfbeacon_field_route_p75"}
        assert routes == {"/checkout"}
        devices = {dict(k[1])["device"] for k in found if k[0] == "perfbeacon_field_p75"}
        assert devices == {"mobile", "desktop"}


async def test_flagged_field_regressions_are_a_gauge(
    gauge_app: FastAPI, engine: AsyncEngine
) -> None:
    site = await make_site(engine, name="shop")
    day = datetime.now(UTC).date()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    records = [
        event(site_id=site.id, ts=start - timedelta(days=days, minutes=i), value=low + 4 * i)
        for days, low in ((10, 1000), (3, 1400))
        for i in range(250)
    ]
    await gauge_app.state.runtime.writer.write(records)
    async with engine.connect() as conn:
        result = await check_site(conn=conn, site=await get_site(conn=conn, key=site.key), day=day)
    flag = next(r for r in result.regressions if r.route == "*" and r.metric == "LCP")
    transport = httpx.ASGITransport(app=gauge_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://perfbeacon.test") as c:
        labels = {"site": "shop", "metric": "LCP", "route": "*"}
        found = await scrape_until(c, "perfbeacon_field_regression", labels)
    key = ("perfbeacon_field_regression", tuple(sorted(labels.items())))
    assert found[key] == pytest.approx(flag.change.relative_change)


def test_gauge_routes_are_bounded_per_site() -> None:
    with pytest.raises(ValueError, match="at most 20 routes"):
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            field_gauge_routes={"shop": [f"/r{i}" for i in range(21)]},
        )
