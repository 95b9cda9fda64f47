"""Which time resolution a trend can be read at from the rollups, for a set of filters."""

from __future__ import annotations

from collections.abc import Iterable

from collector.query.levels import covering_level
from collector.query.windows import Window
from collector.vitals import DAY


def trend_interval(*, window: Window, filters: Iterable[str], preferred: int) -> int:
    """``preferred`` if rollups answer it for ``filters``, else a day if they answer that.

    Levels that keep many dimensions keep whole days only; when neither interval is
    covered, ``preferred`` is read from raw rows (short windows only).
    """
    needed = set(filters)
    for interval in (preferred, DAY):
        level = covering_level(
            needed, start=window.start_seconds, end=window.end_seconds, interval=interval
        )
        if level is not None:
            return interval
    return preferred
