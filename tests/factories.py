"""Small builders of test data."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from collector.sites.schemas import CreatedSite
from collector.sites.service import create_site

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
