"""Reading counts and percentiles for a selection, from rollups or (exactly) from raw rows.

Rollups answer any window made of whole periods: the rolled-up part comes from the
rollup tables and, on PostgreSQL, the few seconds the roller has not reached yet come
from raw rows through the same bucket mapping, all in one statement (one snapshot).
Exact mode reads every raw value of the window and uses the same nearest-rank
percentile definition, so the two can be compared.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np
from sqlalchemy import (
    BigInteger,
    Integer,
    LargeBinary,
    Select,
    Text,
    and_,
    bindparam,
    case,
    cast,
    collate,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from collector.query.levels import PeriodRange, cover, grains_of
from collector.query.packed import SENT_HEADER, entries_of, sql_pack_expression, unpack
from collector.query.rollups import WATERMARK_ID, Cell, read_watermark
from collector.query.sketch import (
    GOOD,
    NEEDS_IMPROVEMENT,
    POOR,
    BucketCounts,
    BucketMapping,
    mapping_for,
    nearest_rank,
    percentiles_of_groups,
    rating_of,
    sql_bucket_expression,
    sql_rating_expression,
)
from collector.query.timeutil import epoch_seconds
from collector.query.windows import Window
from collector.storage.db import stream_in_chunks
from collector.storage.tables import events, rollup_watermark, rollups

GroupKey = tuple[str, str | None, int | None]
"""(metric, value of the grouping dimension or None, interval start in epoch seconds or None)."""

Percentiles = dict[float, float | None]


@dataclass(slots=True)
class Tally:
    """Exact counts of observations: all of them and per rating."""

    count: int = 0
    good: int = 0
    needs_improvement: int = 0
    poor: int = 0


@dataclass(frozen=True, slots=True)
class Selection:
    """Which observations to aggregate, and how to group them."""

    site_id: int
    metrics: tuple[str, ...]
    window: Window
    filters: Mapping[str, str] = field(default_factory=dict)
    group_by: str | None = None
    interval: int | None = None
    only_groups: tuple[str, ...] | None = None

    def restricted_to(self, groups: Sequence[str]) -> Selection:
        """The same selection, keeping only the given values of the grouping dimension."""
        return replace(self, only_groups=tuple(groups))


# ---- rollups ------------------------------------------------------------------------------

# Hourly and multi-day rows keep their histogram also as PostgreSQL sends it (migration
# 0014). Not in ``tables.rollups``: SQLite has no such column.
_STORED_SENT = literal_column("rollups.histogram_sent", LargeBinary)


def _period_ranges(selection: Selection, level: int, watermark: datetime) -> list[PeriodRange]:
    window = selection.window
    grains = grains_of(level, interval=selection.interval)
    return cover(
        window.start_seconds,
        window.end_seconds,
        grains=grains,
        complete_before=epoch_seconds(watermark),
    )


def _dimension_value(column: ColumnElement[Any], dimension: str) -> ColumnElement[Any]:
    # Unknown countries are NULL in raw rows and '' in rollups.
    return func.coalesce(column, "") if dimension == "country" else column


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a read's statement is made of; every value it compares with is bound.

    Building a statement and its cache key with SQLAlchemy cost a few milliseconds per
    call, as much as running it: statements are built once per shape and reused.
    """

    dialect: str
    filters: tuple[str, ...]
    group_by: str | None
    interval: int | None
    only_groups: bool
    grains: tuple[int, ...] = ()  # the grain of each range of rollup periods, in order
    tail: bool = False
    histograms: bool = False
    top: bool = False  # histograms only of the groups ranked first by count


def _shape_of(selection: Selection, dialect: str, **rollup_parts: Any) -> _Shape:
    return _Shape(
        dialect,
        tuple(selection.filters),
        selection.group_by,
        selection.interval,
        selection.only_groups is not None and selection.group_by is not None,
        **rollup_parts,
    )


def _values_of(selection: Selection, ranges: Sequence[PeriodRange] = ()) -> dict[str, Any]:
    """The values bound into a statement of the selection's shape."""
    values: dict[str, Any] = {
        "site_id": selection.site_id,
        "metrics": list(selection.metrics),
        "window_start": selection.window.start,
        "window_end": selection.window.end,
        **{f"filter_{dimension}": value for dimension, value in selection.filters.items()},
    }
    if selection.only_groups is not None:
        values["groups"] = list(selection.only_groups)
    for i, period_range in enumerate(ranges):
        values[f"start_{i}"] = period_range.start
        values[f"end_{i}"] = period_range.end
    return values


