"""Field budgets against the site's RUM data: observed through the query services, then
turned into assertion results like every other budget.

>>> observed = await observe(conn=conn, site=site, budgets=budgets, now=now)
>>> results = field_results(budgets, observed)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from collector.budgets.field.config import WINDOWS, FieldBudget
from collector.budgets.results import AssertionResult, Level
from collector.query.service import summarize
from collector.query.windows import Window, resolve_window
from collector.sites.schemas import Site

FIELD_SOURCE = "field"


@dataclass(frozen=True, slots=True)
class Observation:
    """What real users measured for one budget: the percentile and how many samples."""

    value: float | None
    count: int
    window: Window


def window_of(budget: FieldBudget, *, now: datetime) -> Window:
    """The budget's window ending now, snapped as the query API snaps it."""
    return resolve_window(budget.window, None, now=now, max_span=WINDOWS[budget.window])


async def observe(
    *, conn: AsyncConnection, site: Site, budgets: Sequence[FieldBudget], now: datetime
) -> list[Observation]:
    """One observation per budget; budgets sharing a window and filters share one query."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[FieldBudget]] = {}
    for budget in budgets:
        groups.setdefault((budget.window, tuple(sorted(budget.filters.items()))), []).append(budget)
    found: dict[tuple[str, tuple[tuple[str, str], ...], str, int], Observation] = {}
    for (window_name, filters), members in groups.items():
        window = window_of(members[0], now=now)
        metrics = tuple(dict.fromkeys(b.metric for b in members))
        summary = await summarize(
            conn=conn, site=site, window=window, metrics=metrics, filters=dict(filters)
        )
        for budget in members:
            stats = summary.metrics[budget.metric]
            value = getattr(stats, f"p{budget.percentile}")
            key = (window_name, filters, budget.metric, budget.percentile)
            found[key] = Observation(value=value, count=stats.count, window=window)
    return [
        found[(b.window, tuple(sorted(b.filters.items())), b.metric, b.percentile)] for b in budgets
    ]


def field_results(
    budgets: Sequence[FieldBudget], observations: Sequence[Observation]
) -> list[AssertionResult]:
    """One assertion result per field budget; a window without data is a warning, not a pass."""
    return [_result(b, o) for b, o in zip(budgets, observations, strict=True)]


def _result(budget: FieldBudget, observed: Observation) -> AssertionResult:
    has_data = observed.count > 0 and observed.value is not None
    actual = observed.value if has_data and observed.value is not None else math.nan
    if has_data:
        message = (
            f"{budget.describe()}: p{budget.percentile} is {actual:.4g} "
            f"from {observed.count} samples"
        )
    else:
        message = (
            f"no data: no {budget.metric} samples on {budget.scope} in the last {budget.window}; "
            "a window without data is not a pass"
        )
    return AssertionResult(
        url=field_url(budget),
        audit_id=budget.metric,
        audit_property=f"p{budget.percentile}",
        name=f"max over {budget.window}",
        # No data cannot fail a build (a new route has none yet), but it must show.
        level=Level(budget.level) if has_data else Level.WARN,
        operator="<=",
        expected=budget.max,
        actual=actual,
        values=(actual,),
        passed=has_data and actual <= budget.max,
        message=message,
        audit_title=budget.describe(),
        source=FIELD_SOURCE,
    )


def field_url(budget: FieldBudget) -> str:
    """How a field result names where it applies: ``field /checkout on mobile``."""
    return f"field {budget.scope}"
