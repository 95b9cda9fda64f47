"""Fixtures for ingestion tests: a site, beacon posting, and reading what was stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.sites.schemas import CreatedSite
from collector.storage.records import EventRecord
from collector.storage.tables import events
from tests.factories import make_site

BEACONS = Path(__file__).parent / "beacons"
ORIGIN = "https://shop.example"
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)


def beacon(name: str) -> list[dict[str, Any]]:
    """The metrics of a captured beacon fixture, e.g. ``v5-attribution``."""
    metrics: list[dict[str, Any]] = json.loads((BEACONS / f"{name}.json").read_text())
    return metrics


@pytest.fixture
async def site(engine: AsyncEngine) -> CreatedSite:
    """A site that allows beacons from https://shop.example."""
    return await make_site(engine, origins=[ORIGIN])


async def post_beacon(
    client: httpx.AsyncClient,
    body: object,
    *,
    key: str | None = None,
    origin: str | None = ORIGIN,
    content_type: str = "text/plain;charset=UTF-8",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a beacon as sendBeacon does (a JSON string as text/plain)."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": content_type, "User-Agent": ANDROID_CHROME, **(headers or {})}
    if origin is not None:
        sent["Origin"] = origin
    url = "/api/vitals" if key is None else f"/api/vitals?site={key}"
    return await client.post(url, content=content, headers=sent)


async def stored(engine: AsyncEngine) -> list[EventRecord]:
    """Every stored event, oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(events).order_by(events.c.ts, events.c.metric_id))
        return [EventRecord(**row._asdict()) for row in rows]


def by_metric(records: list[EventRecord]) -> dict[str, EventRecord]:
    """Records keyed by metric name (one of each expected)."""
    result = {record.metric: record for record in records}
    assert len(result) == len(records), "expected one record per metric"
    return result
