"""The bucket mapping keeps every value within 1 %, and percentiles of merged buckets too."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable
from itertools import accumulate

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from collector.query import sketch
from collector.query.sketch import (
    CLS_MAPPING,
    GAMMA,
    RELATIVE_ACCURACY,
    TIME_MAPPING,
    ZERO_BUCKET,
    BucketCounts,
    BucketMapping,
    nearest_rank,
    nearest_ranks,
    percentiles_of_groups,
    sql_bucket_expression,
)
from tests.databases import postgres_engine

times = st.floats(min_value=TIME_MAPPING.floor, max_value=1e9, allow_nan=False)
shifts = st.floats(min_value=CLS_MAPPING.floor, max_value=1e3, allow_nan=False)


def relative_error(estimate: float, exact: float) -> float:
    return abs(estimate - exact) / exact


@given(times)
def test_a_time_comes_back_within_one_percent(value: float) -> None:
    estimate = TIME_MAPPING.value_of(TIME_MAPPING.bucket_of(value))
    assert relative_error(estimate, value) <= 0.01


@given(shifts)
def test_a_layout_shift_comes_back_within_one_percent(value: float) -> None:
    estimate = CLS_MAPPING.value_of(CLS_MAPPING.bucket_of(value))
    assert relative_error(estimate, value) <= 0.01


def bucket_edges(mapping: BucketMapping, buckets: range) -> list[float]:
    """Values on and just past bucket boundaries, where the error is largest."""
    edges = []
    for bucket in buckets:
        upper = GAMMA ** (bucket - mapping.offset)
        edges += [upper, math.nextafter(upper, math.inf), math.nextafter(upper, 0)]
    return [edge for edge in edges if edge > mapping.floor]


def test_the_worst_case_at_bucket_edges_stays_within_the_bound() -> None:
    for mapping in (TIME_MAPPING, CLS_MAPPING):
        worst = max(
            relative_error(mapping.value_of(mapping.bucket_of(edge)), edge)
            for edge in bucket_edges(mapping, range(2, 2500))
        )
        assert RELATIVE_ACCURACY * 0.999 < worst <= 0.01


@given(st.floats(min_value=0, max_value=1e9), st.floats(min_value=0, max_value=1e9))
def test_buckets_are_ordered_like_values(a: float, b: float) -> None:
    low, high = sorted((a, b))
    for mapping in (TIME_MAPPING, CLS_MAPPING):
        assert mapping.bucket_of(low) <= mapping.bucket_of(high)


def test_zero_is_exact_and_apart() -> None:
    for mapping in (TIME_MAPPING, CLS_MAPPING):
        assert mapping.bucket_of(0.0) == ZERO_BUCKET
        assert mapping.value_of(ZERO_BUCKET) == 0.0
        assert mapping.bucket_of(mapping.floor / 10) == 1
        assert mapping.bucket_of(1e-3 if mapping is CLS_MAPPING else 1.0) > 1


def test_cls_has_finer_floor_than_times() -> None:
    assert CLS_MAPPING.floor < TIME_MAPPING.floor
    # 0.001 CLS is a real, small shift: it must not fall into the floor bucket.
    assert CLS_MAPPING.bucket_of(0.001) != CLS_MAPPING.bucket_of(0.002)


def test_nearest_rank() -> None:
    assert nearest_rank(0.75, 4) == 3
    assert nearest_rank(0.75, 1) == 1
    assert nearest_rank(0.5, 10) == 5
    assert nearest_rank(0.99, 100) == 99
    assert nearest_rank(0.001, 10) == 1


@given(
    st.lists(st.one_of(st.just(0.0), times), min_size=1, max_size=300),
    st.floats(min_value=0.001, max_value=0.999),
)
def test_histogram_percentile_is_within_one_percent_of_the_exact_one(
    values: list[float], fraction: float
) -> None:
    counts: dict[int, int] = {}
    for value in values:
        bucket = TIME_MAPPING.bucket_of(value)
        counts[bucket] = counts.get(bucket, 0) + 1
    estimate = percentiles_of_one(counts, [fraction])[fraction]
    exact = sorted(values)[nearest_rank(fraction, len(values)) - 1]
    assert estimate is not None
    if exact == 0:
        assert estimate == 0
    else:
        assert relative_error(estimate, exact) <= 0.01


histograms = st.dictionaries(
    st.integers(min_value=0, max_value=1200), st.integers(min_value=-3, max_value=40), max_size=30
)
groups = st.lists(st.lists(histograms, max_size=4), min_size=1, max_size=12)
FRACTIONS = (0.01, 0.5, 0.75, 0.9, 0.99)


def mapping_of_key(key: int) -> BucketMapping:
    """Groups of times and of CLS mixed, as a summary of several metrics has them."""
    return CLS_MAPPING if key % 3 == 2 else TIME_MAPPING


@pytest.mark.parametrize("matrix_cells", [sketch.MAX_MATRIX_CELLS, 1])
@pytest.mark.parametrize("mapping_of", [lambda _key: TIME_MAPPING, mapping_of_key])
@given(group_histograms=groups)
def test_groups_merged_at_once_answer_as_merged_one_by_one(
    matrix_cells: int,
    mapping_of: Callable[[int], BucketMapping],
    group_histograms: list[list[dict[int, int]]],
) -> None:
    keys = list(range(len(group_histograms)))
    # A limit of one cell builds the matrix one group at a time.
    default, sketch.MAX_MATRIX_CELLS = sketch.MAX_MATRIX_CELLS, matrix_cells
    try:
        answers = percentiles_of_groups(
            keys, bucket_counts(group_histograms), FRACTIONS, mapping_of
        )
    finally:
        sketch.MAX_MATRIX_CELLS = default
    for key, parts in zip(keys, group_histograms, strict=True):
        merged: dict[int, int] = {}
        for part in parts:
            for bucket, n in part.items():
                merged[bucket] = merged.get(bucket, 0) + n
        assert answers[key] == merged_percentiles(merged, FRACTIONS, mapping_of(key))


@given(st.lists(st.integers(min_value=-5, max_value=5000), max_size=40))
def test_values_of_an_array_of_buckets_are_value_of_each(buckets: list[int]) -> None:
    for mapping in (TIME_MAPPING, CLS_MAPPING, BucketMapping(floor=0.5)):
        values = mapping.values_of(np.array(buckets, np.int64)).tolist()
        assert values == [mapping.value_of(bucket) for bucket in buckets]


def test_an_empty_histogram_has_no_percentiles() -> None:
    assert percentiles_of_one({}, [0.5, 0.75]) == {0.5: None, 0.75: None}
    assert percentiles_of_one({7: 0}, [0.5]) == {0.5: None}


def bucket_counts(group_histograms: list[list[dict[int, int]]]) -> BucketCounts:
    """Every (group index, bucket, count) of the groups' histograms, as arrays."""
    entries = [
        (index, bucket, n)
        for index, parts in enumerate(group_histograms)
        for part in parts
        for bucket, n in part.items()
    ]
    owners, buckets, counts = (
        np.array(column, dtype)
        for column, dtype in zip(
            zip(*entries, strict=True) if entries else ((), (), ()),
            (np.int64, np.int64, np.float64),
            strict=True,
        )
    )
    return owners, buckets, counts


