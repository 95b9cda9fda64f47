"""Validation of query parameters into typed values; each error names the allowed values."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from collector.errors import InvalidInput
from collector.query.levels import DIMENSIONS
from collector.vitals import DEVICE_CLASSES, METRICS, NAVIGATION_TYPES, OTHER_NAVIGATION

# "page" is what people say; pages are grouped into routes (``/product/:id``).
DIMENSION_ALIASES = {"page": "route"}
BREAKDOWN_DIMENSIONS: tuple[str, ...] = ("page", *DIMENSIONS)
INTERVALS: dict[str, int] = {
    "5m": 300,
    "10m": 600,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "3h": 10800,
    "6h": 21600,
    "12h": 43200,
    "1d": 86400,
}
ORDERS: tuple[str, ...] = ("count", "p50", "p75", "p90", "p95", "p99")
# Dimensions whose values perfbeacon assigns itself: any other value is a mistake, which
# would otherwise answer an empty window.
ASSIGNED_VALUES: dict[str, tuple[str, ...]] = {
    "device": DEVICE_CLASSES,
    "navigation_type": (*sorted(NAVIGATION_TYPES), OTHER_NAVIGATION),
}
MAX_LIMIT = 1000


def one_of(value: str, allowed: Sequence[str], *, field: str, what: str) -> str:
    """``value`` when it is in ``allowed``, else InvalidInput naming the allowed values."""
    if value not in allowed:
        raise InvalidInput(
            f"{what} {value[:40]!r}; allowed: {', '.join(allowed)}",
            details={"field": field, "allowed": list(allowed)},
        )
    return value


def parse_metric(name: str) -> str:
    """A metric name (case-insensitive), or InvalidInput naming the known ones."""
    return one_of(name.strip().upper(), METRICS, field="metric", what="unknown metric")


def parse_metrics(name: str | None) -> tuple[str, ...]:
    """One metric, or all of them when none is named."""
    return METRICS if name is None or not name.strip() else (parse_metric(name),)


def parse_dimension(name: str) -> str:
    """A dimension to break down by (``page`` means ``route``)."""
    key = one_of(
        name.strip().lower(), BREAKDOWN_DIMENSIONS, field="by", what="cannot break down by"
    )
    return DIMENSION_ALIASES.get(key, key)


def parse_filters(values: Mapping[str, str | None]) -> dict[str, str]:
    """Dimension filters from query values (``page`` → ``route``); empty values are ignored."""
    filters: dict[str, str] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        dimension = DIMENSION_ALIASES.get(name, name)
        if dimension not in DIMENSIONS:
            raise InvalidInput(
                f"unknown filter {name[:40]!r}; allowed: {', '.join(BREAKDOWN_DIMENSIONS)}",
                details={"field": name, "allowed": list(BREAKDOWN_DIMENSIONS)},
            )
        if dimension in ASSIGNED_VALUES:
            one_of(value, ASSIGNED_VALUES[dimension], field=name, what=f"unknown {name}")
        if dimension in filters and filters[dimension] != value:
            raise InvalidInput(
                "page and route name the same dimension; give one of them",
                details={"field": name},
            )
        filters[dimension] = value
    return filters


def parse_interval(text: str) -> int:
    """A timeseries interval in seconds, from ``5m`` … ``1d``."""
    name = one_of(text.strip().lower(), tuple(INTERVALS), field="interval", what="bad interval")
    return INTERVALS[name]


def parse_percentile(value: float) -> float:
    """A percentile in (0, 100) as a fraction in (0, 1)."""
    if not math.isfinite(value) or not 0 < value < 100:
        raise InvalidInput(
            f"bad percentile {value}; allowed: a number strictly between 0 and 100, such as 75",
            details={"field": "percentile", "allowed": "0 < percentile < 100"},
        )
    return value / 100


def parse_order(text: str) -> str:
    """How to rank breakdown groups: by count, or by a percentile (worst first)."""
    return one_of(text.strip().lower(), ORDERS, field="order", what="bad order")


def parse_min_count(value: int) -> int:
    """How often a culprit must have been seen to be answered: 1 or more."""
    if value < 1:
        raise InvalidInput(
            f"bad min_count {value}; allowed: 1 or more",
            details={"field": "min_count", "allowed": "1.."},
        )
    return value


def parse_limit(value: int) -> int:
    """How many groups to answer, 1 … MAX_LIMIT."""
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidInput(
            f"bad limit {value}; allowed: 1 to {MAX_LIMIT}",
            details={"field": "limit", "allowed": f"1..{MAX_LIMIT}"},
        )
    return value
