"""Create (or refresh) the demo site and fill it with two weeks of generated beacons."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.demo.generator import page_views
from collector.errors import Conflict
from collector.sites import service as sites_service
from collector.storage.records import EventRecord
from collector.storage.tables import events

DEMO_SITE_NAME = "demo"
DEMO_ORIGIN = "https://shop.example"
DEMO_DAYS = 14
DEMO_VIEWS_PER_HOUR = 60
HOURS_PER_FLUSH = 6

WriteBatch = Callable[[Sequence[EventRecord]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DemoSite:
    """The demo site as the user needs it: its id, key and a fresh read token."""

    id: int
    key: str
    read_token: str


async def prepare_demo_site(*, conn: AsyncConnection) -> DemoSite:
    """The demo site, created the first time; later runs give it a new read token."""
    try:
        created = await sites_service.create_site(
            conn=conn, name=DEMO_SITE_NAME, origins=[DEMO_ORIGIN]
        )
        return DemoSite(id=created.id, key=created.key, read_token=created.read_token)
    except Conflict:
        existing = next(
            site
            for site in await sites_service.list_sites(conn=conn)
            if site.name == DEMO_SITE_NAME
        )
        token = await sites_service.issue_new_read_token(conn=conn, key=existing.key)
        return DemoSite(id=existing.id, key=existing.key, read_token=token)


async def demo_start(*, conn: AsyncConnection, site_id: int, now: datetime) -> datetime:
    """Where generation starts: two weeks back, or after the demo's newest stored event."""
    newest: datetime | None = (
        await conn.execute(select(func.max(events.c.ts)).where(events.c.site_id == site_id))
    ).scalar_one_or_none()
    await conn.commit()
    earliest = now - timedelta(days=DEMO_DAYS)
    if newest is None:
        return earliest
    newest = newest if newest.tzinfo else newest.replace(tzinfo=UTC)
    return max(earliest, newest + timedelta(seconds=1))


async def load_demo(
    *,
    site_id: int,
    start: datetime,
    end: datetime,
    write: WriteBatch,
    on_progress: Callable[[int, int], None],
    per_hour: float = DEMO_VIEWS_PER_HOUR,
) -> int:
    """Generate the demo's events from ``start`` to ``end`` and hand them to ``write``.

    ``on_progress(hours_done, metrics_written)`` is called after every few hours of data.
    Returns the number of metrics written.
    """
    written = hours = 0
    pending: list[list[EventRecord]] = []

    async def flush() -> None:
        nonlocal written, hours
        # Concurrent writes join one group commit, as concurrent beacons do.
        await asyncio.gather(*(write(batch) for batch in pending if batch))
        written += sum(len(batch) for batch in pending)
        hours += len(pending)
        pending.clear()
        on_progress(hours, written)

    for batch in page_views(start=start, end=end, per_hour=per_hour):
        pending.append([msgspec.structs.replace(record, site_id=site_id) for record in batch])
        if len(pending) == HOURS_PER_FLUSH:
            await flush()
    if pending:
        await flush()
    return written
