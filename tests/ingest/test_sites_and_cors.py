"""Site resolution (cached, but a site created meanwhile works at once) and CORS answers."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.sites.cache import MISSING_TTL_SECONDS, SiteCache
from collector.sites.schemas import CreatedSite
from collector.storage.tables import sites
from tests.factories import make_site
from tests.ingest.conftest import ORIGIN, beacon, post_beacon, stored
from tests.processes import perfbeacon_env, run_perfbeacon, serving


async def test_preflight_for_an_allowed_origin(
    client: httpx.AsyncClient, site: CreatedSite
) -> None:
    response = await client.options(
        f"/api/vitals?site={site.key}",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "Content-Type"


async def test_preflight_from_an_origin_no_site_allows_is_refused(
    client: httpx.AsyncClient, site: CreatedSite
) -> None:
    for url in ["/api/vitals", f"/api/vitals?site={site.key}"]:
        response = await client.options(
            url,
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "origin_not_allowed"


async def test_accepted_beacons_carry_cors_headers(
    client: httpx.AsyncClient, site: CreatedSite
) -> None:
    response = await post_beacon(client, beacon("v5-standard"), key=site.key)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["vary"] == "Origin"


async def test_a_site_without_origins_takes_beacons_from_any_origin(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    open_site = await make_site(engine, origins=[])
    response = await post_beacon(
        client, beacon("v5-standard"), key=open_site.key, origin="https://any.example"
    )
    assert response.status_code == 204, response.text
    assert len(await stored(engine)) == 5


async def test_a_site_created_meanwhile_works_at_once(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    assert (await post_beacon(client, beacon("v5-standard"), key=site.key)).status_code == 204
    later = await make_site(engine, origins=["https://later.example"])
    by_key = await post_beacon(
        client, beacon("v6-standard"), key=later.key, origin="https://later.example"
    )
    assert by_key.status_code == 204, by_key.text
    by_origin = await post_beacon(client, beacon("v4-standard"), origin="https://later.example")
    assert by_origin.status_code == 204, by_origin.text


def test_a_site_created_by_the_cli_while_serving_takes_beacons_at_once(tmp_path: Path) -> None:
    env = perfbeacon_env("sqlite+aiosqlite:///./perfbeacon.db")
    with serving(env=env, cwd=tmp_path) as (base_url, _):
        created = run_perfbeacon(
            "site", "create", "live", "--origin", "https://live.example", env=env, cwd=tmp_path
        )
        assert created.returncode == 0, created.stderr
        key = json.loads(created.stdout)["key"]
        response = httpx.post(
            f"{base_url}/api/vitals?site={key}",
            content=json.dumps(beacon("v5-attribution")),
            headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://live.example"},
        )
        assert response.status_code == 204, response.text


async def test_site_lookups_are_cached_and_misses_expire_soon(engine: AsyncEngine) -> None:
    now = [1000.0]
    cache = SiteCache(engine, ttl=30.0, clock=lambda: now[0])
    assert await cache.by_origin("https://soon.example") == ()
    site = await make_site(engine, origins=["https://soon.example"])
    assert await cache.by_origin("https://soon.example") == ()  # the miss is cached...
    now[0] += MISSING_TTL_SECONDS + 0.01
    (found,) = await cache.by_origin("https://soon.example")  # ...for a second only
    assert (found.id, found.key) == (site.id, site.key)

    assert (await cache.by_key(site.key)) == found
    async with engine.begin() as conn:
        await conn.execute(delete(sites))
    assert (await cache.by_key(site.key)) == found  # a hit, not a query
    now[0] += 30.01
    assert (await cache.by_key(site.key)) is None  # expired: asked again
