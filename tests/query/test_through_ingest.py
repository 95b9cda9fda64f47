"""Beacons posted to /api/vitals are in the read API's answers, each metric id once."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.sites.schemas import CreatedSite
from tests.factories import make_site

pytestmark = pytest.mark.citus

ORIGIN = "https://shop.example"
Metric = dict[str, object]
FIRST_CLS: Metric = {"name": "CLS", "value": 0.04, "delta": 0.04, "id": "v5-1-7"}
LCP: Metric = {"name": "LCP", "value": 2100.0, "delta": 2100.0, "id": "v5-1-8"}
# The page is hidden again: web-vitals reports the same CLS id with a larger value.
LATER_CLS: Metric = {"name": "CLS", "value": 0.27, "delta": 0.23, "id": "v5-1-7"}


async def post(client: httpx.AsyncClient, site: CreatedSite, metrics: list[Metric]) -> None:
    body = {"site": site.key, "page": "/checkout", "metrics": metrics}
    response = await client.post(
        "/api/vitals",
        content=json.dumps(body).encode(),
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN},
    )
    assert response.status_code == 204, response.text


async def test_a_cls_reported_twice_counts_once_with_its_new_value(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine, origins=[ORIGIN])
    await post(client, site, [FIRST_CLS, LCP])
    await post(client, site, [LATER_CLS])

    headers = {"Authorization": f"Bearer {site.read_token}"}
    for exact in ("0", "1"):
        response = await client.get(
            f"/api/v1/sites/{site.key}/summary?from=1h&exact={exact}", headers=headers
        )
        metrics = response.json()["metrics"]
        assert metrics["CLS"]["count"] == 1
        assert metrics["CLS"]["p50"] == pytest.approx(0.27, rel=0.01)
        assert metrics["CLS"]["poor"] == 1.0
        assert metrics["LCP"]["count"] == 1
        page = await client.get(
            f"/api/v1/sites/{site.key}/breakdown?metric=CLS&by=page&from=1h&exact={exact}",
            headers=headers,
        )
        assert [(row["value"], row["count"]) for row in page.json()["rows"]] == [("/checkout", 1)]
