"""Performance score per site and route: Lighthouse's log-normal curves over field p75s.

As Sentry scores web vitals: each metric's p75 goes through the Lighthouse scoring
curve with Sentry's control points (the value scoring 0.9 and the median scoring
0.5), and the scores are averaged with weights LCP 30, INP 30, CLS 15, FCP 15,
TTFB 10; a metric without data gives its weight to the others.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import InvalidInput
from collector.query.aggregates import rollup_percentiles, rollup_tallies
from collector.query.levels import covering_level
from collector.query.schemas import RouteScore, ScoreCard, Scores
from collector.query.selection import Selection
from collector.query.watermarks import RollupWatermarks
from collector.query.windows import Window
from collector.sites.schemas import Site

WEIGHTS: Mapping[str, float] = {"LCP": 30, "INP": 30, "CLS": 15, "FCP": 15, "TTFB": 10}
# (value scoring 0.9, value scoring 0.5): Sentry's PERFORMANCE_SCORE_P90S and _MEDIANS.
CONTROL_POINTS: Mapping[str, tuple[float, float]] = {
    "LCP": (1200.0, 2400.0),
    "INP": (200.0, 500.0),
    "CLS": (0.1, 0.25),
    "FCP": (900.0, 1600.0),
    "TTFB": (200.0, 400.0),
}
_INVERSE_ERFC_ONE_FIFTH = 0.9061938024368232


def log_normal_score(value: float, *, p10: float, median: float) -> float:
    """Lighthouse's ``computeLogNormalScore``: 1 at 0, 0.9 at ``p10``, 0.5 at ``median``."""
    if value <= 0:
        return 1.0
    standardized = (
        math.log(max(value / median, 5e-324))
        * _INVERSE_ERFC_ONE_FIFTH
        / -math.log(max(p10 / median, 5e-324))
    )
    score = math.erfc(standardized) / 2
    # Lighthouse clamps so a value never crosses a control point through rounding.
    if value <= p10:
        return max(0.9, min(1.0, score))
    if value <= median:
        return max(0.5, min(0.8999999999999999, score))
    return max(0.0, min(0.49999999999999994, score))


def score_card(p75: Mapping[str, float | None]) -> ScoreCard:
    """The weighted 0-100 score of a set of p75 values (None when no metric has data)."""
    components = {
        metric: log_normal_score(
            value, p10=CONTROL_POINTS[metric][0], median=CONTROL_POINTS[metric][1]
        )
        for metric, value in p75.items()
        if value is not None and metric in WEIGHTS
    }
    weight = sum(WEIGHTS[metric] for metric in components)
    score = None
    if weight:
        score = round(100 * sum(WEIGHTS[m] * s for m, s in components.items()) / weight, 2)
    return ScoreCard(score=score, p75=dict(p75), components=components)


async def score(
    *,
    conn: AsyncConnection,
    site: Site,
    window: Window,
    filters: Mapping[str, str] | None = None,
    limit: int = 10,
    watermarks: RollupWatermarks | None = None,
) -> Scores:
    """The site's score and the scores of its ``limit`` busiest routes, worst first."""
    metrics = tuple(WEIGHTS)
    chosen = dict(filters or {})
    site_level = covering_level(set(chosen))
    routes_level = covering_level({*chosen, "route"})
    if site_level is None or routes_level is None:
        # Every route's p75s are needed to rank routes: only rollups give them quickly.
        raise InvalidInput(
            "scores are read from the route rollups, which keep route with device only; "
            "allowed filters: device",
            details={"field": "filters", "allowed": ["device"]},
        )
    site_selection = Selection(site.id, metrics, window, chosen)
    routes_selection = Selection(site.id, metrics, window, chosen, group_by="route")
    site_p75 = await rollup_percentiles(
        conn, site_selection, site_level, (0.75,), watermarks=watermarks
    )
    card = score_card({m: site_p75.get((m, None, None), {}).get(0.75) for m in metrics})
    tallies = await rollup_tallies(conn, routes_selection, routes_level, watermarks=watermarks)
    views: dict[str, int] = {}
    for (_metric, route, _slot), tally in tallies.items():
        views[route or ""] = max(views.get(route or "", 0), tally.count)
    busiest = sorted(views, key=lambda route: (-views[route], route))[:limit]
    route_p75 = await rollup_percentiles(
        conn,
        routes_selection.restricted_to(busiest),
        routes_level,
        (0.75,),
        watermarks=watermarks,
    )
    routes = []
    for route in busiest:
        p75 = {m: route_p75.get((m, route, None), {}).get(0.75) for m in metrics}
        routes.append(RouteScore(route=route, count=views[route], **score_card(p75).model_dump()))
    routes.sort(key=lambda r: (r.score if r.score is not None else 101, -r.count))
    return Scores(
        site=site.key,
        start=window.start,
        end=window.end,
        source="rollups",
        site_score=card,
        routes=routes,
    )
