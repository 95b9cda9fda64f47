"""Regressions: a measure is flagged only when it got worse by more than run-to-run noise.

Lighthouse CI runs each URL several times (3 by default). For every tracked measure
(category scores, the core timing metrics, and every audit a config bounds with
``maxNumericValue``) the runs of the build are compared with the baseline build's runs by

1. a one-sided exact Mann–Whitney U test (a permutation test on mid-ranks, so ties are
   handled exactly): the current runs must be stochastically worse, p ≤ ``ALPHA``; with
   three runs on each side that means every current run is worse than every baseline
   run (p = 1/20 = 0.05); with fewer than ``MIN_RUNS`` runs on a side nothing is flagged;
2. an effect size larger than the noise: the change of the medians must exceed twice the
   larger robust spread (1.4826 × MAD) of the two sets of runs, and a practical floor
   (5 % of the baseline, and at least 0.01 for scores and CLS, 10 ms for timings).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from collector.budgets.results import Regression

ALPHA = 0.05
MIN_RUNS = 3
RELATIVE_FLOOR = 0.05
_MAD_TO_SIGMA = 1.4826
CORE_AUDITS = (
    "first-contentful-paint",
    "largest-contentful-paint",
    "total-blocking-time",
    "cumulative-layout-shift",
    "speed-index",
    "interactive",
)
_UNITLESS = frozenset({"cumulative-layout-shift"})

Samples = dict[str, dict[str, list[float]]]


def samples_from_summaries(
    summaries: Iterable[Mapping[str, Any]], audits: Iterable[str]
) -> Samples:
    """Per URL, per measure (``category:<id>``, ``audit:<id>``), the values of each run."""
    tracked = tuple(dict.fromkeys([*CORE_AUDITS, *audits]))
    samples: Samples = {}
    for summary in summaries:
        measures = samples.setdefault(str(summary["finalUrl"]), {})
        for category_id, category in (summary.get("categories") or {}).items():
            _add(measures, f"category:{category_id}", category.get("score"))
        for audit_id in tracked:
            audit = (summary.get("audits") or {}).get(audit_id) or {}
            _add(measures, f"audit:{audit_id}", audit.get("numericValue"))
    return samples


def _add(measures: dict[str, list[float]], key: str, value: object) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        measures.setdefault(key, []).append(float(value))


def find_regressions(current: Samples, baseline: Samples) -> list[Regression]:
    """Measures of ``current`` significantly worse than in ``baseline``, URL by URL."""
    found = []
    for url, measures in current.items():
        for measure, values in measures.items():
            base = baseline.get(url, {}).get(measure)
            if not base:
                continue
            regression = compare(url=url, measure=measure, values=values, baseline=base)
            if regression is not None:
                found.append(regression)
    return found


def compare(
    *, url: str, measure: str, values: Sequence[float], baseline: Sequence[float]
) -> Regression | None:
    """A Regression when ``values`` are worse than ``baseline`` beyond noise, else None."""
    if len(values) < MIN_RUNS or len(baseline) < MIN_RUNS:
        return None
    higher_is_better = measure.startswith("category:")
    # Orient both samples so that larger always means worse.
    sign = -1.0 if higher_is_better else 1.0
    worse = [sign * v for v in values]
    better = [sign * v for v in baseline]
    p_value = mann_whitney_greater(worse, better)
    change = statistics.median(values) - statistics.median(baseline)
    effect = sign * change
    if p_value > ALPHA or effect <= _minimum_effect(measure, values, baseline):
        return None
    base_median = statistics.median(baseline)
    return Regression(
        url=url,
        measure=measure,
        baseline=base_median,
        actual=statistics.median(values),
        change=change,
        relative_change=change / base_median if base_median else None,
        p_value=p_value,
        runs=len(values),
        baseline_runs=len(baseline),
    )


def _minimum_effect(measure: str, values: Sequence[float], baseline: Sequence[float]) -> float:
    noise = max(_robust_sigma(values), _robust_sigma(baseline))
    unitless = measure.startswith("category:") or measure.removeprefix("audit:") in _UNITLESS
    floor = 0.01 if unitless else 10.0
    return max(2 * noise, RELATIVE_FLOOR * abs(statistics.median(baseline)), floor)


def _robust_sigma(values: Sequence[float]) -> float:
    center = statistics.median(values)
    return _MAD_TO_SIGMA * statistics.median(abs(v - center) for v in values)


def mann_whitney_greater(x: Sequence[float], y: Sequence[float]) -> float:
    """Exact one-sided p-value that ``x`` tends to be larger than ``y`` (Mann–Whitney U).

    Computed as a permutation test on mid-ranks: the probability, over every way of
    choosing len(x) of the pooled values, of a rank sum at least as large as observed.
    """
    pooled = sorted([*x, *y])
    doubled_ranks = {}
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1] == pooled[i]:
            j += 1
        doubled_ranks[pooled[i]] = i + j + 2  # 2 × the mid-rank, an integer
        i = j + 1
    ranks = tuple(sorted(doubled_ranks[v] for v in pooled))
    observed = sum(doubled_ranks[v] for v in x)
    counts = _rank_sum_counts(ranks, len(x))
    total = sum(counts.values())
    return sum(c for s, c in counts.items() if s >= observed) / total


@cache
def _rank_sum_counts(ranks: tuple[int, ...], size: int) -> dict[int, int]:
    """How many subsets of ``size`` ranks have each rank sum (dynamic programming)."""
    table: list[dict[int, int]] = [{0: 1}] + [{} for _ in range(size)]
    for rank in ranks:
        for chosen in range(size, 0, -1):
            for total, count in table[chosen - 1].items():
                table[chosen][total + rank] = table[chosen].get(total + rank, 0) + count
    return table[size]
