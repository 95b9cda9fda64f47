"""Small builders of test data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from collector.sites.schemas import CreatedSite
from collector.sites.service import create_site
from collector.storage.records import EventRecord

_counter = 0


async def make_site(
    engine: AsyncEngine,
    *,
    name: str | None = None,
    origins: Sequence[str] = ("https://shop.example",),
) -> CreatedSite:
    """Create a site (a unique name unless one is given) and return it with its token."""
    global _counter
    _counter += 1
    async with engine.connect() as conn:
        return await create_site(conn=conn, name=name or f"site-{_counter}", origins=origins)


def make_event(**overrides: Any) -> EventRecord:
    """An enriched LCP report of site 1, now; any field can be overridden."""
    global _counter
    _counter += 1
    fields: dict[str, Any] = {
        "site_id": 1,
        "ts": datetime.now(UTC),
        "metric": "LCP",
        "value": 1200.0,
        "delta": 1200.0,
        "rating": "good",
        "metric_id": f"v5-1732611015250-{_counter}",
        "navigation_type": "navigate",
        "page_path": "/product/42",
        "route": "/product/:id",
        "device": "mobile",
        "browser": "chrome mobile",
        "os": "android",
        "connection": "4g",
        "attribution": {"target": "#hero"},
    }
    fields.update(overrides)
    return EventRecord(**fields)
