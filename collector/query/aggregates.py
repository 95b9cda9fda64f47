"""Reading counts and percentiles for a selection from rollups, one statement per read.

Rollups answer any window made of whole periods: the rolled-up part comes from the
rollup tables and, on PostgreSQL, the few seconds the roller has not reached yet come
from raw rows through the same bucket mapping, all in one statement (one snapshot).
Exact mode (``exact.exact_stats``) reads every raw value instead, with the same
nearest-rank percentile definition, so the two can be compared.

>>> tallies, percentiles = await rollup_stats(conn, selection, level, (0.75,),
...                                           watermarks=runtime.watermarks)
>>> percentiles[("LCP", None, None)][0.75]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from collector.query.histograms import merged_histograms, percentiles_of
from collector.query.rollups import Cell
from collector.query.selection import GroupKey, Percentiles, Selection, Tally
from collector.query.statements import period_ranges, rollup_statement, shape_of, values_of
from collector.query.watermarks import RollupWatermarks, watermark_for


@dataclass(slots=True)
class _Rows:
    """What the rollup rows of each group add up to, their histograms not yet merged."""

    tallies: dict[GroupKey, Tally] = field(default_factory=dict)
    # Each group's histograms, concatenated (see ``statements._concatenated``).
    histograms: dict[GroupKey, bytes | str] = field(default_factory=dict)


async def rollup_stats(
    conn: AsyncConnection,
    selection: Selection,
    level: int,
    fractions: Sequence[float],
    *,
    watermarks: RollupWatermarks | None = None,
) -> tuple[dict[GroupKey, Tally], dict[GroupKey, Percentiles]]:
    """Exact counts and percentiles (≤ 1 % relative error) per group, from rollups."""
    found = await _read_rollups(conn, selection, level, histograms=True, watermarks=watermarks)
    return found.tallies, percentiles_of(found.histograms, fractions)


async def rollup_top_by_count(
    conn: AsyncConnection,
    selection: Selection,
    level: int,
    limit: int,
    fractions: Sequence[float],
    *,
    watermarks: RollupWatermarks | None = None,
) -> tuple[dict[GroupKey, Tally], dict[GroupKey, Percentiles]]:
    """Counts of every group and percentiles of the ``limit`` most observed, in one statement.

    One round trip and one snapshot: the ranking, the counts and the histograms agree.
    """
    if selection.group_by is None or selection.interval is not None or len(selection.metrics) != 1:
        raise ValueError("a top by count ranks the groups of one metric's dimension")
    found = await _read_rollups(
        conn, selection, level, histograms=True, top=limit, watermarks=watermarks
    )
    return found.tallies, percentiles_of(found.histograms, fractions)


async def rollup_tallies(
    conn: AsyncConnection,
    selection: Selection,
    level: int,
    *,
    watermarks: RollupWatermarks | None = None,
) -> dict[GroupKey, Tally]:
    """Exact counts per group from rollups, without reading histograms."""
    found = await _read_rollups(conn, selection, level, histograms=False, watermarks=watermarks)
    return found.tallies


async def rollup_percentiles(
    conn: AsyncConnection,
    selection: Selection,
    level: int,
    fractions: Sequence[float],
    *,
    watermarks: RollupWatermarks | None = None,
) -> dict[GroupKey, Percentiles]:
    """Percentiles per group from merged histograms (≤ 1 % relative error)."""
    return (await rollup_stats(conn, selection, level, fractions, watermarks=watermarks))[1]


async def rollup_cells(
    conn: AsyncConnection,
    selection: Selection,
    level: int,
    *,
    watermarks: RollupWatermarks | None = None,
) -> dict[GroupKey, Cell]:
    """Merged counts and histograms per group (for callers that need the buckets)."""
    found = await _read_rollups(conn, selection, level, histograms=True, watermarks=watermarks)
    merged = merged_histograms(found.histograms, found.tallies)
    return {
        key: Cell(tally.count, tally.good, tally.needs_improvement, tally.poor, merged[key])
        for key, tally in found.tallies.items()
    }


async def _read_rollups(
    conn: AsyncConnection,
    selection: Selection,
    level: int,
    *,
    histograms: bool,
    top: int | None = None,
    watermarks: RollupWatermarks | None,
) -> _Rows:
    """Counts (and histograms, if asked) per group, in one statement, one row per group.

    With ``top``, histograms come only for that many groups, the most observed first
    (ties by group value, in code point order). On PostgreSQL the raw rows the roller
    has not reached yet are added, read in the same snapshot as the rollups, so every
    observation is counted exactly once.
    """
    dialect = conn.dialect.name
    watermark = await watermark_for(conn, selection.window, watermarks)
    ranges = period_ranges(selection, level, watermark)
    shape = shape_of(
        selection,
        dialect,
        grains=tuple(period_range.grain for period_range in ranges),
        tail=dialect == "postgresql" and watermark < selection.window.end,
        histograms=histograms,
        top=top is not None,
    )
    values = {**values_of(selection, ranges), "level": level}
    if top is not None:
        values["limit"] = top
    result = await conn.execute(rollup_statement(shape), values)
    grouped, sliced = shape.group_by is not None, shape.interval is not None
    found = _Rows()
    for row in result.mappings():
        key = (row["metric"], row["grp"] if grouped else None, int(row["slot"]) if sliced else None)
        found.tallies[key] = Tally(row["count"], row["good"], row["needs_improvement"], row["poor"])
        if histograms and (histogram := row["histogram"]) is not None:
            found.histograms[key] = histogram
    return found
