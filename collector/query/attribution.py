"""Attribution: which elements make a metric bad, per route, from raw rows' attribution.

web-vitals' attribution build names the element behind each report (the LCP
element, the INP interaction target, the CLS largest-shift source). Those names
are not rolled up, so this reads raw rows of a bounded window.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import InvalidInput
from collector.query.schemas import Attribution, AttributionRow
from collector.query.sketch import POOR, nearest_rank, rating_of
from collector.query.windows import SNAP_SLACK, Window
from collector.sites.schemas import Site
from collector.storage.tables import events

ATTRIBUTION_MAX_WINDOW = timedelta(days=7)
# Attribution keys per metric, newest web-vitals name first (v5 renamed LCP's ``element``).
TARGET_KEYS: Mapping[str, tuple[str, ...]] = {
    "LCP": ("target", "element"),
    "INP": ("interactionTarget", "eventTarget"),
    "CLS": ("largestShiftTarget",),
    "FID": ("eventTarget",),
}


def target_of(metric: str, attribution: Mapping[str, Any] | None) -> str | None:
    """The element a report is attributed to, or None when the report names none."""
    if not attribution:
        return None
    for key in TARGET_KEYS.get(metric, ()):
        value = attribution.get(key)
        if isinstance(value, str) and value:
            return value[:300]
    return None


async def attribute(
    *,
    conn: AsyncConnection,
    site: Site,
    window: Window,
    metric: str,
    filters: Mapping[str, str] | None = None,
    limit: int = 10,
    min_count: int = 1,
) -> Attribution:
    """The ``limit`` worst (route, element) pairs by p75 among those seen ``min_count`` times."""
    if metric not in TARGET_KEYS:
        raise InvalidInput(
            f"{metric} reports name no element; allowed: {', '.join(TARGET_KEYS)}",
            details={"field": "metric", "allowed": list(TARGET_KEYS)},
        )
    if window.span > ATTRIBUTION_MAX_WINDOW + SNAP_SLACK:
        raise InvalidInput(
            f"attribution reads raw rows: at most {ATTRIBUTION_MAX_WINDOW.days} days",
            details={"field": "from", "max_days": ATTRIBUTION_MAX_WINDOW.days},
        )
    conditions = [
        events.c.site_id == site.id,
        events.c.metric == metric,
        events.c.ts >= window.start,
        events.c.ts < window.end,
        events.c.attribution.is_not(None),
    ]
    for dimension, value in (filters or {}).items():
        column = events.c[dimension]
        conditions.append(
            (func.coalesce(column, "") if dimension == "country" else column) == value
        )
    query = select(events.c.route, events.c.value, events.c.attribution).where(*conditions)
    values: dict[tuple[str, str], array[float]] = defaultdict(lambda: array("d"))
    async with conn.stream(query.execution_options(yield_per=10_000)) as result:
        async for row in result:
            target = target_of(metric, row.attribution)
            if target is not None:
                values[(row.route, target)].append(row.value)
    rows = []
    for (route, target), observed in values.items():
        if len(observed) < min_count:
            continue
        ordered = sorted(observed)
        poor = sum(1 for value in ordered if rating_of(metric, value) == POOR)
        rows.append(
            AttributionRow(
                route=route,
                target=target,
                count=len(ordered),
                p75=ordered[nearest_rank(0.75, len(ordered)) - 1],
                poor=poor / len(ordered),
            )
        )
    rows.sort(key=lambda row: (-row.p75, -row.count, row.route, row.target))
    return Attribution(
        site=site.key,
        start=window.start,
        end=window.end,
        source="raw",
        metric=metric,
        rows=rows[:limit],
    )
