"""Site origins are kept as browsers write them, so the beacons their pages send match."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.storage.tables import sites
from tests.factories import make_site
from tests.processes import perfbeacon_env, run_perfbeacon

LCP = {"name": "LCP", "value": 1800.0, "delta": 1800.0, "id": "v5-origin-1", "rating": "good"}


async def send_beacon(client: httpx.AsyncClient, key: str, origin: str) -> httpx.Response:
    return await client.post(
        f"/api/vitals?site={key}",
        content=json.dumps([LCP]),
        headers={"Origin": origin, "Content-Type": "text/plain;charset=UTF-8"},
    )


@pytest.mark.parametrize(
    ("given", "stored", "browser_sends"),
    [
        ("https://SHOP.example:443", "https://shop.example", "https://shop.example"),
        ("http://shop.example:80/", "http://shop.example", "http://shop.example"),
        ("https://münchen.de", "https://xn--mnchen-3ya.de", "https://xn--mnchen-3ya.de"),
        ("http://[::1]:8080", "http://[::1]:8080", "http://[::1]:8080"),
        ("https://shop.example:8443", "https://shop.example:8443", "https://shop.example:8443"),
    ],
)
async def test_origins_are_stored_as_browsers_send_them(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    given: str,
    stored: str,
    browser_sends: str,
) -> None:
    created = await client.post(
        "/api/v1/sites", json={"name": "shop", "origins": [given]}, headers=admin_headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["origins"] == [stored]
    response = await send_beacon(client, created.json()["key"], browser_sends)
    assert response.status_code == 204, response.text


async def test_origins_stored_before_are_read_in_the_canonical_form(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    async with engine.begin() as conn:
        await conn.execute(
            update(sites)
            .where(sites.c.id == site.id)
            .values(origins=["https://SHOP.example:443", "https://shop.example"])
        )
    assert (await send_beacon(client, site.key, "https://shop.example")).status_code == 204
    refused = await send_beacon(client, site.key, "https://other.example")
    assert refused.json()["error"]["code"] == "origin_not_allowed"


@pytest.mark.parametrize(
    ("origin", "fragment"),
    [
        ("http://[::1", "not a URL"),
        ("https://" + "a" * 64 + ".example", "not a valid domain name"),  # a label over 63
        ("https://" + "a." * 130 + "example", "longer than 253 characters"),
        ("https://a..b", "not a valid domain name"),
    ],
)
async def test_malformed_hosts_are_a_clear_4xx(
    client: httpx.AsyncClient, admin_headers: dict[str, str], origin: str, fragment: str
) -> None:
    response = await client.post(
        "/api/v1/sites", json={"name": "shop", "origins": [origin]}, headers=admin_headers
    )
    assert response.status_code == 422
    assert fragment in response.json()["error"]["message"]


def test_the_cli_refuses_a_malformed_origin_in_one_line(tmp_path: Path) -> None:
    env = perfbeacon_env(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    result = run_perfbeacon(
        "site", "create", "shop", "--origin", "http://[::1", env=env, cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "perfbeacon: bad origin 'http://[::1': not a URL with a valid host and port (0-65535)"
    ]
