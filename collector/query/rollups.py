"""The rollup accumulator the ingest writer feeds inside each batch transaction.

Why the hot path does almost nothing: one beacon fans out to 8 levels and up to 2 grains
of rollup cells, and a batch of a few thousand metrics touches tens of thousands of
distinct cells, so upserting them per batch costs far more than the raw COPY (measured
in bench/README.md). Instead, on PostgreSQL the roller (``roller.py``) rolls raw
events up in SQL every few seconds, once many batches have collapsed onto the same
cells, and moves a watermark: events with ``ts`` before ``rolled_before`` are in the
rollups. Nothing is lost in a crash, because the roller's pass and its watermark
commit together, and a pass that did not commit is simply redone from the raw table.

Why a batch needs no lock: the roller never rolls events younger than ``ROLL_LAG``,
and events are stamped with the time the collector received them. A batch whose
records are all younger than ``FRESH_FOR`` when it is about to commit therefore lies
ahead of every watermark a concurrent pass can set, so the pass that later reaches it
sees it committed: the batch does nothing here. ``ROLL_LAG - FRESH_FOR`` is the margin
for the time between that check and the commit, and for clock skew between collectors.

Only the rare batch holding older records (a replayed spool, a re-report of a metric
id first stored long ago) takes the slow path: it reads the watermark ``FOR SHARE``,
which orders it before or after any concurrent pass, and applies in its own
transaction the records the roller will never see, those behind the watermark. On
SQLite the watermark sits at the end of time, so every record is applied here.

    accumulator = RollupAccumulator()
    accumulator.add(record)                 # a first report
    accumulator.replace(earlier, record)    # a re-report: the raw row now holds ``record``
    await accumulator.flush(conn)           # inside the batch transaction, before commit

``roll_up_batch`` does exactly that as the ingest writer's batch hook, and
``batch_needs_rollups`` tells the writer beforehand whether the hook has anything to do:
a batch of fresh first reports it does not need is then written without a transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from operator import attrgetter

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.query.levels import (
    ALL,
    COMPACTED_GRAINS,
    DIMENSIONS,
    GRAINS,
    LEVEL_GRAINS,
    LEVELS,
    dimensions_of,
)
from collector.query.packed import literal_of
from collector.query.sketch import mapping_for
from collector.query.timeutil import epoch_seconds
from collector.storage.records import EventRecord
from collector.storage.tables import ROLLUP_KEY, rollup_watermark
from collector.vitals import GOOD_CODE, NEEDS_IMPROVEMENT_CODE, POOR_CODE, rating_code

WATERMARK_ID = 1
# The roller leaves events younger than ROLL_LAG alone; batches whose records are all
# younger than FRESH_FOR need no rollup work of their own (see the module docstring).
ROLL_LAG = timedelta(seconds=30)
FRESH_FOR = timedelta(seconds=15)
_encode = msgspec.json.Encoder().encode
_TIMESTAMP = attrgetter("ts")
_KEEPS: tuple[tuple[int, tuple[bool, ...], tuple[int, ...]], ...] = tuple(
    (
        level,
        tuple(dimension in dimensions_of(level) for dimension in DIMENSIONS),
        LEVEL_GRAINS[level],
    )
    for level in LEVELS
)

Cells = dict[tuple[object, ...], "Cell"]


@dataclass(slots=True)
class Cell:
    """What one rollup row adds: counts per rating and a bucket histogram."""

    count: int = 0
    good: int = 0
    needs_improvement: int = 0
    poor: int = 0
    histogram: dict[int, int] = field(default_factory=dict)

    def add(self, bucket: int, rating: int, n: int) -> None:
        """Count ``n`` observations (negative to remove) in ``bucket`` with ``rating``."""
        self.count += n
        if rating == GOOD_CODE:
            self.good += n
        elif rating == NEEDS_IMPROVEMENT_CODE:
            self.needs_improvement += n
        elif rating == POOR_CODE:
            self.poor += n
        self.histogram[bucket] = self.histogram.get(bucket, 0) + n


@dataclass(frozen=True, slots=True)
class FlushResult:
    """What one flush wrote: records applied directly and rollup rows upserted."""

    applied: int = 0
    rows: int = 0


class RollupAccumulator:
    """Collects a batch's records and keeps the rollups exact when the batch commits."""

    __slots__ = ("_fresh_for", "_pending")

    def __init__(self, *, fresh_for: timedelta = FRESH_FOR) -> None:
        self._fresh_for = fresh_for
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
        if conn.dialect.name == "postgresql" and all_fresh(
            (record for _, record in pending), fresh_for=self._fresh_for
        ):
            return FlushResult()
        watermark = await read_watermark(conn, lock=True)
        behind = [(weight, record) for weight, record in pending if record.ts < watermark]
        if not behind:
            return FlushResult()
        rows = await upsert_cells(conn, cells_of(behind, complete_before=epoch_seconds(watermark)))
        return FlushResult(applied=len(behind), rows=rows)


