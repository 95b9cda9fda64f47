"""Streaming export of raw events as CSV or NDJSON, a few thousand rows in memory at a time.

The rows are those the other read endpoints see: one site, a window, and the same
dimension filters (``raw_conditions``), so a filter means the same thing everywhere.

The export opens its own connection for as long as the response streams, so the
window is never held in memory and the request's connection is not kept busy.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.query.raw_rows import raw_conditions
from collector.query.windows import Window
from collector.storage.records import EVENT_COLUMNS
from collector.storage.tables import events

EXPORT_COLUMNS: tuple[str, ...] = tuple(c for c in EVENT_COLUMNS if c != "site_id")
ROWS_PER_CHUNK = 2000
_json = msgspec.json.Encoder()


async def _rows(
    engine: AsyncEngine, *, site_id: int, window: Window, filters: Mapping[str, str]
) -> AsyncIterator[list[Any]]:
    query = (
        select(*(events.c[name] for name in EXPORT_COLUMNS))
        .where(*raw_conditions(site_id=site_id, metrics=None, window=window, filters=filters))
        .order_by(events.c.ts)
        .execution_options(yield_per=ROWS_PER_CHUNK)
    )
    async with engine.connect() as conn, conn.stream(query) as result:
        async for partition in result.partitions():
            yield list(partition)


def _csv_cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return _json.encode(value).decode()
    return "" if value is None else value


async def export_csv(
    engine: AsyncEngine, *, site_id: int, window: Window, filters: Mapping[str, str]
) -> AsyncIterator[bytes]:
    """CSV with a header row, one raw event matching ``filters`` per line, oldest first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    yield buffer.getvalue().encode()
    async for chunk in _rows(engine, site_id=site_id, window=window, filters=filters):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([_csv_cell(value) for value in row] for row in chunk)
        yield buffer.getvalue().encode()


async def export_ndjson(
    engine: AsyncEngine, *, site_id: int, window: Window, filters: Mapping[str, str]
) -> AsyncIterator[bytes]:
    """One JSON object per line, a raw event matching ``filters``, oldest first."""
    async for chunk in _rows(engine, site_id=site_id, window=window, filters=filters):
        yield b"".join(
            _json.encode(dict(zip(EXPORT_COLUMNS, row, strict=True))) + b"\n" for row in chunk
        )
