"""The Web Vitals vocabulary: metric names and units, thresholds, ratings, devices,
navigation types and the calendar units rollups are cut in.

This is the only module that writes them down; ingest, query, budgets, telemetry, the
demo and the dashboard import them from here. It imports nothing of perfbeacon.

    >>> rate("LCP", 2600.0)
    <Rating.NEEDS_IMPROVEMENT: 'needs-improvement'>
    >>> rating_code("CLS", 0.3)  # the small integer rollups store
    3
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final, Literal

MetricName = Literal["LCP", "INP", "CLS", "FCP", "TTFB", "FID"]

# Every metric a beacon may carry, in the order answers list them. FID left web-vitals
# in v5, but older pages still send it.
METRICS: Final[tuple[MetricName, ...]] = ("LCP", "INP", "CLS", "FCP", "TTFB", "FID")
# The three Core Web Vitals, the ones a page's assessment is made of.
CORE_METRICS: Final[tuple[MetricName, ...]] = ("LCP", "INP", "CLS")
# What today's web-vitals measures: the metrics budgets, gauges and the dashboard show.
CURRENT_METRICS: Final[tuple[MetricName, ...]] = ("LCP", "INP", "CLS", "FCP", "TTFB")
# web-vitals reports these again, with the same id, as the page lives on.
RE_REPORTED_METRICS: Final = frozenset({"CLS", "INP", "LCP"})

# Milliseconds for every metric but CLS, a unitless layout-shift score.
UNITS: Final[Mapping[str, str]] = {
    "LCP": "ms",
    "INP": "ms",
    "CLS": "",
    "FCP": "ms",
    "TTFB": "ms",
    "FID": "ms",
}

# web-vitals' rating thresholds: good up to the first, needs-improvement up to the
# second (both inclusive), poor past it.
THRESHOLDS: Final[Mapping[str, tuple[float, float]]] = {
    "LCP": (2500.0, 4000.0),
    "INP": (200.0, 500.0),
    "CLS": (0.1, 0.25),
    "FCP": (1800.0, 3000.0),
    "TTFB": (800.0, 1800.0),
    "FID": (100.0, 300.0),
}

# Largest believable values: an hour for timings, far past any real layout shift score.
MAX_VALUE: Final[Mapping[str, float]] = {
    "LCP": 3_600_000.0,
    "INP": 3_600_000.0,
    "FCP": 3_600_000.0,
    "TTFB": 3_600_000.0,
    "FID": 3_600_000.0,
    "CLS": 100.0,
}


class Rating(StrEnum):
    """The official three-way rating of a value."""

    GOOD = "good"
    NEEDS_IMPROVEMENT = "needs-improvement"
    POOR = "poor"

    @property
    def code(self) -> int:
        """The small integer rollups and their SQL store this rating as."""
        return RATING_CODES[self]


# Stored in rollups; 0 is a metric without thresholds.
RATING_CODES: Final[Mapping[Rating, int]] = {
    Rating.GOOD: 1,
    Rating.NEEDS_IMPROVEMENT: 2,
    Rating.POOR: 3,
}
GOOD_CODE: Final = 1
NEEDS_IMPROVEMENT_CODE: Final = 2
POOR_CODE: Final = 3
NO_RATING_CODE: Final = 0


def rate(metric: str, value: float) -> Rating:
    """The official rating of ``value`` for ``metric`` (one of ``METRICS``)."""
    good, poor = THRESHOLDS[metric]
    if value <= good:
        return Rating.GOOD
    return Rating.NEEDS_IMPROVEMENT if value <= poor else Rating.POOR


def rating_code(metric: str, value: float) -> int:
    """``rate(metric, value).code``, or ``NO_RATING_CODE`` for a metric without thresholds.

    Rollups rate every stored value, so this skips building the enum member.
    """
    thresholds = THRESHOLDS.get(metric)
    if thresholds is None:
        return NO_RATING_CODE
    if value <= thresholds[0]:
        return GOOD_CODE
    return NEEDS_IMPROVEMENT_CODE if value <= thresholds[1] else POOR_CODE


# A dimension value perfbeacon could not tell.
UNKNOWN: Final = "unknown"

# The device classes a page view is told apart by, and every one a stored beacon can have.
DEVICES: Final[tuple[str, ...]] = ("mobile", "tablet", "desktop")
DEVICE_CLASSES: Final[tuple[str, ...]] = (*DEVICES, UNKNOWN)

# Navigation types as web-vitals names them, in the order filters offer them.
NAVIGATION_TYPES: Final[tuple[str, ...]] = (
    "navigate",
    "reload",
    "back-forward",
    "back-forward-cache",
    "prerender",
    "restore",
    "soft-navigation",
)
SOFT_NAVIGATION: Final = "soft-navigation"
# What a navigation type web-vitals does not name is stored as.
OTHER_NAVIGATION: Final = "other"

# The Network Information API's effective connection types.
CONNECTION_TYPES: Final = frozenset({"slow-2g", "2g", "3g", "4g"})

# Seconds in the calendar units rollups and windows are cut in.
HOUR: Final = 3600
DAY: Final = 86400