def percentiles_of_one(counts: dict[int, int], fractions: list[float]) -> dict[float, float | None]:
    """perfbeacon's percentiles of one histogram of times."""
    return percentiles_of_groups([0], bucket_counts([[counts]]), fractions, lambda _: TIME_MAPPING)[
        0
    ]


def merged_percentiles(
    counts: dict[int, int], fractions: tuple[float, ...], mapping: BucketMapping = TIME_MAPPING
) -> dict[float, float | None]:
    """The reference: nearest-rank percentiles walking one merged histogram's buckets."""
    answers: dict[float, float | None] = dict.fromkeys(sorted(set(fractions)))
    kept = [(bucket, counts[bucket]) for bucket in sorted(counts) if counts[bucket] > 0]
    cumulative = list(accumulate(n for _, n in kept))
    for fraction in answers:
        if cumulative:
            position = bisect_left(cumulative, nearest_rank(fraction, cumulative[-1]))
            answers[fraction] = mapping.value_of(kept[position][0])
    return answers


def test_mapping_offsets_put_the_floor_on_bucket_one() -> None:
    for floor in (1e-3, 1e-6, 0.5):
        mapping = BucketMapping(floor=floor)
        assert mapping.bucket_of(floor) == 1
        assert mapping.bucket_of(floor * 1.05) >= 2
        assert math.isclose(mapping.value_of(1), floor, rel_tol=0.02)


async def test_postgres_computes_the_same_buckets_as_python() -> None:
    values = [0.0, 1e-7, 1e-6, 1e-3, 0.0011, 0.05, 0.1, 0.25, 1.0, 2500.0, 4000.0, 123456.789]
    values += bucket_edges(TIME_MAPPING, range(2, 1500)) + bucket_edges(CLS_MAPPING, range(2, 1200))
    async with postgres_engine(None) as engine, engine.connect() as conn:
        for metric, mapping in (("LCP", TIME_MAPPING), ("CLS", CLS_MAPPING)):
            expression = sql_bucket_expression("v", "m")
            rows = await conn.execute(
                text(
                    f"SELECT v, {expression} FROM unnest(CAST(:vs AS float8[])) AS v, "
                    "(SELECT CAST(:m AS text) AS m) AS metric"
                ),
                {"vs": values, "m": metric},
            )
            for value, bucket in rows:
                assert bucket == mapping.bucket_of(value), (metric, value)


@given(
    fraction=st.floats(0.0001, 0.9999),
    counts=st.lists(st.integers(0, 10**12), min_size=1, max_size=30),
)
def test_nearest_ranks_answer_as_nearest_rank_does(fraction: float, counts: list[int]) -> None:
    found = nearest_ranks(fraction, np.array(counts, np.int64)).tolist()
    assert found == [nearest_rank(fraction, count) for count in counts]


def test_nearest_ranks_of_products_just_above_an_integer() -> None:
    # 0.07 * 100 is 7.000000000000001 in binary floating point; rounded to 9 places, 7.
    assert nearest_ranks(0.07, np.array([100], np.int64)).tolist() == [7]
    assert nearest_rank(0.07, 100) == 7
