"""Whether a metric's field p75 got significantly worse from one window to the next.

Three conditions, all required, so that daily noise on a quiet route flags nothing:

1. Enough data: at least ``MIN_SAMPLES`` samples in each window.
2. A change that matters: the p75 rose by at least ``MIN_RELATIVE_CHANGE`` (10 %).
3. A change beyond chance: by definition a quarter of the previous window's samples lie
   above its p75. If nothing changed, a quarter of the current window's samples would
   too. The share of current samples above the previous p75 is estimated from the
   current window's percentiles (p50, p75, p90, p95, p99, linearly interpolated; at
   most one half is claimed when the previous p75 is below the current median), and a
   one-sided two-proportion z-test of that share against 25 % must give
   p < ``MAX_P_VALUE`` (0.01).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist

MIN_SAMPLES = 100
MIN_RELATIVE_CHANGE = 0.10
MAX_P_VALUE = 0.01
PREVIOUS_SHARE_ABOVE_P75 = 0.25
# The smallest p75 a relative change is measured from: CLS p75 is often exactly 0.
RELATIVE_FLOOR = {"CLS": 0.01}
DEFAULT_RELATIVE_FLOOR = 1.0
_FRACTIONS = (0.5, 0.75, 0.9, 0.95, 0.99)


@dataclass(frozen=True, slots=True)
class Quantiles:
    """One window's sample count and percentiles of a metric."""

    count: int
    p50: float
    p75: float
    p90: float
    p95: float
    p99: float

    def points(self) -> list[tuple[float, float]]:
        """(value, fraction at or below it) pairs, in increasing order."""
        values = (self.p50, self.p75, self.p90, self.p95, self.p99)
        return list(zip(values, _FRACTIONS, strict=True))


@dataclass(frozen=True, slots=True)
class Worsening:
    """A significant rise of the p75 from the previous window to the current one."""

    previous_p75: float
    current_p75: float
    relative_change: float
    previous_count: int
    current_count: int
    share_above: float
    p_value: float


def share_above(value: float, current: Quantiles) -> float:
    """The estimated share of the current window's samples above ``value``."""
    points = current.points()
    if value < points[0][0]:
        return 1 - points[0][1]
    for (low, low_fraction), (high, high_fraction) in itertools.pairwise(points):
        if value < high:
            if high == low:
                return 1 - high_fraction
            below = low_fraction + (high_fraction - low_fraction) * (value - low) / (high - low)
            return 1 - below
    return 1 - points[-1][1]


def one_sided_p_value(*, share: float, count: int, baseline: float, baseline_count: int) -> float:
    """P-value of a two-proportion z-test that ``share`` exceeds ``baseline``."""
    pooled = (share * count + baseline * baseline_count) / (count + baseline_count)
    variance = pooled * (1 - pooled) * (1 / count + 1 / baseline_count)
    if variance <= 0:
        return 1.0 if share <= baseline else 0.0
    z = (share - baseline) / math.sqrt(variance)
    return 1 - NormalDist().cdf(z)


def worsening(metric: str, previous: Quantiles, current: Quantiles) -> Worsening | None:
    """The worsening from ``previous`` to ``current`` if it passes all three conditions."""
    if previous.count < MIN_SAMPLES or current.count < MIN_SAMPLES:
        return None
    base = max(previous.p75, RELATIVE_FLOOR.get(metric, DEFAULT_RELATIVE_FLOOR))
    relative = (current.p75 - previous.p75) / base
    if relative < MIN_RELATIVE_CHANGE:
        return None
    share = share_above(previous.p75, current)
    p_value = one_sided_p_value(
        share=share,
        count=current.count,
        baseline=PREVIOUS_SHARE_ABOVE_P75,
        baseline_count=previous.count,
    )
    if p_value >= MAX_P_VALUE:
        return None
    return Worsening(
        previous_p75=previous.p75,
        current_p75=current.p75,
        relative_change=relative,
        previous_count=previous.count,
        current_count=current.count,
        share_above=share,
        p_value=p_value,
    )
