"""Lab versus field: where Lighthouse (lab) and real users (field) disagree on a page.

For each URL with Lighthouse runs, the URL's path is grouped into the route the ingest
files beacons under; then the median lab value of LCP, CLS and TBT is checked against its
limit and the field p75 of LCP, CLS and INP (TBT's field counterpart) against its own.
Limits are the configuration's (``maxNumericValue`` assertions for the lab, field budgets
for the field) or else the Web Vitals "good" thresholds (Lighthouse's 200 ms for TBT).
A row disagrees when one side passes and the other fails. Field data is read for the
device class Lighthouse emulated (its ``formFactor``: mobile or desktop), or for all
devices when the run does not say.

>>> rows = await lab_versus_field(conn=conn, site=site, runs=summaries, config=config, now=now)
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncConnection

from collector.budgets.lab.assert_config import resolve
from collector.budgets.lab.config import BudgetConfig
from collector.budgets.lab.jsport import kebab_case
from collector.budgets.lhci.builds import list_builds, run_summaries
from collector.budgets.lhci.projects import list_projects
from collector.query.service import summarize
from collector.query.windows import resolve_window
from collector.route_groups import route_of
from collector.sites.schemas import Site
from collector.vitals import THRESHOLDS

FIELD_WINDOW = "7d"
FORM_FACTORS = ("mobile", "desktop")
MAX_ROUTES = 50


@dataclass(frozen=True, slots=True)
class Pair:
    """A lab audit and the field metric it stands for, with their default limits."""

    audit: str
    metric: str
    lab_limit: float
    field_limit: float


# Lighthouse scores TBT up to 200 ms as good; TBT is no Web Vital, so it has no entry in
# THRESHOLDS.
GOOD_TBT_MS = 200.0
PAIRS: tuple[Pair, ...] = (
    Pair("largest-contentful-paint", "LCP", THRESHOLDS["LCP"][0], THRESHOLDS["LCP"][0]),
    Pair("cumulative-layout-shift", "CLS", THRESHOLDS["CLS"][0], THRESHOLDS["CLS"][0]),
    # INP has no lab measure; TBT is the lab proxy Lighthouse recommends.
    Pair("total-blocking-time", "INP", GOOD_TBT_MS, THRESHOLDS["INP"][0]),
)


@dataclass(frozen=True, slots=True)
class LabFieldRow:
    """One URL × metric pair with both lab runs and field samples."""

    url: str
    route: str
    device: str | None
    audit: str
    metric: str
    lab_value: float
    lab_limit: float
    lab_runs: int
    field_p75: float
    field_limit: float
    field_samples: int

    @property
    def lab_passes(self) -> bool:
        """Whether the lab median is within its limit."""
        return self.lab_value <= self.lab_limit

    @property
    def field_passes(self) -> bool:
        """Whether the field p75 is within its limit."""
        return self.field_p75 <= self.field_limit

    @property
    def disagreement(self) -> str | None:
        """``lab passes, field fails``, ``lab fails, field passes``, or None when they agree."""
        if self.lab_passes == self.field_passes:
            return None
        return "lab passes, field fails" if self.lab_passes else "lab fails, field passes"

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "url": self.url,
            "route": self.route,
            "device": self.device,
            "audit": self.audit,
            "metric": self.metric,
            "lab_value": self.lab_value,
            "lab_limit": self.lab_limit,
            "lab_runs": self.lab_runs,
            "lab_passes": self.lab_passes,
            "field_p75": self.field_p75,
            "field_limit": self.field_limit,
            "field_samples": self.field_samples,
            "field_passes": self.field_passes,
            "agrees": self.disagreement is None,
            "disagreement": self.disagreement,
        }


def route_of_url(url: str) -> str:
    """The route group the ingest gives the path of ``url``."""
    try:
        path = urlsplit(url).path or "/"
    except ValueError:
        path = "/"
    return route_of(path if path.startswith("/") else "/" + path)


LabKey = tuple[str, str | None]


def form_factor(run: Mapping[str, Any]) -> str | None:
    """The device class a run emulated (``mobile``/``desktop``), from an LHR or a summary."""
    settings = run.get("configSettings")
    value = settings.get("formFactor") if isinstance(settings, dict) else run.get("formFactor")
    return value if value in FORM_FACTORS else None


def lab_values(runs: Sequence[Mapping[str, Any]]) -> dict[LabKey, dict[str, list[float]]]:
    """Per (final URL, form factor), each paired audit's numeric values over the runs."""
    found: dict[LabKey, dict[str, list[float]]] = {}
    for run in runs:
        audits = run.get("audits") or {}
        per_url = found.setdefault((str(run.get("finalUrl")), form_factor(run)), {})
        for pair in PAIRS:
            value = (audits.get(pair.audit) or {}).get("numericValue")
            if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
                per_url.setdefault(pair.audit, []).append(float(value))
    return found


