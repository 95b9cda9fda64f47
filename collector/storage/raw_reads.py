"""Reads of raw events for exact figures over a site's window, and for recent beacons.

Every read goes through the ``(site_id, metric, ts)`` index and selects only the
columns it needs. Dimension filters are equality tests on named columns.

>>> rows = await metric_samples(
...     conn, site_id=1, metrics=["LCP"], start=start, end=end, dimensions={"device": "mobile"}
... )
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Row, Select, and_, desc, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.storage.tables import events

DIMENSION_COLUMNS = ("route", "device", "browser", "connection", "navigation_type", "country")


def _where(
    query: Select[tuple[object, ...]],
    *,
    site_id: int,
    metrics: Sequence[str],
    start: datetime,
    end: datetime | None,
    dimensions: Mapping[str, str],
) -> Select[tuple[object, ...]]:
    unknown = set(dimensions) - set(DIMENSION_COLUMNS)
    if unknown:
        raise ValueError(f"not a dimension: {sorted(unknown)}")
    conditions = [
        events.c.site_id == site_id,
        events.c.metric.in_(metrics),
        events.c.ts >= start,
        *(events.c[name] == value for name, value in dimensions.items()),
    ]
    if end is not None:
        conditions.append(events.c.ts < end)
    return query.where(and_(*conditions))


async def metric_samples(
    conn: AsyncConnection,
    *,
    site_id: int,
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
    dimensions: Mapping[str, str],
) -> Sequence[Row[tuple[str, datetime, float, str, str]]]:
    """``(metric, ts, value, route, device)`` of every sample of ``metrics`` in the window."""
    query = select(events.c.metric, events.c.ts, events.c.value, events.c.route, events.c.device)
    filtered = _where(
        query, site_id=site_id, metrics=metrics, start=start, end=end, dimensions=dimensions
    )
    return (await conn.execute(filtered)).all()  # type: ignore[return-value]


async def attributed_samples(
    conn: AsyncConnection,
    *,
    site_id: int,
    metric: str,
    start: datetime,
    end: datetime,
    dimensions: Mapping[str, str],
) -> Sequence[Row[tuple[float, object]]]:
    """``(value, attribution)`` of the samples of ``metric`` that carry an attribution."""
    query = select(events.c.value, events.c.attribution)
    filtered = _where(
        query, site_id=site_id, metrics=(metric,), start=start, end=end, dimensions=dimensions
    ).where(events.c.attribution.is_not(None))
    return (await conn.execute(filtered)).all()  # type: ignore[return-value]


async def recent_events(
    conn: AsyncConnection, *, site_id: int, metrics: Sequence[str], since: datetime, limit: int
) -> Sequence[Row[tuple[object, ...]]]:
    """The newest ``limit`` events of a site since ``since``, newest first."""
    query = (
        select(
            events.c.ts,
            events.c.metric,
            events.c.value,
            events.c.rating,
            events.c.page_path,
            events.c.route,
            events.c.device,
            events.c.browser,
            events.c.connection,
        )
        .where(
            events.c.site_id == site_id,
            events.c.metric.in_(metrics),
            events.c.ts >= since,
        )
        .order_by(desc(events.c.ts))
        .limit(limit)
    )
    return (await conn.execute(query)).all()


async def dimension_values(
    conn: AsyncConnection,
    *,
    site_id: int,
    metric: str,
    column: str,
    start: datetime,
    end: datetime,
    limit: int,
) -> list[str]:
    """The most frequent values of one dimension among a site's samples of ``metric``."""
    if column not in DIMENSION_COLUMNS:
        raise ValueError(f"not a dimension: {column}")
    dimension = events.c[column]
    query = (
        select(dimension)
        .where(
            events.c.site_id == site_id,
            events.c.metric == metric,
            events.c.ts >= start,
            events.c.ts < end,
            dimension.is_not(None),
        )
        .group_by(dimension)
        .order_by(desc(func.count()))
        .limit(limit)
    )
    return [str(value) for value in (await conn.execute(query)).scalars()]


async def has_samples(
    conn: AsyncConnection, *, site_id: int, since: datetime, dimensions: Mapping[str, str]
) -> bool:
    """Whether a site has any sample matching ``dimensions`` since ``since``."""
    query = select(events.c.ts).limit(1)
    filtered = _where(
        query,
        site_id=site_id,
        metrics=("LCP", "INP", "CLS", "FCP", "TTFB"),
        start=since,
        end=None,
        dimensions=dimensions,
    )
    return (await conn.execute(filtered)).first() is not None


async def count_samples(
    conn: AsyncConnection,
    *,
    site_id: int,
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
    dimensions: Mapping[str, str],
) -> int:
    """How many samples of ``metrics`` match, in ``[start, end)``."""
    query = select(func.count())
    filtered = _where(
        query, site_id=site_id, metrics=metrics, start=start, end=end, dimensions=dimensions
    ).select_from(events)
    return int((await conn.execute(filtered)).scalar_one())