def _rollup_where(shape: _Shape) -> list[ColumnElement[bool]]:
    periods = rollups.c.period
    conditions: list[ColumnElement[bool]] = [
        rollups.c.site_id == bindparam("site_id"),
        rollups.c.metric.in_(bindparam("metrics", expanding=True)),
        rollups.c.level == bindparam("level"),
        or_(
            *(
                and_(
                    rollups.c.grain == grain,
                    periods >= bindparam(f"start_{i}"),
                    periods < bindparam(f"end_{i}"),
                )
                for i, grain in enumerate(shape.grains)
            )
        ),
    ]
    conditions += [rollups.c[d] == bindparam(f"filter_{d}") for d in shape.filters]
    if shape.only_groups and shape.group_by is not None:
        # Compared as an expression, the groups filter the few rows the window's range of
        # the index finds; as a column, PostgreSQL searched the index once per group and
        # period range, about twice as slow for a top 10 (bench/README.md).
        column = rollups.c[shape.group_by].concat("")
        conditions.append(column.in_(bindparam("groups", expanding=True)))
    return conditions


def _raw_where(shape: _Shape, *, tail: bool) -> list[ColumnElement[bool]]:
    start: ColumnElement[Any] = bindparam("window_start", type_=events.c.ts.type)
    if tail:
        watermark = (
            select(rollup_watermark.c.rolled_before)
            .where(rollup_watermark.c.id == WATERMARK_ID)
            .scalar_subquery()
        )
        start = func.greatest(start, watermark)
    conditions: list[ColumnElement[bool]] = [
        events.c.site_id == bindparam("site_id"),
        events.c.metric.in_(bindparam("metrics", expanding=True)),
        events.c.ts >= start,
        events.c.ts < bindparam("window_end", type_=events.c.ts.type),
    ]
    conditions += [
        _dimension_value(events.c[d], d) == bindparam(f"filter_{d}") for d in shape.filters
    ]
    if shape.only_groups and shape.group_by is not None:
        column = _dimension_value(events.c[shape.group_by], shape.group_by)
        conditions.append(column.in_(bindparam("groups", expanding=True)))
    return conditions


def _group_columns(table: Any, shape: _Shape, *, raw: bool) -> list[ColumnElement[Any]]:
    columns: list[ColumnElement[Any]] = [table.c.metric.label("metric")]
    if shape.group_by is not None:
        column = table.c[shape.group_by]
        if raw:
            column = _dimension_value(column, shape.group_by)
        columns.append(column.label("grp"))
    if shape.interval is not None:
        size = shape.interval
        if raw:
            seconds = f"(floor(extract(epoch FROM {table.name}.ts))::bigint / {size}) * {size}"
            columns.append(literal_column(seconds).label("slot"))
        else:
            columns.append((table.c.period - table.c.period.op("%")(size)).label("slot"))
    return columns


# The newest watermark read through each engine. The watermark only moves forward, so a
# window ending before it needs no second look (and no round trip to the database).
_rolled_before: WeakKeyDictionary[Engine, datetime] = WeakKeyDictionary()


async def _known_watermark(conn: AsyncConnection, window: Window) -> datetime:
    """The watermark, or an earlier one this process read when that covers the window.

    The watermark only moves forward: once it passed the window's end, every row of the
    window is in the rollups, and a later snapshot sees them there.
    """
    known = _rolled_before.get(conn.sync_engine)
    if known is not None and known >= window.end:
        return known
    watermark = await read_watermark(conn, lock=False)
    _rolled_before[conn.sync_engine] = watermark if known is None else max(known, watermark)
    return watermark


_COUNT_COLUMNS = ("count", "good", "needs_improvement", "poor")


@dataclass(slots=True)
class _Rows:
    """What the rollup rows of each group add up to, their histograms not yet merged."""

    tallies: dict[GroupKey, Tally] = field(default_factory=dict)
    # Each group's histograms, concatenated (see ``_concatenated``).
    histograms: dict[GroupKey, bytes | str] = field(default_factory=dict)


