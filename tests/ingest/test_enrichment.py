"""Enrichment: paths, route groups, device class, browser, OS, connection, country."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.app import create_app
from collector.config import Settings
from collector.ingest.normalize import connection_of, country_of, page_path_of
from collector.ingest.useragent import client_of
from collector.route_groups import route_of
from collector.sites.schemas import CreatedSite
from tests.ingest.conftest import post_beacon, stored


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/", "/"),
        ("/product/123", "/product/:id"),
        ("/product/123/", "/product/:id"),
        ("/users/42/orders/7", "/users/:id/orders/:id"),
        ("/order/0B7E2C1A-5D44-4C1E-9F3B-2A1C9D8E7F60", "/order/:uuid"),
        ("/assets/app.3f9a.js", "/assets/app.3f9a.js"),
        ("/commit/9fceb02d0ae598e95dc970b74767f19372d61af8", "/commit/:hash"),
        ("/object/507f1f77bcf86cd799439011", "/object/:hash"),
        ("/reset/aZ3kP9xQ2mN7vB1cL5tR8wYe", "/reset/:hash"),
        ("/blog/iphone-15-pro-max-review-2024", "/blog/iphone-15-pro-max-review-2024"),
        ("/deadbeefcafe", "/deadbeefcafe"),  # hex but short: a word
    ],
)
def test_routes_collapse_ids_uuids_and_hashes(path: str, route: str) -> None:
    assert route_of(path) == route


@pytest.mark.parametrize(
    ("page", "path"),
    [
        ("https://shop.example/product/42?utm_source=mail#reviews", "/product/42"),
        ("/search?q=shoes", "/search"),
        ("https://shop.example", "/"),
        ("product/42", "/product/42"),
        ("javascript:alert(1)", None),
        ("/" + "a" * 1100, None),
        ("http://[::1", None),
        # One form whatever the sender: as browsers encode location.href.
        ("https://shop.example/café/ünï", "/caf%C3%A9/%C3%BCn%C3%AF"),
        ("https://shop.example/caf%C3%A9/%C3%BCn%C3%AF", "/caf%C3%A9/%C3%BCn%C3%AF"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("/a b/<x>", "/a%20b/%3Cx%3E"),
        ("/p/it's-(new)~;v=1", "/p/it's-(new)~;v=1"),
    ],
)
def test_page_paths_lose_query_and_fragment(page: str, path: str | None) -> None:
    assert page_path_of(page) == path


@pytest.mark.parametrize(
    ("user_agent", "device", "browser", "os"),
    [
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Mobile Safari/537.36",
            "mobile",
            "chrome mobile",
            "android",
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            "tablet",
            "chrome",
            "android",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            "mobile",
            "mobile safari",
            "ios",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            "tablet",
            "mobile safari",
            "ios",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "desktop",
            "edge",
            "windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:132.0) Gecko/20100101 Firefox/132.0",
            "desktop",
            "firefox",
            "mac os x",
        ),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "unknown",
            "googlebot",
            "unknown",
        ),
        ("", "unknown", "unknown", "unknown"),
        ("curl/8.5.0", "unknown", "curl", "unknown"),
    ],
)
def test_device_browser_and_os_come_from_the_user_agent(
    user_agent: str, device: str, browser: str, os: str
) -> None:
    client = client_of(user_agent)
    assert (client.device, client.browser, client.os) == (device, browser, os)


def test_connection_and_country_values() -> None:
    assert [connection_of(v) for v in ["4g", " 3G ", "slow-2g", "wifi", None]] == [
        "4g",
        "3g",
        "slow-2g",
        "unknown",
        "unknown",
    ]
    assert [country_of(v) for v in ["DE", "fr", "XX", "T1", "deu", None]] == [
        "de",
        "fr",
        None,
        None,
        None,
        None,
    ]


async def test_country_only_from_the_configured_proxy_header(
    settings: Settings, engine: AsyncEngine, site: CreatedSite
) -> None:
    metric = {"name": "TTFB", "value": 300, "id": "v5-1-1"}
    headers = {"CF-IPCountry": "DE", "X-Country": "FR"}
    for header, expected in [(None, None), ("CF-IPCountry", "de")]:
        app = create_app(settings.model_copy(update={"country_header": header}))
        async with app.router.lifespan_context(app), _client(app) as client:
            metric["id"] = f"v5-1-{header}"
            response = await post_beacon(client, metric, key=site.key, headers=headers)
            assert response.status_code == 204, response.text
        record = next(r for r in await stored(engine) if r.metric_id == metric["id"])
        assert record.country == expected


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
