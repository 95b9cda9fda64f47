"""The rollup accumulator the ingest writer feeds inside each batch transaction.

Why the hot path does almost nothing: one beacon fans out to 8 levels × 3 grains of
rollup cells, and a batch of a few thousand metrics touches tens of thousands of
distinct cells, so upserting them per batch costs far more than the raw COPY (measured
in bench/README.md). Instead, on PostgreSQL the roller (``roller.py``) rolls raw
events up in SQL every few seconds, once many batches have collapsed onto the same
cells, and moves a watermark: events with ``ts`` before ``rolled_before`` are in the
rollups. Nothing is lost in a crash, because the roller's pass and its watermark
commit together, and a pass that did not commit is simply redone from the raw table.

The writer still calls this accumulator in every batch: ``add`` and ``replace`` only
remember the records, and ``flush`` reads the watermark ``FOR SHARE`` (which orders the
batch before or after any concurrent roller pass) and applies, in the batch's own
transaction, just the records the roller will never see: those behind the watermark
(late events, and the old and new values of a re-reported metric id). On SQLite the
watermark sits at the end of time, so every record is applied here, in the batch.

    accumulator = RollupAccumulator()
    accumulator.add(record)                 # a first report
    accumulator.replace(earlier, record)    # a re-report: the raw row now holds ``record``
    await accumulator.flush(conn)           # inside the batch transaction, before commit
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.query.levels import ALL, DIMENSIONS, GRAINS, LEVELS, dimensions_of
from collector.query.sketch import mapping_for, rating_of
from collector.query.timeutil import epoch_seconds
from collector.storage.records import EventRecord
from collector.storage.tables import (
    ROLLUP_COUNTS_KEY,
    ROLLUP_KEY,
    rollup_counts,
    rollup_watermark,
    rollups,
)

WATERMARK_ID = 1
_KEEPS: tuple[tuple[int, tuple[bool, ...]], ...] = tuple(
    (level, tuple(dimension in dimensions_of(level) for dimension in DIMENSIONS))
    for level in LEVELS
)

HistogramCells = dict[tuple[object, ...], int]
CountCells = dict[tuple[object, ...], list[int]]


@dataclass(frozen=True, slots=True)
class FlushResult:
    """What one flush wrote: records applied directly and rollup rows upserted."""

    applied: int = 0
    rows: int = 0


class RollupAccumulator:
    """Collects a batch's records and keeps the rollups exact when the batch commits."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: list[tuple[int, EventRecord]] = []

    def add(self, record: EventRecord) -> None:
        """Count a newly stored observation."""
        self._pending.append((1, record))

    def replace(self, old: EventRecord, new: EventRecord) -> None:
        """Move one observation from ``old`` to ``new`` (the raw row was updated to ``new``)."""
        self._pending.append((-1, old))
        self._pending.append((1, new))

    def __len__(self) -> int:
        return len(self._pending)

    async def flush(self, conn: AsyncConnection) -> FlushResult:
        """Apply what the roller will not see, in ``conn``'s transaction; always empties."""
        pending, self._pending = self._pending, []
        if not pending:
            return FlushResult()
        watermark = await read_watermark(conn, lock=True)
        behind = [(weight, record) for weight, record in pending if record.ts < watermark]
        if not behind:
            return FlushResult()
        histogram, counts = cells_of(behind)
        rows = await upsert_cells(conn, histogram, counts)
        return FlushResult(applied=len(behind), rows=rows)


async def read_watermark(conn: AsyncConnection, *, lock: bool) -> datetime:
    """Events before the returned time are in the rollups.

    With ``lock`` (PostgreSQL) the row is held ``FOR SHARE`` until the transaction ends,
    so a roller pass runs wholly before or wholly after it.
    """
    query = select(rollup_watermark.c.rolled_before).where(rollup_watermark.c.id == WATERMARK_ID)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    return (await conn.execute(query)).scalar_one()


