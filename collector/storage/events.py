"""Bulk writes of raw events: binary COPY on PostgreSQL, a multi-row insert on SQLite.

Both run inside the caller's transaction, so a batch, its corrections and whatever
else the caller writes (rollups) commit or roll back together.

>>> async with engine.begin() as conn:
...     await insert_events(conn, records)
...     await replace_events(conn, [(old, new)])
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import and_, bindparam, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.storage.records import EVENT_COLUMNS, EventRecord
from collector.storage.tables import events

_ATTRIBUTION = EVENT_COLUMNS.index("attribution")
# Rows looked up per statement: well under SQLite's bound-parameter limit.
_LOOKUP_CHUNK = 500
StoredKey = tuple[int, str, datetime, str]
_json_encode = msgspec.json.Encoder().encode

_REPLACE = (
    update(events)
    .where(
        and_(
            events.c.site_id == bindparam("b_site_id"),
            events.c.metric == bindparam("b_metric"),
            events.c.ts == bindparam("b_ts"),
            events.c.metric_id == bindparam("b_metric_id"),
        )
    )
    .values(
        value=bindparam("value"),
        delta=bindparam("delta"),
        rating=bindparam("rating"),
        attribution=bindparam("attribution"),
    )
)


async def insert_events(conn: AsyncConnection, records: Sequence[EventRecord]) -> None:
    """Append ``records`` to the raw events table in the current transaction."""
    if not records:
        return
    if conn.dialect.name == "postgresql":
        await _copy_into_postgresql(conn, records)
    else:
        await conn.execute(insert(events), [msgspec.structs.asdict(r) for r in records])


async def append_events(conn: AsyncConnection, records: Sequence[EventRecord]) -> None:
    """Append ``records`` durably in one statement, on a connection with no transaction open.

    On PostgreSQL a lone COPY is atomic and committed when it returns, so it needs no
    BEGIN/COMMIT round trips; elsewhere the insert gets its own transaction.
    """
    if conn.dialect.name == "postgresql":
        await _copy_into_postgresql(conn, records, in_transaction=False)
        return
    async with conn.begin():
        await insert_events(conn, records)


async def replace_events(
    conn: AsyncConnection, replacements: Sequence[tuple[EventRecord, EventRecord]]
) -> None:
    """Overwrite stored rows with newer reports of the same metric instance.

    Each ``old`` is the record as stored; the row is found by site, metric and
    timestamp through the one index, then narrowed by metric id.
    """
    if not replacements:
        return
    await conn.execute(
        _REPLACE,
        [
            {
                "b_site_id": old.site_id,
                "b_metric": old.metric,
                "b_ts": old.ts,
                "b_metric_id": old.metric_id,
                "value": new.value,
                "delta": new.delta,
                "rating": new.rating,
                "attribution": new.attribution,
            }
            for old, new in replacements
        ],
    )


async def find_events(
    conn: AsyncConnection, keys: Sequence[StoredKey], *, for_update: bool = False
) -> dict[tuple[int, str, str], EventRecord]:
    """The stored rows at ``(site_id, metric, ts, metric_id)``, by (site_id, metric, metric_id).

    For re-reports and replays, which must know the row as stored now; the lookup goes
    through the (site_id, metric, ts) index. ``for_update`` locks the rows found until
    the transaction ends, so two processes replacing one row take turns.
    """
    found: dict[tuple[int, str, str], EventRecord] = {}
    unique = list(dict.fromkeys(keys))
    lock = for_update and conn.dialect.name == "postgresql"
    # Locking reads go one site at a time: Citus locks rows only in a query it can send
    # to one shard, and a site's rows are all on one.
    groups = _by_site(unique) if lock else [unique]
    key_columns = tuple_(events.c.site_id, events.c.metric, events.c.ts, events.c.metric_id)
    for group in groups:
        for start in range(0, len(group), _LOOKUP_CHUNK):
            chunk = group[start : start + _LOOKUP_CHUNK]
            query = select(events).where(key_columns.in_(chunk))
            if lock:
                query = query.where(events.c.site_id == chunk[0][0]).with_for_update()
            for row in await conn.execute(query):
                record = EventRecord(**row._asdict())
                found[(record.site_id, record.metric, record.metric_id)] = record
    return found


def _by_site(keys: Sequence[StoredKey]) -> list[list[StoredKey]]:
    groups: dict[int, list[StoredKey]] = {}
    for key in keys:
        groups.setdefault(key[0], []).append(key)
    return list(groups.values())


async def _copy_into_postgresql(
    conn: AsyncConnection, records: Sequence[EventRecord], *, in_transaction: bool = True
) -> None:
    if in_transaction:
        driver = await _driver_connection_in_transaction(conn)
    else:
        driver = (await conn.get_raw_connection()).driver_connection
    await driver.copy_records_to_table(
        "events", records=[_copy_row(record) for record in records], columns=EVENT_COLUMNS
    )


def _copy_row(record: EventRecord) -> tuple[Any, ...]:
    row = msgspec.structs.astuple(record)
    attribution = row[_ATTRIBUTION]
    if attribution is None:
        return row
    # asyncpg's jsonb codec takes JSON text.
    return (*row[:_ATTRIBUTION], _json_encode(attribution).decode(), *row[_ATTRIBUTION + 1 :])


async def _driver_connection_in_transaction(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn``, with the SQLAlchemy transaction begun on it.

    SQLAlchemy's asyncpg adapter emits BEGIN lazily, on the first statement; a COPY
    issued on the raw connection before that would run outside the transaction.
    """
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:
        raise RuntimeError("the database connection is closed")
    if not driver.is_in_transaction():
        await conn.exec_driver_sql("SELECT 1")
    return driver
