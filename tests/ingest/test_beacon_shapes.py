"""Beacons as web-vitals v3, v4, v5 and v6 send them (standard and attribution builds).

The fixtures in beacons/ follow the library's types (src/types/*.ts) and what
``JSON.stringify`` makes of a metric: performance entries as their toJSON(), DOM
elements as ``{}``. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.sites.schemas import CreatedSite
from tests.ingest.conftest import ORIGIN, beacon, by_metric, post_beacon, stored

FIXTURES = [
    "v3-attribution",
    "v4-standard",
    "v4-attribution",
    "v5-standard",
    "v5-attribution",
    "v6-standard",
    "v6-attribution",
    "v6-soft-navigation",
]


@pytest.mark.citus
@pytest.mark.parametrize("fixture", FIXTURES)
async def test_every_metric_of_a_real_beacon_is_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite, fixture: str
) -> None:
    metrics = beacon(fixture)
    response = await post_beacon(client, metrics, key=site.key)
    assert response.status_code == 204, response.text
    records = await stored(engine)
    assert sorted(r.metric_id for r in records) == sorted(m["id"] for m in metrics)
    for record in records:
        sent = next(m for m in metrics if m["id"] == record.metric_id)
        assert record.metric == sent["name"]
        assert record.value == pytest.approx(sent["value"])
        assert record.delta == pytest.approx(sent["delta"])
        assert record.rating == sent["rating"]
        assert record.navigation_type == sent["navigationType"]
        assert record.site_id == site.id
        assert (record.device, record.browser, record.os) == ("mobile", "chrome mobile", "android")
        # Entries are never stored, and attribution only as a bounded summary.
        assert "entries" not in json.dumps(record.attribution)
        assert len(json.dumps(record.attribution)) < 2048


async def test_v4_attribution_summary_and_fid(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    await post_beacon(client, beacon("v4-attribution"), key=site.key)
    records = by_metric(await stored(engine))
    lcp = records["LCP"].attribution
    assert lcp == {
        "target": "main>section.hero>img#hero",  # v4 calls it `element`
        "url": "https://cdn.shop.example/img/hero.avif",  # query (a signature) dropped
        "timeToFirstByte": 402.7,
        "resourceLoadDelay": 467.5,
        "resourceLoadDuration": 532.7,
        "elementRenderDelay": 247.5,
    }
    assert records["FID"].value == 68.6
    assert records["FID"].attribution == {
        "eventTarget": "#search",
        "eventType": "pointerdown",
        "eventTime": 2210.4,
        "loadState": "complete",
    }
    assert records["INP"].attribution is not None
    assert records["INP"].attribution["longAnimationFrames"] == 1


async def test_v3_attribution_names_are_read_as_their_successors(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    # Captured from web-vitals 3.5.2's attribution build in Chromium.
    await post_beacon(client, beacon("v3-attribution"), key=site.key)
    records = by_metric(await stored(engine))
    assert records["INP"].attribution == {
        "interactionTarget": "#btn",
        "interactionType": "click",
        "interactionTime": pytest.approx(957.8),
        "loadState": "complete",
    }
    assert records["LCP"].attribution == {
        "target": "#copy",
        "timeToFirstByte": pytest.approx(6.9),
        "resourceLoadDelay": 0,
        "resourceLoadDuration": 0,
        "elementRenderDelay": pytest.approx(153.1),
    }
    assert records["TTFB"].attribution == {
        "waitingDuration": pytest.approx(3.3),
        "dnsDuration": 0,
        "connectionDuration": pytest.approx(2.8),
        "requestDuration": pytest.approx(0.8),
    }


async def test_v5_inp_attribution_keeps_phases_and_longest_script(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    await post_beacon(client, beacon("v5-attribution"), key=site.key)
    records = by_metric(await stored(engine))
    assert records["INP"].attribution == {
        "interactionTarget": "#add-to-cart",
        "interactionType": "pointer",
        "interactionTime": 4021.5,
        "inputDelay": 68.6,
        "processingDuration": 191.8,
        "presentationDelay": 51.6,
        "loadState": "complete",
        "totalScriptDuration": 176.3,
        "totalStyleAndLayoutDuration": 43.9,
        "totalPaintDuration": 43.3,
        "totalUnattributedDuration": 48.5,
        "longAnimationFrames": 1,
        "blockingDuration": 278.6,
        "longestScript": {
            "subpart": "processing-duration",
            "intersectingDuration": 176.3,
            "invoker": "BUTTON#add-to-cart.onclick",
            "invokerType": "event-listener",
            "sourceURL": "https://shop.example/static/app.3f9a.js",
            "sourceFunctionName": "addToCart",
        },
    }
    assert records["CLS"].attribution == {
        "largestShiftTarget": "#promo-banner",
        "largestShiftTime": 1502.3,
        "largestShiftValue": 0.0712,
        "loadState": "complete",
    }
    assert records["TTFB"].attribution == {
        "waitingDuration": 3.1,
        "cacheDuration": 9.3,
        "dnsDuration": 18.5,
        "connectionDuration": 57.1,
        "requestDuration": 314.3,
    }
    assert records["FCP"].attribution == {
        "timeToFirstByte": 402.7,
        "firstByteToFCP": 509.9,
        "loadState": "dom-interactive",
    }


async def test_v6_metrics_belong_to_their_navigation_url(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    # The snippet reports the current page, but v6 says which URL each metric is for.
    body = {"site": site.key, "page": "/checkout", "metrics": beacon("v6-standard")}
    await post_beacon(client, body, key=None)
    for record in await stored(engine):
        assert (record.page_path, record.route) == ("/product/42", "/product/:id")


@pytest.mark.citus
async def test_v6_soft_navigations_are_page_views_of_their_own_route(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    await post_beacon(client, beacon("v6-soft-navigation"), key=site.key)
    records = by_metric(await stored(engine))
    assert set(records) == {"TTFB", "FCP", "LCP", "CLS"}
    for record in records.values():
        assert record.navigation_type == "soft-navigation"
        assert (record.page_path, record.route) == ("/product/77", "/product/:id")
        assert record.attribution is not None
        assert record.attribution["navigationId"] == "2"
    assert records["TTFB"].value == 0
    assert records["LCP"].attribution is not None
    assert records["LCP"].attribution["target"] == "#product-77>img"


async def test_classic_snippet_fields_are_used(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    metric = beacon("v5-standard")[2]  # LCP
    classic = {
        **metric,
        "page": "https://shop.example/search?q=shoes#results",
        "connection": "3g",
        "deviceMemory": 4,
    }
    response = await post_beacon(client, classic, key=site.key)
    assert response.status_code == 204, response.text
    (record,) = await stored(engine)
    assert (record.page_path, record.route) == ("/search", "/search")
    assert (record.connection, record.device_memory) == ("3g", 4.0)


@pytest.mark.citus
async def test_envelope_with_page_fields_and_the_site_in_the_body(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    body = {
        "site": site.key,
        "page": "/order/0b7e2c1a-5d44-4c1e-9f3b-2a1c9d8e7f60/receipt",
        "connection": {"effectiveType": "4g", "rtt": 50},
        "deviceMemory": 8,
        "metrics": beacon("v5-standard")[:3],
    }
    response = await post_beacon(client, body, origin=None, content_type="application/json")
    assert response.status_code == 204, response.text
    records = await stored(engine)
    assert len(records) == 3
    for record in records:
        assert record.route == "/order/:uuid/receipt"
        assert (record.connection, record.device_memory) == ("4g", 8.0)


@pytest.mark.citus
async def test_the_site_is_found_from_the_origin_alone(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    response = await post_beacon(client, beacon("v4-standard")[:2], origin=ORIGIN)
    assert response.status_code == 204, response.text
    assert {r.site_id for r in await stored(engine)} == {site.id}


async def test_page_from_the_referer_when_the_beacon_names_none(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    metric = {"name": "CLS", "value": 0.02, "id": "v5-1-1"}
    headers = {"Referer": "https://shop.example/blog/2024/11/some-post?utm=x"}
    response = await post_beacon(client, metric, key=site.key, headers=headers)
    assert response.status_code == 204, response.text
    (record,) = await stored(engine)
    assert (record.page_path, record.route) == (
        "/blog/2024/11/some-post",
        "/blog/:id/:id/some-post",
    )
    assert record.navigation_type == "navigate"
    assert record.delta == 0.02  # a snippet without delta: the value is the delta


async def test_no_ip_and_no_cookie_is_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    headers = {"Cookie": "session=secret-cookie", "X-Forwarded-For": "203.0.113.7"}
    await post_beacon(client, beacon("v5-attribution"), key=site.key, headers=headers)
    dumped = repr(await stored(engine))
    assert "secret-cookie" not in dumped
    assert "203.0.113.7" not in dumped
    assert "127.0.0.1" not in dumped
