"""The SQL of reads: rollup statements per dialect and shape, with the raw tail, and raw filters.

A statement's result has one row per group, its columns named: ``metric``, ``grp`` (the
grouping dimension's value) and ``slot`` (the interval's start) when it has them, the
counts ``count``, ``good``, ``needs_improvement`` and ``poor``, and ``histogram`` when
histograms are asked for. Every value a statement compares with is bound
(``values_of``), so a statement is built once per shape and reused.

>>> shape = shape_of(selection, "postgresql", grains=(86400,), histograms=True)
>>> rows = await conn.execute(rollup_statement(shape), {**values_of(selection, ranges), "level": 0})
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    CompoundSelect,
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
from sqlalchemy.sql.elements import ColumnClause, ColumnElement

from collector.query.levels import PeriodRange, cover, grains_of
from collector.query.packed import SENT_HEADER, sql_pack_expression
from collector.query.rollups import WATERMARK_ID
from collector.query.selection import Selection
from collector.query.sketch import sql_bucket_expression, sql_rating_expression
from collector.query.timeutil import epoch_seconds
from collector.storage.tables import events, rollup_watermark, rollups
from collector.vitals import GOOD_CODE, NEEDS_IMPROVEMENT_CODE, POOR_CODE

COUNT_COLUMNS: Final = ("count", "good", "needs_improvement", "poor")

# Hourly and multi-day rows keep their histogram also as PostgreSQL sends it (migration
# 0014). Not in ``tables.rollups``: SQLite has no such column.
_STORED_SENT = literal_column("rollups.histogram_sent", LargeBinary)


@dataclass(frozen=True, slots=True)
class Shape:
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


def shape_of(selection: Selection, dialect: str, **rollup_parts: Any) -> Shape:
    """The shape of the statements reading ``selection`` on ``dialect``."""
    return Shape(
        dialect,
        tuple(selection.filters),
        selection.group_by,
        selection.interval,
        selection.only_groups is not None and selection.group_by is not None,
        **rollup_parts,
    )


def period_ranges(selection: Selection, level: int, watermark: datetime) -> list[PeriodRange]:
    """The rollup periods covering the selection's window, given how far rollups got."""
    window = selection.window
    grains = grains_of(level, interval=selection.interval)
    return cover(
        window.start_seconds,
        window.end_seconds,
        grains=grains,
        complete_before=epoch_seconds(watermark),
    )


def values_of(selection: Selection, ranges: Sequence[PeriodRange] = ()) -> dict[str, Any]:
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


def dimension_value(column: ColumnElement[Any], dimension: str) -> ColumnElement[Any]:
    """A raw row's value of ``dimension`` as rollups keep it."""
    # Unknown countries are NULL in raw rows and '' in rollups.
    return func.coalesce(column, "") if dimension == "country" else column


def raw_where(shape: Shape, *, tail: bool) -> list[ColumnElement[bool]]:
    """The raw rows of the window (only those past the watermark, for the ``tail``)."""
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
        dimension_value(events.c[d], d) == bindparam(f"filter_{d}") for d in shape.filters
    ]
    if shape.only_groups and shape.group_by is not None:
        column = dimension_value(events.c[shape.group_by], shape.group_by)
        conditions.append(column.in_(bindparam("groups", expanding=True)))
    return conditions


@lru_cache(maxsize=512)
def rollup_statement(shape: Shape) -> Select[Any]:
    """The statement reading rollups of this shape (and the raw tail, if it has one)."""
    if shape.top:
        return _with_top_histograms(shape)
    found = _found(shape, histograms=shape.histograms).subquery("found")
    totals = _totals(found, shape)
    return totals.add_columns(_concatenated(found, shape.dialect)) if shape.histograms else totals


def _rollup_where(shape: Shape) -> list[ColumnElement[bool]]:
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


def _group_columns(table: Any, shape: Shape, *, raw: bool) -> list[ColumnElement[Any]]:
    columns: list[ColumnElement[Any]] = [table.c.metric.label("metric")]
    if shape.group_by is not None:
        column = table.c[shape.group_by]
        if raw:
            column = dimension_value(column, shape.group_by)
        columns.append(column.label("grp"))
    if shape.interval is not None:
        size = shape.interval
        if raw:
            seconds = f"(floor(extract(epoch FROM {table.name}.ts))::bigint / {size}) * {size}"
            columns.append(literal_column(seconds).label("slot"))
        else:
            columns.append((table.c.period - table.c.period.op("%")(size)).label("slot"))
    return columns


def _found(shape: Shape, *, histograms: bool) -> Select[Any] | CompoundSelect[Any]:
    """The rollup rows of the selection, and the raw tail's shaped like them, if it has one."""
    rolled = select(
        *_group_columns(rollups, shape, raw=False),
        *(rollups.c[name].label(name) for name in COUNT_COLUMNS),
        *(
            _histogram_columns(rollups.c.histogram, shape.dialect, sent=_STORED_SENT)
            if histograms
            else []
        ),
    ).where(*_rollup_where(shape))
    if shape.tail:
        return union_all(rolled, _tail(shape, histograms=histograms))
    return rolled


def _totals(found: Any, shape: Shape) -> Select[Any]:
    """Each group's counts added up: Python gets one row per group, however many periods."""
    groups = [found.c[column.name] for column in _group_columns(rollups, shape, raw=False)]
    total = cast(func.sum(found.c["count"]), BigInteger)
    return (
        select(
            *groups,
            total.label("count"),
            *(cast(func.sum(found.c[name]), BigInteger).label(name) for name in COUNT_COLUMNS[1:]),
        )
        .group_by(*groups)
        .having(total > 0)
    )


def _with_top_histograms(shape: Shape) -> Select[Any]:
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


def _tail(shape: Shape, *, histograms: bool) -> Select[Any]:
    """Raw rows past the watermark, shaped like rollup rows (PostgreSQL only)."""
    groups = _group_columns(events, shape, raw=True)
    rating: ColumnClause[Any] = literal_column(
        sql_rating_expression("events.value", "events.metric")
    )
    bucket: ColumnClause[Any] = literal_column(
        sql_bucket_expression("events.value", "events.metric")
    )
    per_bucket = (
        select(
            *groups,
            bucket.label("bucket"),
            func.count().label("count"),
            func.sum(case((rating == GOOD_CODE, 1), else_=0)).label("good"),
            func.sum(case((rating == NEEDS_IMPROVEMENT_CODE, 1), else_=0)).label(
                "needs_improvement"
            ),
            func.sum(case((rating == POOR_CODE, 1), else_=0)).label("poor"),
        )
        .where(*raw_where(shape, tail=True))
        .group_by(*groups, bucket)
        .subquery("per_bucket")
    )
    names = [column.name for column in groups]
    packed: ColumnClause[Any] = literal_column(
        sql_pack_expression("per_bucket.bucket", "per_bucket.count")
    )
    histogram = func.array_agg(aggregate_order_by(packed, per_bucket.c.bucket))
    return select(
        *(per_bucket.c[name] for name in names),
        *(func.sum(per_bucket.c[name]).label(name) for name in COUNT_COLUMNS),
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