def all_fresh(records: Iterable[EventRecord], *, fresh_for: timedelta = FRESH_FOR) -> bool:
    """Whether no roller pass can have reached any of these records (no lock needed)."""
    oldest = min(map(_TIMESTAMP, records), default=None)
    return oldest is None or datetime.now(UTC) - oldest < fresh_for


async def read_watermark(conn: AsyncConnection, *, lock: bool) -> datetime:
    """Events before the returned time are in the rollups.

    With ``lock`` (PostgreSQL) the row is held ``FOR SHARE`` until the transaction ends,
    so a roller pass runs wholly before or wholly after it.
    """
    query = select(rollup_watermark.c.rolled_before).where(rollup_watermark.c.id == WATERMARK_ID)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    rolled_before: datetime = (await conn.execute(query)).scalar_one()
    return rolled_before


def cells_of(
    weighted: Iterable[tuple[int, EventRecord]], *, complete_before: int | None = None
) -> Cells:
    """The rollup rows weighted records add to, at every level and grain it keeps.

    Compacted (multi-day) rows are included for periods ending by ``complete_before``
    (epoch seconds; the watermark), which the roller compacted already; later ones it
    will compact from the rolled-up rows, these records included.
    """
    # (site, metric, finest period, the six dimensions, bucket, rating) → weight
    finest: dict[tuple[int, str, int, tuple[str, str, str, str, str, str], int, int], int] = (
        defaultdict(int)
    )
    smallest = GRAINS[0]
    for weight, r in weighted:
        seconds = epoch_seconds(r.ts)
        bucket = mapping_for(r.metric).bucket_of(r.value)
        dims = (r.route, r.device, r.browser, r.connection, r.navigation_type, r.country or "")
        period = seconds - seconds % smallest
        rating = rating_code(r.metric, r.value)
        finest[(r.site_id, r.metric, period, dims, bucket, rating)] += weight
    cells: Cells = {}
    for (site_id, metric, period, dims, bucket, rating), n in finest.items():
        if n == 0:
            continue
        compacted = tuple(
            grain
            for grain in COMPACTED_GRAINS
            if complete_before is not None and period - period % grain + grain <= complete_before
        )
        for level, keep, grains in _KEEPS:
            kept = tuple(value if k else ALL for value, k in zip(dims, keep, strict=True))
            for grain in (*grains, *compacted):
                cell_key = (site_id, metric, level, grain, period - period % grain, *kept)
                cell = cells.get(cell_key)
                if cell is None:
                    cell = cells[cell_key] = Cell()
                cell.add(bucket, rating, n)
    return cells


def histogram_json(histogram: dict[int, int]) -> str:
    """A histogram as SQLite stores it: a JSON object of bucket → count, zeros left out."""
    return _encode({str(bucket): n for bucket, n in sorted(histogram.items()) if n}).decode()


