"""CORS only where beacons (and, when configured, the read API) need it; security headers
on every dashboard page."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from collector.app import create_app
from collector.config import InvalidSettings, Settings, load_settings
from collector.sites.schemas import CreatedSite
from tests.dashboard.conftest import log_in
from tests.factories import make_site

EVIL = "https://evil.example"
ALLOWED = "https://grafana.example"
NOT_CORS_PATHS = ("/api/v1/sites", "/v1/projects", "/dashboard/", "/metrics", "/health")


def _preflight(origin: str, method: str = "GET") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization",
    }


async def test_by_default_no_route_but_beacons_answers_cors(
    client: httpx.AsyncClient, engine: object
) -> None:
    from sqlalchemy.ext.asyncio import AsyncEngine

    assert isinstance(engine, AsyncEngine)
    site = await make_site(engine, origins=["https://shop.example"])
    for path in (*NOT_CORS_PATHS, f"/api/v1/sites/{site.key}/summary"):
        for origin in (EVIL, "https://shop.example"):
            preflight = await client.options(path, headers=_preflight(origin))
            plain = await client.get(path, headers={"Origin": origin})
            for response in (preflight, plain):
                assert "access-control-allow-origin" not in response.headers, (path, origin)
    beacon = await client.options(
        f"/api/vitals?site={site.key}", headers=_preflight("https://shop.example", "POST")
    )
    assert beacon.headers["access-control-allow-origin"] == "https://shop.example"


@pytest.fixture
async def cors_client(settings: Settings, engine: object) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings.model_copy(update={"cors_origins": [ALLOWED]}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def test_configured_origins_may_read_the_read_api_and_nothing_else(
    cors_client: httpx.AsyncClient, engine: object
) -> None:
    from sqlalchemy.ext.asyncio import AsyncEngine

    assert isinstance(engine, AsyncEngine)
    site: CreatedSite = await make_site(engine)
    summary = f"/api/v1/sites/{site.key}/summary"

    allowed = await cors_client.options(summary, headers=_preflight(ALLOWED))
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "access-control-allow-credentials" not in allowed.headers
    read = await cors_client.get(
        summary, headers={"Origin": ALLOWED, "Authorization": f"Bearer {site.read_token}"}
    )
    assert read.status_code == 200
    assert read.headers["access-control-allow-origin"] == ALLOWED

    refused = await cors_client.options(summary, headers=_preflight(EVIL))
    assert "access-control-allow-origin" not in refused.headers
    # Only reads: a page of the allowed origin cannot rotate or revoke tokens.
    write = await cors_client.options(
        f"/api/v1/sites/{site.key}/read-token", headers=_preflight(ALLOWED, "DELETE")
    )
    assert write.status_code == 400
    for path in NOT_CORS_PATHS:
        response = await cors_client.options(path, headers=_preflight(ALLOWED))
        assert "access-control-allow-origin" not in response.headers, path


@pytest.mark.parametrize("value", ["*", "https://*.example", "grafana.example"])
def test_a_wildcard_or_non_origin_is_refused_at_start(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERFBEACON_CORS_ORIGINS", value)
    with pytest.raises(InvalidSettings, match="PERFBEACON_CORS_ORIGINS"):
        load_settings(_env_file=None)


async def test_dashboard_pages_carry_the_security_headers(
    client: httpx.AsyncClient, engine: object
) -> None:
    from sqlalchemy.ext.asyncio import AsyncEngine

    assert isinstance(engine, AsyncEngine)
    site = await make_site(engine)
    login_page = await client.get("/dashboard/")
    await log_in(client, site.read_token)
    pages = [
        login_page,
        await client.get(f"/dashboard/sites/{site.key}"),
        await client.get(f"/dashboard/sites/{site.key}/live"),
        await client.get("/dashboard/sites/pk_unknown"),
    ]
    for page in pages:
        policy = {
            directive.split()[0]: directive.split()[1:]
            for directive in page.headers["content-security-policy"].split("; ")
        }
        assert policy["script-src"] == ["'self'"], page.url
        assert "'unsafe-inline'" not in page.headers["content-security-policy"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] in ("same-origin", "no-referrer")
        assert "<script>" not in page.text
