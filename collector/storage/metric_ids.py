"""Claims on metric ids: the database's word on whether a report is a page view's first.

A metric id (site, metric name, web-vitals id) is one observation. The process that
stores its first row claims the id, with the row's timestamp; a report of a claimed id,
whichever process or collector receives it, replaces that row instead of adding one.
Claims are kept for ``REREPORT_WINDOW``; a re-report later than that is a new row.

>>> taken = await claim(conn, first_reports)   # {key: ts of the row stored before}
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.storage.records import EventRecord
from collector.storage.tables import metric_ids

ReportKey = tuple[int, str, str]

# web-vitals re-reports a metric while its page lives: hours at most, in practice.
REREPORT_WINDOW = timedelta(hours=24)
# Claims per statement on SQLite: four parameters each, well under its limit.
_SQLITE_CHUNK = 1000

# One statement for any batch size, so PostgreSQL plans it once per connection.
_CLAIM_ON_POSTGRESQL = text(
    "INSERT INTO metric_ids (site_id, metric, metric_id, ts) "
    "SELECT * FROM unnest(CAST(:site_ids AS int[]), CAST(:metrics AS text[]), "
    "CAST(:ids AS text[]), CAST(:ts AS timestamptz[])) "
    "ON CONFLICT DO NOTHING RETURNING site_id, metric, metric_id"
)


def key_of(record: EventRecord) -> ReportKey:
    """What makes two reports the same observation: site, metric name, metric id."""
    return (record.site_id, record.metric, record.metric_id)


async def claim(conn: AsyncConnection, records: Sequence[EventRecord]) -> dict[ReportKey, datetime]:
    """Claim the ids of ``records`` (one record per id) for rows at their timestamps.

    Answers the ids that were claimed before, each with the timestamp of its stored row.
    A claim another transaction holds is waited for, so two processes never both win.
    """
    if not records:
        return {}
    if conn.dialect.name == "postgresql":
        won = await conn.execute(
            _CLAIM_ON_POSTGRESQL,
            {
                "site_ids": [r.site_id for r in records],
                "metrics": [r.metric for r in records],
                "ids": [r.metric_id for r in records],
                "ts": [r.ts for r in records],
            },
        )
        claimed = {tuple(row) for row in won}
    else:
        claimed = set()
        for start in range(0, len(records), _SQLITE_CHUNK):
            chunk = records[start : start + _SQLITE_CHUNK]
            statement = (
                sqlite_insert(metric_ids)
                .values([_row(r) for r in chunk])
                .on_conflict_do_nothing()
                .returning(metric_ids.c.site_id, metric_ids.c.metric, metric_ids.c.metric_id)
            )
            claimed.update(tuple(row) for row in await conn.execute(statement))
    taken = [key for key in map(key_of, records) if key not in claimed]
    return await claimed_at(conn, taken) if taken else {}


async def claimed_at(conn: AsyncConnection, keys: Sequence[ReportKey]) -> dict[ReportKey, datetime]:
    """The timestamp each claimed id's row is stored at."""
    columns = tuple_(metric_ids.c.site_id, metric_ids.c.metric, metric_ids.c.metric_id)
    found: dict[ReportKey, datetime] = {}
    for start in range(0, len(keys), _SQLITE_CHUNK):
        rows = await conn.execute(
            select(metric_ids).where(columns.in_(keys[start : start + _SQLITE_CHUNK]))
        )
        for row in rows:
            found[(row.site_id, row.metric, row.metric_id)] = row.ts
    return found


async def move_claims(conn: AsyncConnection, records: Sequence[EventRecord]) -> None:
    """Point the claims of ``records`` at their rows: a claimed id whose row is gone
    (past retention) gets a new row, and its claim follows it."""
    if not records:
        return
    dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(metric_ids).values([_row(r) for r in records])
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["site_id", "metric", "metric_id"], set_={"ts": statement.excluded.ts}
        )
    )


async def expire_claims(conn: AsyncConnection, *, now: datetime) -> int:
    """Delete the claims of rows older than ``REREPORT_WINDOW``; how many."""
    result = await conn.execute(delete(metric_ids).where(metric_ids.c.ts < now - REREPORT_WINDOW))
    return result.rowcount


def _row(record: EventRecord) -> dict[str, object]:
    return {
        "site_id": record.site_id,
        "metric": record.metric,
        "metric_id": record.metric_id,
        "ts": record.ts,
    }
