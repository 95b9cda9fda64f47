"""Attribution: which elements make a metric bad, per route, from raw rows' attribution.

web-vitals' attribution build names the element behind each report (the LCP
element, the INP interaction target, the CLS largest-shift source) and how the time
splits (LCP sub-parts, INP phases). Those are not rolled up, so this reads raw rows
of a bounded window.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from statistics import median
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from collector.errors import InvalidInput
from collector.query.params import one_of
from collector.query.raw_rows import raw_conditions
from collector.query.schemas import Attribution, AttributionRow
from collector.query.sketch import nearest_rank
from collector.query.windows import SNAP_SLACK, Window
from collector.sites.schemas import Site
from collector.storage.db import stream_in_chunks
from collector.storage.tables import events
from collector.vitals import POOR_CODE, rating_code

ATTRIBUTION_MAX_WINDOW = timedelta(days=7)
# Attribution keys per metric, newest web-vitals name first (v5 renamed LCP's ``element``).
TARGET_KEYS: Mapping[str, tuple[str, ...]] = {
    "LCP": ("target", "element"),
    "INP": ("interactionTarget", "eventTarget"),
    "CLS": ("largestShiftTarget",),
    "FID": ("eventTarget",),
}
# What else a row tells about its element: the most frequent value of one key...
DETAIL_KEYS: Mapping[str, str] = {
    "LCP": "url",
    "INP": "interactionType",
    "CLS": "loadState",
    "FID": "eventType",
}
# ...and the median of each part the value splits into (LCP sub-parts, INP phases).
PART_KEYS: Mapping[str, tuple[str, ...]] = {
    "LCP": ("timeToFirstByte", "resourceLoadDelay", "resourceLoadDuration", "elementRenderDelay"),
    "INP": ("inputDelay", "processingDuration", "presentationDelay"),
    "CLS": ("largestShiftValue",),
    "FID": (),
}
ORDERS = ("p75", "count", "impact")


def target_of(metric: str, attribution: Mapping[str, Any] | None) -> str | None:
    """The element a report is attributed to, or None when the report names none."""
    if not attribution:
        return None
    for key in TARGET_KEYS.get(metric, ()):
        value = attribution.get(key)
        if isinstance(value, str) and value:
            return value[:300]
    return None


def parse_order(text: str) -> str:
    """How to rank attributed elements: worst p75, most reports, or p75 × reports."""
    return one_of(text.strip().lower(), ORDERS, field="order", what="bad order")


@dataclass(slots=True)
class _Culprit:
    """What the reports attributed to one (route, element) pair said."""

    values: array[float] = field(default_factory=lambda: array("d"))
    details: Counter[str] = field(default_factory=Counter)
    parts: dict[str, array[float]] = field(default_factory=lambda: defaultdict(lambda: array("d")))

    def add(self, value: float, detail: str | None, parts: Mapping[str, float | None]) -> None:
        self.values.append(value)
        if detail:
            self.details[detail] += 1
        for key, part in parts.items():
            if part is not None:
                self.parts[key].append(part)

    def row(self, metric: str, route: str, target: str) -> AttributionRow:
        ordered = sorted(self.values)
        poor = sum(1 for value in ordered if rating_code(metric, value) == POOR_CODE)
        common = self.details.most_common(1)
        return AttributionRow(
            route=route,
            target=target,
            count=len(ordered),
            p75=ordered[nearest_rank(0.75, len(ordered)) - 1],
            poor=poor / len(ordered),
            detail=common[0][0] if common else None,
            parts={key: float(median(found)) for key, found in self.parts.items() if found},
        )


def _attributed_columns(metric: str) -> list[ColumnElement[Any]]:
    """The target, the detail and each part, extracted by the database from the JSON.

    Decoding every row's whole attribution document in Python costs far more than
    the database's own JSON path lookups of the few keys needed.
    """
    document = events.c.attribution
    targets = [document[key].as_string() for key in TARGET_KEYS[metric]]
    target = func.coalesce(*targets) if len(targets) > 1 else targets[0]
    detail = document[DETAIL_KEYS[metric]].as_string()
    parts = [document[key].as_float().label(key) for key in PART_KEYS[metric]]
    return [target.label("target"), detail.label("detail"), *parts]


async def attribute(
    *,
    conn: AsyncConnection,
    site: Site,
    window: Window,
    metric: str,
    filters: Mapping[str, str] | None = None,
    limit: int = 10,
    min_count: int = 1,
    order: str = "p75",
) -> Attribution:
    """The ``limit`` worst (route, element) pairs among those seen ``min_count`` times.

    ``order`` ranks them by p75, by count, or by impact (count × p75: what fixing helps
    most). Each pair carries its most frequent detail (LCP resource URL, INP interaction
    type, CLS load state) and the median of each part of the value.
    """
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
    conditions = raw_conditions(site_id=site.id, metrics=(metric,), window=window, filters=filters)
    query = select(events.c.route, events.c.value, *_attributed_columns(metric)).where(
        *conditions, events.c.attribution.is_not(None)
    )
    part_keys = PART_KEYS[metric]
    culprits: dict[tuple[str, str], _Culprit] = defaultdict(_Culprit)
    async with stream_in_chunks(conn, query) as result:
        async for partition in result.partitions():
            for route, value, target, detail, *parts in partition:
                if target:
                    culprits[(route, target[:300])].add(
                        value, detail, dict(zip(part_keys, parts, strict=True))
                    )
    rows = [
        culprit.row(metric, route, target)
        for (route, target), culprit in culprits.items()
        if len(culprit.values) >= min_count
    ]
    rows.sort(key=_RANKINGS[order])
    return Attribution(
        site=site.key,
        start=window.start,
        end=window.end,
        source="raw",
        metric=metric,
        rows=rows[:limit],
    )


_RANKINGS = {
    "p75": lambda r: (-r.p75, -r.count, r.route, r.target),
    "count": lambda r: (-r.count, -r.p75, r.route, r.target),
    "impact": lambda r: (-r.count * r.p75, -r.p75, r.route, r.target),
}
