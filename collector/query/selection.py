"""What a read aggregates: the selection of observations and its grouping, and its answers' shapes.

>>> selection = Selection(site.id, ("LCP",), window, {"device": "mobile"}, group_by="route")
>>> selection.restricted_to(["/", "/cart"])  # only these routes
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from collector.query.windows import Window

GroupKey = tuple[str, str | None, int | None]
"""(metric, value of the grouping dimension or None, interval start in epoch seconds or None)."""

Percentiles = dict[float, float | None]


@dataclass(slots=True)
class Tally:
    """Exact counts of observations: all of them and per rating."""

    count: int = 0
    good: int = 0
    needs_improvement: int = 0
    poor: int = 0


@dataclass(frozen=True, slots=True)
class Selection:
    """Which observations to aggregate, and how to group them."""

    site_id: int
    metrics: tuple[str, ...]
    window: Window
    filters: Mapping[str, str] = field(default_factory=dict)
    group_by: str | None = None
    interval: int | None = None
    only_groups: tuple[str, ...] | None = None

    def restricted_to(self, groups: Sequence[str]) -> Selection:
        """The same selection, keeping only the given values of the grouping dimension."""
        return replace(self, only_groups=tuple(groups))