async def _read_rollups(
    conn: AsyncConnection,
    selection: Selection,
    level: int,
    *,
    histograms: bool,
    top: int | None = None,
) -> _Rows:
    """Counts (and histograms, if asked) per group, in one statement, one row per group.

    With ``top``, histograms come only for that many groups, the most observed first
    (ties by group value, in code point order). On PostgreSQL the raw rows the roller
    has not reached yet are added, read in the same snapshot as the rollups, so every
    observation is counted exactly once.
    """
    dialect = conn.dialect.name
    watermark = await _known_watermark(conn, selection.window)
    ranges = _period_ranges(selection, level, watermark)
    shape = _shape_of(
        selection,
        dialect,
        grains=tuple(period_range.grain for period_range in ranges),
        tail=dialect == "postgresql" and watermark < selection.window.end,
        histograms=histograms,
        top=top is not None,
    )
    values = {**_values_of(selection, ranges), "level": level}
    if top is not None:
        values["limit"] = top
    result = await conn.execute(_rollup_statement(shape), values)
    # Rows are read by position, as the statement lays them out: the group's metric,
    # value and slot (those it has), the four counts, the histograms (if asked).
    grouped, sliced = shape.group_by is not None, shape.interval is not None
    counts_at = 1 + grouped + sliced
    found = _Rows()
    for row in result:
        key = (row[0], row[1] if grouped else None, int(row[counts_at - 1]) if sliced else None)
        found.tallies[key] = Tally(*row[counts_at : counts_at + 4])
        if histograms and row[counts_at + 4] is not None:
            found.histograms[key] = row[counts_at + 4]
    return found


@lru_cache(maxsize=512)
def _rollup_statement(shape: _Shape) -> Select[Any]:
    """The statement reading rollups of this shape (and the raw tail, if it has one)."""
    if shape.top:
        return _with_top_histograms(shape)
    found = _found(shape, histograms=shape.histograms).subquery("found")
    totals = _totals(found, shape)
    return totals.add_columns(_concatenated(found, shape.dialect)) if shape.histograms else totals


def _found(shape: _Shape, *, histograms: bool) -> Select[Any]:
    """The rollup rows of the selection, and the raw tail's shaped like them, if it has one."""
    rolled = select(
        *_group_columns(rollups, shape, raw=False),
        *(rollups.c[name].label(name) for name in _COUNT_COLUMNS),
        *(
            _histogram_columns(rollups.c.histogram, shape.dialect, sent=_STORED_SENT)
            if histograms
            else []
        ),
    ).where(*_rollup_where(shape))
    if shape.tail:
        return union_all(rolled, _tail(shape, histograms=histograms))  # type: ignore[return-value]
    return rolled


def _totals(found: Any, shape: _Shape) -> Select[Any]:
    """Each group's counts added up: Python gets one row per group, however many periods."""
    groups = [found.c[column.name] for column in _group_columns(rollups, shape, raw=False)]
    total = cast(func.sum(found.c["count"]), BigInteger)
    return (
        select(
            *groups,
            total.label("count"),
            *(cast(func.sum(found.c[name]), BigInteger).label(name) for name in _COUNT_COLUMNS[1:]),
        )
        .group_by(*groups)
        .having(total > 0)
    )


def _with_top_histograms(shape: _Shape) -> Select[Any]:
    """Every group's counts, and the histograms of the ``limit`` most observed groups.

    Ranked as ``service._ranked_by_count`` ranks (count, then the group value in code
    point order: PostgreSQL's "C" collation, SQLite's BINARY), so histograms are read
    only for the groups that will be shown. The counts are taken from rows without
    their histograms: carried through the ranking, every row's histogram was copied
    and most of them thrown away, about a third of the statement's time. The raw tail,
    if any, is read twice, for the counts and for the histograms, in the same snapshot.
    """
    counted = _totals(_found(shape, histograms=False).subquery("found"), shape).cte("counted")
    binary = "C" if shape.dialect == "postgresql" else "BINARY"
    first = (
        select(counted.c.metric, counted.c.grp)
        .order_by(counted.c["count"].desc(), collate(counted.c.grp, binary))
        .limit(bindparam("limit", type_=Integer))
        .subquery("first")
    )
    found = _found(shape, histograms=True).subquery("found_histograms")
    # Compared as an expression, as in ``_rollup_where``: PostgreSQL filters the rows
    # the window's range finds instead of searching the index once per group.
    same_group = and_(found.c.metric == first.c.metric, found.c.grp.concat("") == first.c.grp)
    shown = (
        select(found.c.metric, found.c.grp, _concatenated(found, shape.dialect))
        .select_from(found.join(first, same_group))
        .group_by(found.c.metric, found.c.grp)
        .subquery("shown")
    )
    return select(counted, shown.c.histogram).select_from(
        counted.outerjoin(
            shown, and_(counted.c.metric == shown.c.metric, counted.c.grp == shown.c.grp)
        )
    )


