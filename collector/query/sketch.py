"""Relative-accuracy histogram buckets (the DDSketch logarithmic mapping, written small).

A positive value ``x`` goes to bucket ``i = ceil(log(x) / log(γ))`` with
``γ = (1 + α) / (1 - α)``, i.e. bucket ``i`` holds ``(γ^(i-1), γ^i]``. Every value in
that bucket is answered with ``v = 2·γ^i / (γ + 1)``, and for any ``x`` in the bucket

    |v - x| / x  ≤  max((v - γ^(i-1)) / γ^(i-1), (γ^i - v) / γ^i)  =  (γ - 1) / (γ + 1)  =  α.

Buckets are ordered like values, so the bucket holding the ``r``-th smallest value is
the first whose cumulative count reaches ``r``: a percentile read from merged counts is
within ``α`` of the exact order statistic, for any filter, window or merge. ``α`` is
0.99 %, leaving room for floating-point rounding at bucket edges under the promised 1 %.

Exact zeros (many CLS values, cached TTFB) have their own exact bucket, 0. Positive
values below a floor share bucket 1; the floor is far below anything a browser
reports (1 µs for times; 1e-6 for CLS, which is unitless and lives near 0, hence
its own mapping). Stored bucket numbers are shifted so the floor lands on 1.

    mapping = mapping_for("LCP")
    mapping.value_of(mapping.bucket_of(2500.0))  # 2517.7: within 0.99 % of 2500
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from collector.vitals import (
    GOOD_CODE,
    NEEDS_IMPROVEMENT_CODE,
    NO_RATING_CODE,
    POOR_CODE,
    THRESHOLDS,
)

RELATIVE_ACCURACY = 0.0099
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
INVERSE_LOG_GAMMA = 1 / math.log(GAMMA)
ZERO_BUCKET = 0

# Merging many groups at once builds a (groups × buckets) matrix; past this many
# cells it is built a slice of groups at a time.
MAX_MATRIX_CELLS = 4_000_000

Key = TypeVar("Key", bound=Hashable)
BucketCounts = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(group index, bucket, count) of every histogram entry, as three arrays, by group index."""


