"""Rollup histograms as reads get them: decoded to buckets and counts, merged, made percentiles.

Each group's histograms arrive concatenated in one value: PostgreSQL's packed array
elements as ``array_send`` wrote them (bytes), or SQLite's JSON objects (text).

>>> percentiles = percentiles_of(histograms, (0.5, 0.75))  # {group key: {0.75: 2410.3, ...}}
>>> merged = merged_histograms(histograms, groups)          # {group key: {bucket: count}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import cast

import numpy as np

from collector.query.packed import entries_of, unpack
from collector.query.selection import GroupKey, Percentiles
from collector.query.sketch import BucketCounts, BucketMapping, mapping_for, percentiles_of_groups

# SQLite's histograms are JSON objects of integers, {"bucket": count, ...}: with the
# punctuation blanked, numpy reads the numbers in C.
_BLANK_PUNCTUATION = str.maketrans('{}":,', "     ")


def percentiles_of(
    histograms: Mapping[GroupKey, bytes | str], fractions: Sequence[float]
) -> dict[GroupKey, Percentiles]:
    """Percentiles of each group's concatenated histograms (≤ 1 % relative error)."""
    counts = bucket_counts(list(histograms.values()))
    return percentiles_of_groups(list(histograms), counts, fractions, _mapping_of)


def merged_histograms(
    histograms: Mapping[GroupKey, bytes | str], groups: Iterable[GroupKey]
) -> dict[GroupKey, dict[int, int]]:
    """Each group's histograms merged into one {bucket: count}; empty for groups without any."""
    # Owners index the groups whose histograms were read, not every group counted.
    keys = list(histograms)
    owners, buckets, counts = bucket_counts(list(histograms.values()))
    merged: dict[GroupKey, dict[int, int]] = {key: {} for key in groups}
    for owner, bucket, n in zip(owners.tolist(), buckets.tolist(), counts.tolist(), strict=True):
        histogram = merged[keys[owner]]
        histogram[bucket] = histogram.get(bucket, 0) + int(n)
    return merged


def bucket_counts(histograms: Sequence[bytes | str]) -> BucketCounts:
    """Every (bucket, count) of each group's concatenated histograms, with the group's index.

    Histograms are PostgreSQL's packed array elements as ``array_send`` wrote them, or
    SQLite's JSON text.
    """
    # One database wrote them all: they are all bytes or all text, as the first one is.
    if histograms and isinstance(histograms[0], bytes):
        entries, sizes = entries_of(cast("Sequence[bytes]", histograms))
        buckets, counts = unpack(entries)
    else:
        buckets, counts, sizes = _entries_of_json(cast("Sequence[str]", histograms))
    owners = np.repeat(np.arange(len(histograms)), sizes)
    return owners, buckets, counts.astype(np.float64)


def _entries_of_json(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Buckets and counts of JSON histograms, all concatenated, and how many each had."""
    sizes = np.array([text.count(":") for text in texts], np.int64)
    numbers = np.fromstring(" ".join(texts).translate(_BLANK_PUNCTUATION), np.int64, sep=" ")
    if numbers.size != 2 * sizes.sum():
        raise ValueError("a rollup histogram is not a JSON object of integers")
    return numbers[0::2], numbers[1::2], sizes


def _mapping_of(key: GroupKey) -> BucketMapping:
    return mapping_for(key[0])
