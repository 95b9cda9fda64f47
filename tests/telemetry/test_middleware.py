"""The telemetry middleware: bounded route labels, timing headers, request ids, in-flight."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from collector.app import create_app
from collector.config import Settings
from collector.telemetry.middleware import UNMATCHED_ROUTE
from tests.databases import sqlite_url
from tests.telemetry.helpers import (
    SUMMARY_ROUTE,
    ensure_summary_route,
    label_sets,
    serving_in_process,
)

DURATION_COUNT = "http_request_duration_seconds_count"


@pytest.fixture
def quiet_settings(tmp_path: Path) -> Settings:
    """Settings on a private SQLite file, access log on, no tracing."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=sqlite_url(tmp_path),
        log_format="json",
    )


async def test_labels_are_route_templates_and_unknown_paths_share_one(
    quiet_settings: Settings,
) -> None:
    registry = CollectorRegistry()
    app = create_app(quiet_settings, registry=registry)
    ensure_summary_route(app)
    async with serving_in_process(app) as client:
        for path in ["/api/v1/sites/abc/summary", "/api/v1/sites/xyz/summary"]:
            await client.get(path)
        for path in ["/nope/123", "/nope/456", "/wp-admin.php"]:
            assert (await client.get(path)).status_code == 404
        await client.post("/api/vitals", content=b"[]")

    labels = label_sets(registry, DURATION_COUNT)
    routes = {label["route"] for label in labels}
    assert routes == {SUMMARY_ROUTE, UNMATCHED_ROUTE, "/api/vitals"}
    assert not any("abc" in route or "nope" in route for route in routes)
    unmatched = registry.get_sample_value(
        DURATION_COUNT, {"method": "GET", "route": UNMATCHED_ROUTE, "status": "404"}
    )
    assert unmatched == 3
    summary_samples = [label for label in labels if label["route"] == SUMMARY_ROUTE]
    assert sum(registry.get_sample_value(DURATION_COUNT, s) or 0 for s in summary_samples) == 2


async def test_unknown_methods_are_one_label(quiet_settings: Settings) -> None:
    registry = CollectorRegistry()
    app = create_app(quiet_settings, registry=registry)
    async with serving_in_process(app) as client:
        await client.request("PROPFIND", "/health")
        await client.request("BREW", "/health")
    methods = {label["method"] for label in label_sets(registry, DURATION_COUNT)}
    assert methods == {"other"}


async def test_timing_and_request_id_headers(quiet_settings: Settings) -> None:
    app = create_app(quiet_settings)
    async with serving_in_process(app) as client:
        response = await client.get("/health", headers={"X-Request-ID": "req-42.abc"})
        fresh = await client.get("/health")
        refused = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
        missing = await client.get("/nope")

    for answer in (response, fresh, refused, missing):
        assert re.fullmatch(r"\d+\.\d{4}", answer.headers["x-process-time"])
        assert re.fullmatch(r"total;dur=\d+\.\d{3}", answer.headers["server-timing"])
    assert response.headers["x-request-id"] == "req-42.abc"
    assert re.fullmatch(r"[0-9a-f]{12}-[0-9a-f]+", fresh.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{12}-[0-9a-f]+", refused.headers["x-request-id"])
    assert fresh.headers["x-request-id"] != refused.headers["x-request-id"]


async def test_server_timing_reports_database_time(client: httpx.AsyncClient) -> None:
    touched = await client.get("/ready")
    untouched = await client.get("/health")

    match = re.fullmatch(
        r"db;dur=(\d+\.\d{3}), total;dur=(\d+\.\d{3})", touched.headers["server-timing"]
    )
    assert match is not None, touched.headers["server-timing"]
    db_ms, total_ms = (float(value) for value in match.groups())
    assert 0 < db_ms <= total_ms
    assert "db;" not in untouched.headers["server-timing"]


async def test_requests_in_flight_are_counted(quiet_settings: Settings) -> None:
    registry = CollectorRegistry()
    app = create_app(quiet_settings, registry=registry)
    entered = asyncio.Event()
    release = asyncio.Event()

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        entered.set()
        await release.wait()
        return {"done": True}

    async with serving_in_process(app) as client:
        request = asyncio.create_task(client.get("/slow"))
        await entered.wait()
        assert registry.get_sample_value("http_requests_in_flight") == 1
        release.set()
        assert (await request).status_code == 200
    assert registry.get_sample_value("http_requests_in_flight") == 0


async def test_a_failing_endpoint_is_timed_as_500(quiet_settings: Settings) -> None:
    registry = CollectorRegistry()
    app = create_app(quiet_settings, registry=registry)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    async with serving_in_process(app) as client:
        with pytest.raises(RuntimeError):
            await client.get("/boom")
    labels = {"method": "GET", "route": "/boom", "status": "500"}
    assert registry.get_sample_value(DURATION_COUNT, labels) == 1
    assert registry.get_sample_value("http_requests_in_flight") == 0


async def test_the_lifespan_passes_through_uncounted(quiet_settings: Settings) -> None:
    registry = CollectorRegistry()
    app = create_app(quiet_settings, registry=registry)
    async with serving_in_process(app) as client:
        assert (await client.get("/health")).status_code == 200
    assert label_sets(registry, DURATION_COUNT) == [
        {"method": "GET", "route": "/health", "status": "200"}
    ]