async def lab_versus_field(
    *,
    conn: AsyncConnection,
    site: Site,
    runs: Sequence[Mapping[str, Any]],
    config: BudgetConfig | None,
    now: datetime,
) -> list[LabFieldRow]:
    """Rows for every URL × metric with both lab values and field samples, disagreements first."""
    lab = lab_values(runs)
    scopes = list(dict.fromkeys((route_of_url(url), device) for url, device in lab))
    window = resolve_window(FIELD_WINDOW, None, now=now, max_span=timedelta(days=7))
    metrics = tuple(pair.metric for pair in PAIRS)
    field = {}
    for route, device in scopes[:MAX_ROUTES]:
        filters = {"route": route} | ({"device": device} if device else {})
        summary = await summarize(
            conn=conn, site=site, window=window, metrics=metrics, filters=filters
        )
        field[(route, device)] = summary.metrics
    rows = []
    for (url, device), values in lab.items():
        route = route_of_url(url)
        for pair in PAIRS:
            stats = field.get((route, device), {}).get(pair.metric)
            if not values.get(pair.audit) or stats is None or not stats.count or stats.p75 is None:
                continue
            rows.append(
                LabFieldRow(
                    url=url,
                    route=route,
                    device=device,
                    audit=pair.audit,
                    metric=pair.metric,
                    lab_value=statistics.median(values[pair.audit]),
                    lab_limit=_lab_limit(config, pair),
                    lab_runs=len(values[pair.audit]),
                    field_p75=stats.p75,
                    field_limit=_field_limit(config, pair, route),
                    field_samples=stats.count,
                )
            )
    return sorted(rows, key=lambda r: (r.disagreement is None, r.route, r.metric))


def _lab_limit(config: BudgetConfig | None, pair: Pair) -> float:
    """The configuration's ``maxNumericValue`` on the audit (the lowest), else the default."""
    limits = []
    if config is not None and config.assert_options is not None:
        for options in resolve(config.assert_options):
            for key, assertion in (options.get("assertions") or {}).items():
                if kebab_case(key) != pair.audit or not isinstance(assertion, list):
                    continue
                if assertion[0] == "off" or len(assertion) < 2:
                    continue
                bounds = assertion[1] if isinstance(assertion[1], dict) else {}
                limit = bounds.get("maxNumericValue")
                if isinstance(limit, int | float) and not isinstance(limit, bool):
                    limits.append(float(limit))
    return min(limits, default=pair.lab_limit)


def _field_limit(config: BudgetConfig | None, pair: Pair, route: str) -> float:
    """The lowest p75 field budget on the metric for this route or all routes, else the default."""
    budgets = (config.field_budgets if config is not None else None) or ()
    limits = [
        budget.max
        for budget in budgets
        if budget.metric == pair.metric
        and budget.percentile == 75
        and budget.device is None
        and budget.route in (None, route)
    ]
    return min(limits, default=pair.field_limit)


async def latest_lab_versus_field(
    *, conn: AsyncConnection, site: Site, config: BudgetConfig | None, now: datetime
) -> list[LabFieldRow]:
    """Lab versus field for the newest sealed build of each of the site's projects
    (on its base branch when there is one there)."""
    summaries: list[Mapping[str, Any]] = []
    for project in await list_projects(conn=conn, site_id=site.id):
        newest = await list_builds(
            conn=conn, project_id=project.id, branch=project.base_branch, lifecycle="sealed"
        )
        newest = newest or await list_builds(conn=conn, project_id=project.id, lifecycle="sealed")
        if newest:
            runs = await run_summaries(conn=conn, build_id=newest[0].id)
            summaries += [run["summary"] for run in runs]
    return await lab_versus_field(conn=conn, site=site, runs=summaries, config=config, now=now)
