"""Exact mode: counts and nearest-rank percentiles computed from every raw value of a window.

It uses the same percentile definition as the rollups (``sketch.nearest_rank``), so the
two can be compared; it is for tests and short windows only.

>>> tallies, percentiles = await exact_stats(conn, selection, (0.5, 0.75))
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from collector.query.selection import GroupKey, Percentiles, Selection, Tally
from collector.query.sketch import nearest_rank
from collector.query.statements import dimension_value, raw_where, shape_of, values_of
from collector.query.timeutil import epoch_seconds
from collector.storage.db import stream_in_chunks
from collector.storage.tables import events
from collector.vitals import GOOD_CODE, NEEDS_IMPROVEMENT_CODE, POOR_CODE, rating_code


async def exact_stats(
    conn: AsyncConnection, selection: Selection, fractions: Sequence[float]
) -> tuple[dict[GroupKey, Tally], dict[GroupKey, Percentiles]]:
    """Counts and nearest-rank percentiles per group, computed from every raw value."""
    group = selection.group_by
    columns: list[ColumnElement[Any]] = [events.c.metric, events.c.value, events.c.ts]
    if group is not None:
        columns.append(dimension_value(events.c[group], group).label("grp"))
    shape = shape_of(selection, conn.dialect.name)
    query = select(*columns).where(*raw_where(shape, tail=False)).params(values_of(selection))
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
        ratings[rating_code(metric, value)] += 1
    return Tally(
        len(values), ratings[GOOD_CODE], ratings[NEEDS_IMPROVEMENT_CODE], ratings[POOR_CODE]
    )
