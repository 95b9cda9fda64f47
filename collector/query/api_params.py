"""The read API's query parameters, declared once so routes read like sentences.

Each parameter's allowed values or range are in its OpenAPI schema; the ``parse_*``
functions of ``params`` check them, so a bad value is a 400 that names the allowed
ones (FastAPI's own 422 stays for a value of the wrong type, such as ``limit=abc``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Query

from collector.query import attribution, distribution
from collector.query.params import (
    ASSIGNED_VALUES,
    BREAKDOWN_DIMENSIONS,
    INTERVALS,
    MAX_LIMIT,
    ORDERS,
    parse_filters,
    parse_metrics,
)
from collector.query.windows import Window, resolve_window
from collector.vitals import DEVICE_CLASSES, METRICS

_ALL_METRICS = "one metric (case-insensitive); all of them when none is named"


def _one_of(values: Sequence[str], *, description: str | None = None, **checks: Any) -> Any:
    """A query parameter OpenAPI lists the allowed values of."""
    return Query(description=description, json_schema_extra={"enum": list(values)}, **checks)


def _within(low: float, high: float | None = None, *, exclusive: bool = False) -> Any:
    """A numeric query parameter OpenAPI gives the range of."""
    bounds: dict[str, float] = {"exclusiveMinimum": low} if exclusive else {"minimum": low}
    if high is not None:
        bounds["exclusiveMaximum" if exclusive else "maximum"] = high
    return Query(json_schema_extra=bounds)


Metric = Annotated[str, _one_of(METRICS, description="the metric (case-insensitive)")]
Interval = Annotated[str, _one_of(tuple(INTERVALS), description="the length of each point")]
Percentile = Annotated[float, _within(0, 100, exclusive=True)]
Dimension = Annotated[str, _one_of(BREAKDOWN_DIMENSIONS, description="what to break down by")]
Order = Annotated[str, _one_of(ORDERS, description="rank by count, or by a percentile")]
AttributionOrder = Annotated[
    str, _one_of(attribution.ORDERS, description="rank by p75, count, or count × p75")
]
Limit = Annotated[int, _within(1, MAX_LIMIT)]
Bins = Annotated[int, _within(distribution.MIN_BINS, distribution.MAX_BINS)]
MinCount = Annotated[int, _within(1)]


@dataclass(frozen=True, slots=True)
class WindowParams:
    """``from`` (ISO time or duration before ``to``) and ``to`` (ISO time, default now)."""

    start: str | None
    end: str | None

    def resolve(self, *, snap: int | None = None) -> Window:
        """The snapped window these values name."""
        return resolve_window(self.start, self.end, now=datetime.now(UTC), snap=snap)


# The parameter dependencies are coroutines: FastAPI runs plain functions in a thread
# pool, a thread hop per dependency and request.
async def window_params(
    start: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=64)] = None,
) -> WindowParams:
    """The window query parameters."""
    return WindowParams(start, end)


async def filter_params(
    page: Annotated[str | None, Query(max_length=512)] = None,
    route: Annotated[str | None, Query(max_length=512)] = None,
    device: Annotated[str | None, _one_of(DEVICE_CLASSES, max_length=16)] = None,
    browser: Annotated[str | None, Query(max_length=64)] = None,
    country: Annotated[str | None, Query(max_length=2)] = None,
    connection: Annotated[str | None, Query(max_length=16)] = None,
    navigation_type: Annotated[
        str | None, _one_of(ASSIGNED_VALUES["navigation_type"], max_length=32)
    ] = None,
) -> dict[str, str]:
    """Dimension filters; they combine."""
    return parse_filters(
        {
            "page": page,
            "route": route,
            "device": device,
            "browser": browser,
            "country": country,
            "connection": connection,
            "navigation_type": navigation_type,
        }
    )


WindowDep = Annotated[WindowParams, Depends(window_params)]
Filters = Annotated[dict[str, str], Depends(filter_params)]
Exact = Annotated[bool, Query(description="compute from raw rows (windows up to 7 days)")]


async def metrics_query(
    window: WindowDep,
    filters: Filters,
    metric: Annotated[str | None, _one_of(METRICS, description=_ALL_METRICS)] = None,
    exact: Exact = False,
) -> dict[str, Any]:
    """The window, metrics (one, or all when none is named), filters and mode of a summary."""
    return {
        "window": window.resolve(),
        "metrics": parse_metrics(metric),
        "filters": filters,
        "exact": exact,
    }


MetricsQuery = Annotated[dict[str, Any], Depends(metrics_query)]