async def rollup_cells(
    conn: AsyncConnection, selection: Selection, level: int
) -> dict[GroupKey, Cell]:
    """Merged counts and histograms per group (for callers that need the buckets)."""
    found = await _read_rollups(conn, selection, level, histograms=True)
    # Owners index the groups whose histograms were read, not every group counted.
    keys = list(found.histograms)
    owners, buckets, counts = _bucket_counts(list(found.histograms.values()))
    merged: dict[GroupKey, dict[int, int]] = {key: {} for key in found.tallies}
    for owner, bucket, n in zip(owners.tolist(), buckets.tolist(), counts.tolist(), strict=True):
        histogram = merged[keys[owner]]
        histogram[bucket] = histogram.get(bucket, 0) + int(n)
    return {
        key: Cell(tally.count, tally.good, tally.needs_improvement, tally.poor, merged[key])
        for key, tally in found.tallies.items()
    }


def _tail(shape: _Shape, *, histograms: bool) -> Select[Any]:
    """Raw rows past the watermark, shaped like rollup rows (PostgreSQL only)."""
    groups = _group_columns(events, shape, raw=True)
    rating = literal_column(sql_rating_expression("events.value", "events.metric"))
    bucket = literal_column(sql_bucket_expression("events.value", "events.metric"))
    per_bucket = (
        select(
            *groups,
            bucket.label("bucket"),
            func.count().label("count"),
            func.sum(case((rating == GOOD, 1), else_=0)).label("good"),
            func.sum(case((rating == NEEDS_IMPROVEMENT, 1), else_=0)).label("needs_improvement"),
            func.sum(case((rating == POOR, 1), else_=0)).label("poor"),
        )
        .where(*_raw_where(shape, tail=True))
        .group_by(*groups, bucket)
        .subquery("per_bucket")
    )
    names = [column.name for column in groups]
    packed = literal_column(sql_pack_expression("per_bucket.bucket", "per_bucket.count"))
    histogram = func.array_agg(aggregate_order_by(packed, per_bucket.c.bucket))
    return select(
        *(per_bucket.c[name] for name in names),
        *(func.sum(per_bucket.c[name]).label(name) for name in _COUNT_COLUMNS),
        *(_histogram_columns(histogram, shape.dialect) if histograms else []),
    ).group_by(*(per_bucket.c[name] for name in names))


def _histogram_columns(
    histogram: ColumnElement[Any], dialect: str, *, sent: ColumnElement[Any] | None = None
) -> list[ColumnElement[Any]]:
    """A row's histogram as its group's concatenation reads it.

    On PostgreSQL, the packed array and, where the row keeps one, its stored sent form
    (hourly and multi-day rollup rows, migration 0014). Sending happens only in
    ``_concatenated``, so rows whose histograms are not concatenated cost nothing for it.
    """
    if dialect != "postgresql":
        return [cast(histogram, Text).label("histogram")]
    stored = null().cast(LargeBinary) if sent is None else sent
    return [histogram.label("histogram"), stored.label("histogram_sent")]


def _concatenated(found: Any, dialect: str) -> ColumnElement[Any]:
    """All of a group's histograms as one value: merging them is adding their entries.

    On PostgreSQL each array is taken in its binary form without its header, so that a
    group's arrays concatenate into one run of elements (see ``packed.entries_of``).
    """
    if dialect != "postgresql":
        return func.group_concat(found.c.histogram, " ", type_=Text).label("histogram")
    sent = func.substr(func.array_send(found.c.histogram), SENT_HEADER + 1, type_=LargeBinary)
    histogram = func.coalesce(found.c.histogram_sent, sent, type_=LargeBinary)
    return func.string_agg(histogram, literal(b"", LargeBinary), type_=LargeBinary).label(
        "histogram"
    )


async def rollup_top_by_count(
    conn: AsyncConnection,
    selection: Selection,
    level: int,
    limit: int,
    fractions: Sequence[float],
) -> tuple[dict[GroupKey, Tally], dict[GroupKey, Percentiles]]:
    """Counts of every group and percentiles of the ``limit`` most observed, in one statement.

    One round trip and one snapshot: the ranking, the counts and the histograms agree.
    """
    if selection.group_by is None or selection.interval is not None or len(selection.metrics) != 1:
        raise ValueError("a top by count ranks the groups of one metric's dimension")
    found = await _read_rollups(conn, selection, level, histograms=True, top=limit)
    return found.tallies, _percentiles_of(found, fractions)