async def upsert_cells(conn: AsyncConnection, cells: Cells) -> int:
    """Add cells to the rollups in one statement; returns the rows written.

    Keys are sorted so concurrent writers lock rows in the same order (no deadlocks).
    """
    postgresql = conn.dialect.name == "postgresql"
    histogram_text = literal_of if postgresql else histogram_json
    rows = [
        (
            *key,
            cell.count,
            cell.good,
            cell.needs_improvement,
            cell.poor,
            histogram_text(cell.histogram),
        )
        for key, cell in sorted(cells.items())
    ]
    if not rows:
        return 0
    if postgresql:
        columns = tuple(list(column) for column in zip(*rows, strict=True))
        await conn.exec_driver_sql(_PG_UPSERT_SQL, columns)
    else:
        await conn.exec_driver_sql(_SQLITE_UPSERT_SQL, rows)
    return len(rows)


_COUNT_COLUMNS = ("count", "good", "needs_improvement", "poor")
_ALL_COLUMNS = (*ROLLUP_KEY, *_COUNT_COLUMNS, "histogram")
_PG_TYPES = ("int4", "text", "int2", "int4", "int8", *(["text"] * len(DIMENSIONS)))
_PG_TYPES += ("int8", "int8", "int8", "int8", "text")
_PG_ARRAYS = ", ".join(f"${i + 1}::{kind}[]" for i, kind in enumerate(_PG_TYPES))
_PG_SELECT = ", ".join(
    f"{column}::int8[]" if column == "histogram" else column for column in _ALL_COLUMNS
)
# Names come from constants; every value is bound.
_PG_UPSERT_SQL = (
    f"INSERT INTO rollups ({', '.join(_ALL_COLUMNS)}) "  # noqa: S608
    f"SELECT {_PG_SELECT} FROM unnest({_PG_ARRAYS}) AS u({', '.join(_ALL_COLUMNS)}) "
    f"ON CONFLICT ({', '.join(ROLLUP_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = rollups.{c} + EXCLUDED.{c}" for c in _COUNT_COLUMNS)
    + ", histogram = perfbeacon_merge_histograms(rollups.histogram, EXCLUDED.histogram)"
)
_SQLITE_MERGE = (
    "(SELECT coalesce(json_group_object(key, total), '{}') FROM (SELECT key, sum(value) AS total "
    "FROM (SELECT key, value FROM json_each(rollups.histogram) UNION ALL "
    "SELECT key, value FROM json_each(excluded.histogram)) GROUP BY key HAVING total <> 0))"
)
_SQLITE_UPSERT_SQL = (
    f"INSERT INTO rollups ({', '.join(_ALL_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(_ALL_COLUMNS))}) "
    f"ON CONFLICT ({', '.join(ROLLUP_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = {c} + excluded.{c}" for c in _COUNT_COLUMNS)
    + f", histogram = {_SQLITE_MERGE}"
)


def batch_needs_rollups(
    conn: AsyncConnection,
    inserted: Sequence[EventRecord],
    replaced: Sequence[tuple[EventRecord, EventRecord]],
) -> bool:
    """Whether ``roll_up_batch`` may have anything to write for this batch.

    Asked by the writer right before it writes the batch; not for fresh records on
    PostgreSQL, which the roller will count. The writer then stores them with one COPY
    that commits as it returns, so ``ROLL_LAG - FRESH_FOR`` covers the COPY's own
    duration, as it covers the time between the hook's check and COMMIT otherwise.
    """
    if conn.dialect.name != "postgresql":
        return True
    return not all_fresh(chain(inserted, chain.from_iterable(replaced)))


async def roll_up_batch(
    conn: AsyncConnection,
    inserted: Sequence[EventRecord],
    replaced: Sequence[tuple[EventRecord, EventRecord]],
) -> None:
    """The ingest writer's batch hook: keep rollups exact for one batch, before it commits."""
    accumulator = RollupAccumulator()
    for record in inserted:
        accumulator.add(record)
    for old, new in replaced:
        accumulator.replace(old, new)
    await accumulator.flush(conn)
