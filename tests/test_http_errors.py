"""Every error is JSON in one shape; health and readiness probes answer."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from collector.app import create_app
from collector.config import Settings
from collector.storage.db import create_engine


async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "not_found",
            "message": "no route matches /no/such/thing",
            "details": None,
        }
    }


async def test_wrong_method_is_a_json_405(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health")
    assert response.status_code == 405
    error = response.json()["error"]
    assert error["code"] == "method_not_allowed"
    assert "GET" in error["message"]


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}


async def test_ready_is_503_with_a_reason_when_the_database_is_unreachable(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # A real connection attempt to a port nothing listens on.
    healthy_engine = app.state.runtime.engine
    app.state.runtime.engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        response = await client.get("/ready")
    finally:
        await app.state.runtime.engine.dispose()
        app.state.runtime.engine = healthy_engine
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["message"].startswith("database unreachable")


async def test_app_starts_even_when_the_database_is_down() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/health")).status_code == 200
            assert (await client.get("/ready")).status_code == 503


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
async def test_api_description_is_served(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 200


async def test_cors_is_configured_from_settings(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["https://ops.example"]}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.options(
            "/api/v1/sites/pk_any/summary",
            headers={"Origin": "https://ops.example", "Access-Control-Request-Method": "GET"},
        )
    assert response.headers["access-control-allow-origin"] == "https://ops.example"


async def test_large_responses_are_gzipped(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
