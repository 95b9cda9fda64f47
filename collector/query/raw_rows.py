"""The WHERE clause of a raw-row read: one site, some metrics, a window, dimension filters.

Services that read raw rows (attribution, distributions of uncovered filters, recent
beacons, exports) share it, so a filter means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement

from collector.query.windows import Window
from collector.storage.tables import events


def dimension_value(dimension: str) -> ColumnElement[Any]:
    """The raw column of ``dimension`` as rollups store it (unknown countries are '')."""
    column = events.c[dimension]
    return func.coalesce(column, "") if dimension == "country" else column


def raw_conditions(
    *,
    site_id: int,
    metrics: Sequence[str] | None,
    window: Window,
    filters: Mapping[str, str] | None = None,
) -> list[ColumnElement[bool]]:
    """Conditions selecting a site's rows of ``metrics`` (None: all) in ``window``, filtered."""
    conditions: list[ColumnElement[bool]] = [
        events.c.site_id == site_id,
        events.c.ts >= window.start,
        events.c.ts < window.end,
    ]
    if metrics is not None:
        conditions.append(events.c.metric.in_(metrics))
    conditions += [dimension_value(name) == value for name, value in (filters or {}).items()]
    return conditions