def cells_of(weighted: Iterable[tuple[int, EventRecord]]) -> tuple[HistogramCells, CountCells]:
    """The rollup cells (histogram and counts) of weighted records, at every level and grain."""
    finest: dict[tuple[object, ...], int] = defaultdict(int)
    smallest = GRAINS[0]
    for weight, r in weighted:
        seconds = epoch_seconds(r.ts)
        bucket = mapping_for(r.metric).bucket_of(r.value)
        dims = (r.route, r.device, r.browser, r.connection, r.navigation_type, r.country or "")
        key = (r.site_id, r.metric, seconds - seconds % smallest, dims, bucket)
        finest[(*key, rating_of(r.metric, r.value))] += weight
    histogram: HistogramCells = defaultdict(int)
    counts: CountCells = {}
    for (site_id, metric, period, dims, bucket, rating), n in finest.items():
        if n == 0:
            continue
        for level, keep in _KEEPS:
            kept = tuple(value if k else ALL for value, k in zip(dims, keep, strict=True))
            for grain in GRAINS:
                key = (site_id, metric, level, grain, period - period % grain, *kept)
                histogram[(*key, bucket)] += n
                row = counts.get(key)
                if row is None:
                    row = counts[key] = [0, 0, 0, 0]
                row[0] += n
                if rating:
                    row[rating] += n
    return histogram, counts


async def upsert_cells(conn: AsyncConnection, histogram: HistogramCells, counts: CountCells) -> int:
    """Add cells to the rollup tables in two statements; returns the rows written.

    Keys are sorted so concurrent writers lock rows in the same order (no deadlocks).
    """
    hist_rows = [(*key, n) for key, n in sorted(histogram.items()) if n]
    count_rows = [(*key, *values) for key, values in sorted(counts.items()) if any(values)]
    if conn.dialect.name == "postgresql":
        await _upsert_postgres(conn, hist_rows, count_rows)
    else:
        await _upsert_sqlite(conn, hist_rows, count_rows)
    return len(hist_rows) + len(count_rows)


_PG_KEY_TYPES = ("int4", "text", "int2", "int4", "int8", *(["text"] * len(DIMENSIONS)))


# Table and column names below come from constants; every value is bound.
def _pg_upsert_sql(
    table: str, key: Sequence[str], types: Sequence[str], values: Sequence[str]
) -> str:
    columns = [*key, *values]
    arrays = ", ".join(f"${i + 1}::{kind}[]" for i, kind in enumerate(types))
    updates = ", ".join(f"{column} = {table}.{column} + EXCLUDED.{column}" for column in values)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) "  # noqa: S608
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


_PG_HIST_SQL = _pg_upsert_sql("rollups", ROLLUP_KEY, (*_PG_KEY_TYPES, "int4", "int8"), ("count",))
_COUNT_VALUES = ("count", "good", "needs_improvement", "poor")
_PG_COUNTS_SQL = _pg_upsert_sql(
    "rollup_counts", ROLLUP_COUNTS_KEY, (*_PG_KEY_TYPES, *(["int8"] * 4)), _COUNT_VALUES
)


async def _upsert_postgres(
    conn: AsyncConnection, hist_rows: list[tuple[object, ...]], count_rows: list[tuple[object, ...]]
) -> None:
    # One unnest-based statement per table: a round trip each, whatever the row count.
    for sql, rows in ((_PG_HIST_SQL, hist_rows), (_PG_COUNTS_SQL, count_rows)):
        if rows:
            await conn.exec_driver_sql(
                sql, tuple(list(column) for column in zip(*rows, strict=True))
            )


def _sqlite_upsert_sql(table: str, key: Sequence[str], values: Sequence[str]) -> str:
    columns = [*key, *values]
    updates = ", ".join(f"{column} = {column} + excluded.{column}" for column in values)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - names are constants
        f"VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


_SQLITE_HIST_SQL = _sqlite_upsert_sql(rollups.name, ROLLUP_KEY, ("count",))
_SQLITE_COUNTS_SQL = _sqlite_upsert_sql(rollup_counts.name, ROLLUP_COUNTS_KEY, _COUNT_VALUES)


async def _upsert_sqlite(
    conn: AsyncConnection, hist_rows: list[tuple[object, ...]], count_rows: list[tuple[object, ...]]
) -> None:
    for sql, rows in ((_SQLITE_HIST_SQL, hist_rows), (_SQLITE_COUNTS_SQL, count_rows)):
        if rows:
            await conn.exec_driver_sql(sql, rows)
