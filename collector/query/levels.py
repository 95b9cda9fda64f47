"""Rollup levels (which dimensions a rollup row keeps) and time grains (how long a row's period is).

A full cube over six dimensions would explode, so rollups keep eight dimension sets,
chosen so the common views read few rows: nothing (site totals), device, route,
route × device, and device × each other dimension. A level is the bit mask of the
dimensions it keeps, the same number PostgreSQL's ``GROUPING()`` gives when negated.

Time grains nest and are aligned on the Unix epoch, so a window whose ends are whole
hours is covered exactly by a few periods: the coarsest in the middle, finer ones at
the edges. Hours and days are rolled up as events arrive. The power-of-two multi-day
grains (2, 4, 8 and 16 days) bound what a long window reads: any run of whole days is
at most about 2·log2(days) periods (a 30-day window reads 5 to 8 rows per key instead
of 30, a 7-day one 3 instead of 7). Each is compacted once from its two halves when
the watermark passes its end (see ``roller.py``), so keeping them costs the roller
one small statement per grain and day rather than four more upserts per event; reads
use them only for periods that ended before the watermark.

Only the small levels keep hours: at 1 % accuracy, an hourly cell of a big level
(route × device) holds about one observation, so hourly cells there would outnumber
the raw rows they summarize (measured in bench/README.md). Queries those levels
cannot cover read raw rows when the window is short.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from collector.vitals import DAY, HOUR

DIMENSIONS: tuple[str, ...] = (
    "route",
    "device",
    "browser",
    "connection",
    "navigation_type",
    "country",
)
ALL = "*"  # the value of a dimension a level rolls up

# Bit of each dimension in a level number: route is the highest bit, as in GROUPING().
_BIT = {dimension: 1 << (len(DIMENSIONS) - 1 - i) for i, dimension in enumerate(DIMENSIONS)}
FULL_MASK = (1 << len(DIMENSIONS)) - 1

FIVE_MINUTES = 300


def level_of(dimensions: Iterable[str]) -> int:
    """The level number keeping exactly ``dimensions``."""
    return sum(_BIT[dimension] for dimension in set(dimensions))


def dimensions_of(level: int) -> tuple[str, ...]:
    """The dimensions a level keeps, in DIMENSIONS order."""
    return tuple(dimension for dimension in DIMENSIONS if level & _BIT[dimension])


# Cheapest first: a query reads the first level that keeps every dimension it needs.
LEVELS: tuple[int, ...] = tuple(
    level_of(dimensions)
    for dimensions in (
        (),
        ("device",),
        ("device", "navigation_type"),
        ("device", "connection"),
        ("device", "browser"),
        ("device", "country"),
        ("route",),
        ("route", "device"),
    )
)


_HOURLY_LEVELS = frozenset({level_of(()), level_of(("device",))})
# Grains rolled up as events arrive, per level.
LEVEL_GRAINS: dict[int, tuple[int, ...]] = {
    level: (HOUR, DAY) if level in _HOURLY_LEVELS else (DAY,) for level in LEVELS
}
# Grains compacted from their two halves once complete, at every level, finest first.
COMPACTED_GRAINS: tuple[int, ...] = (2 * DAY, 4 * DAY, 8 * DAY, 16 * DAY)
GRAINS: tuple[int, ...] = (HOUR, DAY, *COMPACTED_GRAINS)


def covering_level(
    needed: Iterable[str],
    *,
    start: int | None = None,
    end: int | None = None,
    interval: int | None = None,
) -> int | None:
    """The cheapest level keeping every dimension in ``needed`` whose grains fit, or None.

    Grains fit when they divide ``interval`` (a timeseries) and the window's ends.
    """
    mask = level_of(needed)
    for level in LEVELS:
        if level & mask != mask:
            continue
        grains = grains_of(level, interval=interval)
        if not grains:
            continue
        if start is not None and end is not None and (start % grains[0] or end % grains[0]):
            continue
        return level
    return None


def grains_of(level: int, *, interval: int | None = None) -> tuple[int, ...]:
    """The grains a level keeps, only those dividing ``interval`` when one is given."""
    grains = (*LEVEL_GRAINS[level], *COMPACTED_GRAINS)
    if interval is None:
        return grains
    return tuple(grain for grain in grains if interval % grain == 0)


def supported_combinations() -> list[list[str]]:
    """The dimension sets rollups keep, for error messages."""
    return [list(dimensions_of(level)) for level in LEVELS]


@dataclass(frozen=True, slots=True)
class PeriodRange:
    """Rollup rows of one grain whose period starts in ``[start, end)`` (epoch seconds)."""

    grain: int
    start: int
    end: int


def cover(
    start: int,
    end: int,
    *,
    grains: tuple[int, ...] = GRAINS,
    complete_before: int | None = None,
) -> list[PeriodRange]:
    """Whole periods exactly covering ``[start, end)``, coarsest possible (few rows to read).

    Both ends must be multiples of the smallest grain. Compacted grains are used only
    for periods ending by ``complete_before`` (the watermark) when one is given.
    """
    smallest = grains[0]
    if start % smallest or end % smallest:
        raise ValueError(f"window ends must be multiples of {smallest} s")
    if complete_before is not None and complete_before < end:
        split = min(end, max(start, complete_before - complete_before % smallest))
        rolled = tuple(grain for grain in grains if grain not in COMPACTED_GRAINS)
        return _cover(start, split, grains) + _cover(split, end, rolled)
    return _cover(start, end, grains)


def _cover(start: int, end: int, grains: tuple[int, ...]) -> list[PeriodRange]:
    ranges: list[PeriodRange] = []
    coarsest = max(grains)
    position = start
    while position < end:
        grain = max(g for g in grains if position % g == 0 and position + g <= end)
        stop = position + grain
        if grain == coarsest:
            # Nothing coarser can start: every whole period left (a week of hours at once).
            stop += (end - stop) // grain * grain
        # Take as many whole periods of this grain as fit before a coarser one could start.
        while stop + grain <= end and not _coarser_fits(stop, end, grain, grains):
            stop += grain
        if ranges and ranges[-1].grain == grain and ranges[-1].end == position:
            ranges[-1] = PeriodRange(grain, ranges[-1].start, stop)
        else:
            ranges.append(PeriodRange(grain, position, stop))
        position = stop
    return ranges


def _coarser_fits(position: int, end: int, grain: int, grains: tuple[int, ...]) -> bool:
    return any(g > grain and position % g == 0 and position + g <= end for g in grains)