async def rollup_stats(
    conn: AsyncConnection, selection: Selection, level: int, fractions: Sequence[float]
) -> tuple[dict[GroupKey, Tally], dict[GroupKey, Percentiles]]:
    """Exact counts and percentiles (≤ 1 % relative error) per group, from rollups."""
    found = await _read_rollups(conn, selection, level, histograms=True)
    return found.tallies, _percentiles_of(found, fractions)


def _percentiles_of(found: _Rows, fractions: Sequence[float]) -> dict[GroupKey, Percentiles]:
    """Percentiles of each group whose histograms were read."""
    histograms = _bucket_counts(list(found.histograms.values()))
    return percentiles_of_groups(list(found.histograms), histograms, fractions, _mapping_of)


# SQLite's histograms are JSON objects of integers, {"bucket": count, ...}: with the
# punctuation blanked, numpy reads the numbers in C.
_BLANK_PUNCTUATION = str.maketrans('{}":,', "     ")


def _bucket_counts(histograms: Sequence[bytes | str]) -> BucketCounts:
    """Every (bucket, count) of each group's concatenated histograms, with the group's index.

    Histograms are PostgreSQL's packed array elements as ``array_send`` wrote them, or
    SQLite's JSON text.
    """
    if histograms and isinstance(histograms[0], bytes):
        entries, sizes = entries_of(histograms)  # type: ignore[arg-type]
        buckets, counts = unpack(entries)
    else:
        buckets, counts, sizes = _entries_of_json(histograms)  # type: ignore[arg-type]
    owners = np.repeat(np.arange(len(histograms)), sizes)
    return owners, buckets, counts.astype(np.float64)


def _entries_of_json(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Buckets and counts of JSON histograms, all concatenated, and how many each had."""
    sizes = np.array([text.count(":") for text in texts], np.int64)
    numbers = np.fromstring(" ".join(texts).translate(_BLANK_PUNCTUATION), np.int64, sep=" ")
    if numbers.size != 2 * sizes.sum():
        raise ValueError("a rollup histogram is not a JSON object of integers")
    return numbers[0::2], numbers[1::2], sizes


async def rollup_tallies(
    conn: AsyncConnection, selection: Selection, level: int
) -> dict[GroupKey, Tally]:
    """Exact counts per group from rollups, without reading histograms."""
    return (await _read_rollups(conn, selection, level, histograms=False)).tallies


async def rollup_percentiles(
    conn: AsyncConnection, selection: Selection, level: int, fractions: Sequence[float]
) -> dict[GroupKey, Percentiles]:
    """Percentiles per group from merged histograms (≤ 1 % relative error)."""
    return (await rollup_stats(conn, selection, level, fractions))[1]


def _mapping_of(key: GroupKey) -> BucketMapping:
    return mapping_for(key[0])


# ---- exact, from raw rows -----------------------------------------------------------------


async def exact_stats(
    conn: AsyncConnection, selection: Selection, fractions: Sequence[float]
) -> tuple[dict[GroupKey, Tally], dict[GroupKey, Percentiles]]:
    """Counts and nearest-rank percentiles per group, computed from every raw value."""
    group = selection.group_by
    columns: list[ColumnElement[Any]] = [events.c.metric, events.c.value, events.c.ts]
    if group is not None:
        columns.append(_dimension_value(events.c[group], group).label("grp"))
    shape = _shape_of(selection, conn.dialect.name)
    query = select(*columns).where(*_raw_where(shape, tail=False)).params(_values_of(selection))
    values: dict[GroupKey, array[float]] = defaultdict(lambda: array("d"))
    interval = selection.interval
    async with stream_in_chunks(conn, query) as result:
        async for row in result:
            slot = None
            if interval is not None:
                seconds = epoch_seconds(row.ts)
                slot = seconds - seconds % interval
            key = (row.metric, row.grp if group is not None else None, slot)
            values[key].append(row.value)
    tallies: dict[GroupKey, Tally] = {}
    percentiles: dict[GroupKey, Percentiles] = {}
    for key, observed in values.items():
        ordered = sorted(observed)
        tallies[key] = _tally_of(key[0], ordered)
        percentiles[key] = {
            fraction: ordered[nearest_rank(fraction, len(ordered)) - 1] for fraction in fractions
        }
    return tallies, percentiles


def _tally_of(metric: str, values: Sequence[float]) -> Tally:
    ratings = [0, 0, 0, 0]
    for value in values:
        ratings[rating_of(metric, value)] += 1
    return Tally(len(values), ratings[GOOD], ratings[NEEDS_IMPROVEMENT], ratings[POOR])
