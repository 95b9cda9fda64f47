"""Small builders of test data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.query.roller import catch_up
from collector.query.rollups import RollupAccumulator
from collector.sites.schemas import CreatedSite
from collector.sites.service import create_site
from collector.storage.partitions import ensure_partitions
from collector.storage.records import EVENT_COLUMNS, EventRecord
from collector.storage.tables import events, rollup_watermark

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


def event(
    *,
    site_id: int,
    ts: datetime,
    metric: str = "LCP",
    value: float = 1200.0,
    metric_id: str | None = None,
    route: str = "/",
    device: str = "desktop",
    browser: str = "chrome",
    connection: str = "4g",
    navigation_type: str = "navigate",
    country: str | None = "de",
    attribution: dict[str, Any] | None = None,
) -> EventRecord:
    """An EventRecord with plausible defaults; a fresh metric id unless one is given."""
    global _counter
    _counter += 1
    return EventRecord(
        site_id=site_id,
        ts=ts,
        metric=metric,
        value=value,
        delta=value,
        rating=None,
        metric_id=metric_id or f"v5-{_counter}-{metric}",
        navigation_type=navigation_type,
        page_path=route,
        route=route,
        device=device,
        browser=browser,
        os="linux",
        connection=connection,
        country=country,
        attribution=attribution,
    )


async def store_events(engine: AsyncEngine, records: Sequence[EventRecord]) -> None:
    """Store first reports as the ingest writer does: raw rows and rollups, one transaction."""
    if not records:
        return
    accumulator = RollupAccumulator()
    await _ensure_partitions_for(engine, records)
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Binary COPY, as the ingest writer stores raw rows (and much faster).
            raw = (await conn.get_raw_connection()).driver_connection
            rows = [_copy_row(record) for record in records]
            await raw.copy_records_to_table("events", records=rows, columns=list(EVENT_COLUMNS))
        else:
            await conn.execute(insert(events), [msgspec.structs.asdict(r) for r in records])
        for record in records:
            accumulator.add(record)
        await accumulator.flush(conn)


async def rereport(engine: AsyncEngine, record: EventRecord) -> EventRecord:
    """Store a later report of an already stored metric id: the raw row and rollups move."""
    accumulator = RollupAccumulator()
    same_id = (
        (events.c.site_id == record.site_id)
        & (events.c.metric == record.metric)
        & (events.c.metric_id == record.metric_id)
    )
    await _ensure_partitions_for(engine, [record])
    async with engine.begin() as conn:
        row = (await conn.execute(select(events).where(same_id))).one()
        old = EventRecord(**row._asdict())
        # A changed ts may cross a partition: delete and insert rather than update.
        await conn.execute(delete(events).where(same_id))
        await conn.execute(insert(events).values(**msgspec.structs.asdict(record)))
        accumulator.replace(old, record)
        await accumulator.flush(conn)
    return old


async def roll_up_everything(engine: AsyncEngine) -> None:
    """Let the roller (PostgreSQL) roll every stored event up, as it does every few seconds."""
    end_of_time = datetime(9000, 1, 1, tzinfo=UTC)
    # No batch is in flight in a test that calls this, so no lag is needed either.
    await catch_up(engine, until=end_of_time, max_span=timedelta(days=3650), lag=timedelta(0))


def _copy_row(record: EventRecord) -> tuple[object, ...]:
    row = msgspec.structs.astuple(record)
    if record.attribution is None:
        return row
    return (*row[:-1], msgspec.json.encode(record.attribution).decode())


async def _ensure_partitions_for(engine: AsyncEngine, records: Sequence[EventRecord]) -> None:
    # In its own transaction, as maintenance does: partition DDL locks the parent table,
    # and holding that lock while waiting for the rollup watermark would deadlock the roller.
    first = min(record.ts for record in records).date()
    last = max(record.ts for record in records).date()
    async with engine.begin() as conn:
        await ensure_partitions(conn, first_day=first, days=(last - first).days + 1)


async def set_watermark(engine: AsyncEngine, at: datetime) -> None:
    """Put the roller's watermark at ``at`` on PostgreSQL (events after it are then unrolled).

    Safe only when no event of the sites under test lies before ``at``. SQLite has no
    roller (writers roll everything up), so its watermark stays at the end of time.
    """
    if engine.dialect.name != "postgresql":
        return
    async with engine.begin() as conn:
        await conn.execute(update(rollup_watermark).values(rolled_before=at))


async def roll_up_to(engine: AsyncEngine, until: datetime) -> None:
    """Let the roller (PostgreSQL) roll stored events up to ``until``."""
    await catch_up(engine, until=until, max_span=timedelta(days=3650))


def sample(
    site_id: int,
    metric: str,
    value: float,
    *,
    ts: datetime | None = None,
    route: str = "/",
    page_path: str | None = None,
    device: str = "mobile",
    browser: str = "chrome",
    attribution: dict[str, Any] | None = None,
    metric_id: str | None = None,
) -> EventRecord:
    """One report an hour ago, by metric and value, with a page path apart from its route."""
    global _counter
    _counter += 1
    return EventRecord(
        site_id=site_id,
        ts=ts or datetime.now(UTC) - timedelta(hours=1),
        metric=metric,
        value=value,
        delta=value,
        rating=None,
        metric_id=metric_id or f"v5-sample-{_counter}",
        navigation_type="navigate",
        page_path=page_path or route,
        route=route,
        device=device,
        browser=browser,
        os="android",
        connection="4g",
        attribution=attribution,
    )
