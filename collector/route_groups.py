"""Route groups: the route a page path is filed under, with its ids, UUIDs and hashes
collapsed (``/product/123`` → ``/product/:id``).

Written here only: the ingest files beacons by it, and budgets match the routes of field
budgets and of Lighthouse URLs with it. It imports nothing of perfbeacon.
"""

from __future__ import annotations

import re
from functools import lru_cache

MAX_ROUTE = 512
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX_HASH = re.compile(r"[0-9a-fA-F]{16,}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,}")


@lru_cache(maxsize=16_384)
def route_of(path: str) -> str:
    """The route group of a path: ids, UUIDs and hashes collapsed.

    >>> route_of("/product/123")
    '/product/:id'
    """
    segments = path.split("/")
    grouped = "/".join(_segment_group(segment) for segment in segments)
    if len(grouped) > 1 and grouped.endswith("/"):
        grouped = grouped[:-1]
    return grouped[:MAX_ROUTE]


def _segment_group(segment: str) -> str:
    if not segment:
        return segment
    if segment.isdigit():
        return ":id"
    if _UUID.fullmatch(segment):
        return ":uuid"
    if _HEX_HASH.fullmatch(segment) and _has_digit(segment):
        return ":hash"
    if _TOKEN.fullmatch(segment) and _looks_random(segment):
        return ":hash"
    return segment


def _has_digit(text: str) -> bool:
    return any(char.isdigit() for char in text)


def _looks_random(segment: str) -> bool:
    # A long token mixing upper case, lower case and digits is an id, not a slug:
    # slugs ("iphone-15-pro-max") are lower case.
    return (
        _has_digit(segment)
        and any(char.isupper() for char in segment)
        and any(char.islower() for char in segment)
    )