@dataclass(frozen=True, slots=True)
class BucketMapping:
    """Maps values to bucket numbers and back, with relative error ≤ ``RELATIVE_ACCURACY``."""

    floor: float
    # Added to the logarithmic index so that the floor lands on bucket 1; computed once,
    # as every value ingested and every percentile answered uses it.
    offset: int = field(init=False)
    # ``value_of`` of buckets 0, 1, 2, ... as far as asked so far (see ``values_of``).
    _table: list[np.ndarray] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "offset", 1 - math.ceil(math.log(self.floor) * INVERSE_LOG_GAMMA))
        object.__setattr__(self, "_table", [np.zeros(1)])

    def bucket_of(self, value: float) -> int:
        """The bucket holding ``value`` (0 for zero or less)."""
        if value <= 0:
            return ZERO_BUCKET
        if value <= self.floor:
            return 1
        return math.ceil(math.log(value) * INVERSE_LOG_GAMMA) + self.offset

    def value_of(self, bucket: int) -> float:
        """The value every observation in ``bucket`` is answered with."""
        if bucket <= ZERO_BUCKET:
            return 0.0
        return 2 * GAMMA ** (bucket - self.offset) / (GAMMA + 1)

    def values_of(self, buckets: np.ndarray) -> np.ndarray:
        """``value_of`` each bucket of an integer array: the same floats, read from a table.

        A breakdown answers hundreds of groups' percentiles; computing each value in
        Python cost more than finding the buckets. The table is built with ``value_of``
        itself (not numpy's ``power``, which may round differently), once per 1,024
        buckets past the highest asked so far.
        """
        table = self._table[0]
        highest = int(buckets.max(initial=ZERO_BUCKET))
        if highest >= len(table):
            size = (highest // 1024 + 1) * 1024
            table = np.array([self.value_of(bucket) for bucket in range(size)])
            self._table[0] = table
        values: np.ndarray = table[np.maximum(buckets, ZERO_BUCKET)]
        return values


TIME_MAPPING = BucketMapping(floor=1e-3)
CLS_MAPPING = BucketMapping(floor=1e-6)


def mapping_for(metric: str) -> BucketMapping:
    """The bucket mapping of a metric: CLS is unitless and near 0, the rest are ms."""
    return CLS_MAPPING if metric == "CLS" else TIME_MAPPING


def nearest_rank(fraction: float, count: int) -> int:
    """The 1-based rank of the ``fraction`` percentile among ``count`` values (nearest rank).

    Both the rollups and exact mode use this definition, so they can be compared.
    """
    return min(count, max(1, math.ceil(round(fraction * count, 9))))


def percentiles_of_groups(
    keys: Sequence[Key],
    histograms: BucketCounts,
    fractions: Iterable[float],
    mapping_of: Callable[[Key], BucketMapping],
) -> dict[Key, dict[float, float | None]]:
    """Percentiles (nearest rank) of each group's histograms merged, all groups at once.

    A group with nothing counted answers None for each; empty or negative entries (a
    removal not matched by its addition) are skipped. ``histograms`` holds every
    (bucket, count) of every histogram read, with the index in ``keys`` of the group
    each belongs to. A breakdown or a timeseries merges hundreds of histograms of
    hundreds of buckets; adding them bucket by bucket in Python cost more than reading
    them. Here they are summed into one (groups × buckets) matrix and each rank's
    bucket is found among running totals, in numpy. The answers are the same as
    merging the histograms one by one.
    """
    wanted = sorted(set(fractions))
    answers: dict[Key, dict[float, float | None]] = {}
    owners, buckets, counts = histograms
    if not buckets.size:
        return {key: dict.fromkeys(wanted) for key in keys}
    low = int(buckets.min())
    width = int(buckets.max()) - low + 1
    per_slice = max(1, MAX_MATRIX_CELLS // width)
    for first in range(0, len(keys), per_slice):
        last = min(first + per_slice, len(keys))
        start, stop = np.searchsorted(owners, (first, last))
        matrix = np.bincount(
            (owners[start:stop] - first) * width + (buckets[start:stop] - low),
            weights=counts[start:stop],
            minlength=(last - first) * width,
        ).reshape(last - first, width)
        # A removal not matched by its addition leaves a negative count: skip it.
        # Running totals in integers: numpy's cumsum is about twice as fast on them.
        running = np.maximum(matrix, 0, out=matrix).astype(np.int64)
        np.cumsum(running, axis=1, out=running)
        ranks = np.stack([nearest_ranks(f, running[:, -1]) for f in wanted], axis=1)
        found = low + _first_reaching(running, ranks)
        totals = running[:, -1].tolist()
        group_keys = keys[first:last]
        values = _values_of_buckets(found, [mapping_of(key) for key in group_keys])
        for key, total, row in zip(group_keys, totals, values, strict=True):
            answers[key] = (
                dict(zip(wanted, row, strict=True)) if total > 0 else dict.fromkeys(wanted)
            )
    return answers


def nearest_ranks(fraction: float, counts: np.ndarray) -> np.ndarray:
    """``nearest_rank(fraction, count)`` of every count (an int64 array), the same answers.

    ``ceil`` of the product equals nearest_rank's ceiling of it rounded to 9 places,
    except just above an integer: there, and only there, nearest_rank itself is asked.
    """
    products = fraction * counts.astype(np.float64)
    ranks = np.ceil(products).astype(np.int64)
    above = products - np.floor(products)
    for i in np.flatnonzero((above > 0) & (above < 1e-6)).tolist():
        ranks[i] = nearest_rank(fraction, int(counts[i]))
    bounded: np.ndarray = np.minimum(counts, np.maximum(ranks, 1))
    return bounded


def _first_reaching(running: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Where each row of running totals first reaches each of the row's ranks.

    One binary search over all rows at once: each row is lifted above the previous
    one's values (totals are non-negative integers), so the rows form one sorted array.
    """
    rows, width = running.shape
    lift = np.arange(rows, dtype=np.int64)[:, None] * (int(running[:, -1].max(initial=0)) + 1)
    flat = (running + lift).ravel()
    positions: np.ndarray = np.searchsorted(flat, ranks + lift, side="left")
    within_rows: np.ndarray = positions - np.arange(rows)[:, None] * width
    return within_rows


def _values_of_buckets(found: np.ndarray, mappings: Sequence[BucketMapping]) -> list[list[float]]:
    """``value_of`` each bucket in ``found`` (a row per group, whose mapping is given)."""
    distinct = {id(mapping): mapping for mapping in mappings}
    if len(distinct) == 1:
        single: list[list[float]] = mappings[0].values_of(found).tolist()
        return single
    values: np.ndarray = np.empty(found.shape, np.float64)
    for mapping in distinct.values():
        rows = [row for row, other in enumerate(mappings) if other is mapping]
        values[rows] = mapping.values_of(found[rows])
    listed: list[list[float]] = values.tolist()
    return listed


def sql_bucket_expression(value_sql: str, metric_sql: str) -> str:
    """The PostgreSQL expression computing ``bucket_of`` (same libm ``log``, same rounding)."""
    cases = []
    for name, mapping in (("CLS", CLS_MAPPING), (None, TIME_MAPPING)):
        log_bucket = (
            f"(ceil(ln({value_sql}) * CAST('{INVERSE_LOG_GAMMA!r}' AS float8))::int "
            f"+ {mapping.offset})"
        )
        inner = (
            f"CASE WHEN {value_sql} <= 0 THEN {ZERO_BUCKET} "
            f"WHEN {value_sql} <= CAST('{mapping.floor!r}' AS float8) THEN 1 "
            f"ELSE {log_bucket} END"
        )
        cases.append((name, inner))
    (cls_name, cls_expr), (_, time_expr) = cases
    return f"(CASE WHEN {metric_sql} = '{cls_name}' THEN {cls_expr} ELSE {time_expr} END)"


def sql_rating_expression(value_sql: str, metric_sql: str) -> str:
    """The SQL expression computing ``collector.vitals.rating_code`` from the thresholds."""
    branches = " ".join(
        f"WHEN {metric_sql} = '{metric}' THEN CASE WHEN {value_sql} <= {good!r} "
        f"THEN {GOOD_CODE} WHEN {value_sql} <= {poor!r} THEN {NEEDS_IMPROVEMENT_CODE} "
        f"ELSE {POOR_CODE} END"
        for metric, (good, poor) in THRESHOLDS.items()
    )
    return f"(CASE {branches} ELSE {NO_RATING_CODE} END)"
