"""Rollup histograms as PostgreSQL stores them: one ``int8`` per bucket, ``bucket · 2^40 + count``.

A breakdown over a week reads hundreds of histograms of a hundred or more buckets
each. As ``jsonb`` PostgreSQL formatted every number as text and Python parsed it back;
packed into an ``int8[]`` they leave PostgreSQL in its binary array format
(``array_send``) and numpy reads them without parsing. One integer per bucket, rather
than two arrays, keeps merging in SQL one ``unnest`` and lets a histogram be one
column, as before.

The count is signed (a removal stays negative until it meets its addition), so the
bucket is recovered with rounding: ``bucket = (entry + 2^39) >> 40``, and the count is
what is left. Buckets must lie within ±2^22 (the mappings use a few thousand) and
counts within ±2^39 (half a trillion observations in one bucket of one row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

SHIFT = 40
HALF = 1 << (SHIFT - 1)
MAX_BUCKET = 1 << 22

# array_send's layout for a one-dimensional int8[] without NULLs: a 20-byte header
# (dimensions, NULL flag, element type, length, lower bound), then each element as a
# 4-byte length and 8 big-endian bytes. Reads drop the header in SQL, so that the
# elements of several arrays concatenate.
SENT_HEADER = 20
_ELEMENT = np.dtype([("length", ">i4"), ("entry", ">i8")])


def pack(bucket: int, count: int) -> int:
    """One bucket's entry."""
    if not -MAX_BUCKET < bucket < MAX_BUCKET or not -HALF <= count < HALF:
        raise ValueError(f"bucket {bucket} or count {count} out of the packed range")
    return (bucket << SHIFT) + count


def literal_of(histogram: Mapping[int, int]) -> str:
    """A histogram as a PostgreSQL ``int8[]`` literal, buckets in order, zeros left out."""
    return "{" + ",".join(str(pack(b, n)) for b, n in sorted(histogram.items()) if n) + "}"


def sql_pack_expression(bucket_sql: str, count_sql: str) -> str:
    """The SQL expression packing one bucket and its count."""
    return f"(({bucket_sql})::int8 << {SHIFT}) + ({count_sql})::int8"


def unpack(entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Buckets and counts of packed entries (int64)."""
    buckets = (entries + HALF) >> SHIFT
    return buckets, entries - (buckets << SHIFT)


def entries_of(elements: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """The entries of runs of ``array_send`` elements, all concatenated, and how many each had."""
    lengths = np.fromiter(map(len, elements), np.int64, count=len(elements))
    if (lengths % _ELEMENT.itemsize).any():
        raise ValueError("a rollup histogram is not made of int8 array elements")
    entries = np.frombuffer(b"".join(elements), _ELEMENT)["entry"].astype(np.int64)
    return entries, lengths // _ELEMENT.itemsize
