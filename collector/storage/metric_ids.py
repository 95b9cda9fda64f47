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

import msgspec
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
_json_encode = msgspec.json.Encoder().encode

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


# Event columns and the PostgreSQL array types they travel in.
_EVENT_ARRAYS: tuple[tuple[str, str], ...] = (
    ("site_id", "int[]"),
    ("ts", "timestamptz[]"),
    ("metric", "text[]"),
    ("value", "float8[]"),
    ("delta", "float8[]"),
    ("rating", "text[]"),
    ("metric_id", "text[]"),
    ("navigation_type", "text[]"),
    ("page_path", "text[]"),
    ("route", "text[]"),
    ("device", "text[]"),
    ("browser", "text[]"),
    ("os", "text[]"),
    ("connection", "text[]"),
    ("device_memory", "float8[]"),
    ("country", "text[]"),
    ("attribution", "jsonb[]"),
)
_NAMES = ", ".join(name for name, _ in _EVENT_ARRAYS)
_CLAIMABLE = "('CLS', 'INP', 'LCP')"
_SAME_ID = "c.site_id = b.site_id AND c.metric = b.metric AND c.metric_id = b.metric_id"
# One statement, so it commits on its own as a lone COPY does: the claims, the rows whose
# claim won (and every FCP, TTFB and FID row), and the ids claimed before, to replace.
# Built from this module's constants only, never from input; asyncpg's positional form.
_CLAIM_AND_APPEND = (
    "WITH batch AS (SELECT * FROM unnest("  # noqa: S608
    + ", ".join(f"${n}::{kind}" for n, (_, kind) in enumerate(_EVENT_ARRAYS, start=1))
    + f") AS b({_NAMES})), "  # noqa: S608
    f"claimed AS (INSERT INTO metric_ids (site_id, metric, metric_id, ts) "
    f"SELECT site_id, metric, metric_id, ts FROM batch WHERE metric IN {_CLAIMABLE} "
    f"ON CONFLICT DO NOTHING RETURNING site_id, metric, metric_id), "
    f"appended AS (INSERT INTO events ({_NAMES}) SELECT {_NAMES} FROM batch b "
    f"WHERE b.metric NOT IN {_CLAIMABLE} "
    f"OR EXISTS (SELECT 1 FROM claimed c WHERE {_SAME_ID}) RETURNING 1) "
    f"SELECT b.site_id, b.metric, b.metric_id FROM batch b WHERE b.metric IN {_CLAIMABLE} "
    f"AND NOT EXISTS (SELECT 1 FROM claimed c WHERE {_SAME_ID})"
)


async def claim_and_append(conn: AsyncConnection, records: Sequence[EventRecord]) -> set[ReportKey]:
    """Claim and store ``records`` (one per id) in one statement, outside any transaction.

    PostgreSQL only. Answers the ids that were claimed before: their records were not
    stored, and replace their rows in a transaction of their own.
    """
    columns: dict[str, list[object]] = {name: [] for name, _ in _EVENT_ARRAYS}
    for record in records:
        for name, _ in _EVENT_ARRAYS:
            columns[name].append(getattr(record, name))
    columns["attribution"] = [
        None if a is None else _json_encode(a).decode() for a in columns["attribution"]
    ]
    # On the driver itself: through SQLAlchemy the statement would begin a transaction
    # that needs its own COMMIT, two round trips the lone statement spares.
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is None:
        raise RuntimeError("the database connection is closed")
    taken = await driver.fetch(_CLAIM_AND_APPEND, *(columns[name] for name, _ in _EVENT_ARRAYS))
    return {(row["site_id"], row["metric"], row["metric_id"]) for row in taken}
