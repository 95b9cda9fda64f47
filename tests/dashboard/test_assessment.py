"""The Core Web Vitals assessment of a view: passed, failed, or not enough data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.query.windows import resolve_window
from dashboard.figures import FieldView, MetricSummary
from dashboard.vitals import VITALS
from tests.dashboard.conftest import log_in
from tests.factories import make_site, sample, store_events

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def view_of(p75s: dict[str, float]) -> FieldView:
    """A view whose metrics have these p75s and no samples for the others."""
    summaries = {
        name: MetricSummary(
            vital=vital,
            count=1 if name in p75s else 0,
            p75=p75s.get(name),
            good=None,
            needs_improvement=None,
            poor=None,
            previous_p75=None,
        )
        for name, vital in VITALS.items()
    }
    return FieldView(window=resolve_window("24h", None, now=NOW), summaries=summaries)


@pytest.mark.parametrize(
    ("p75s", "verdict", "unrated"),
    [
        ({"LCP": 2000, "INP": 150, "CLS": 0.05}, True, []),
        # No interactions: INP is left out, as Google's field tools do.
        ({"LCP": 2000, "CLS": 0.05}, True, ["INP"]),
        ({"LCP": 2000, "INP": 150, "CLS": 0.2}, False, []),
        # One metric that is not good fails it, whatever is missing.
        ({"LCP": 4500}, False, ["INP", "CLS"]),
        ({"INP": 600}, False, ["LCP", "CLS"]),
        # Good so far, but without LCP or CLS there is nothing to assess.
        ({"LCP": 1234.5}, None, ["INP", "CLS"]),
        ({"CLS": 0.01, "INP": 100}, None, ["LCP"]),
        ({}, None, ["LCP", "INP", "CLS"]),
    ],
)
def test_the_assessment_needs_lcp_and_cls_and_fails_on_any_metric_not_good(
    p75s: dict[str, float], verdict: bool | None, unrated: list[str]
) -> None:
    view = view_of(p75s)
    assert view.passes_core_web_vitals is verdict
    assert view.unrated_core_vitals == unrated


async def test_a_site_with_one_lcp_beacon_is_not_assessed(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    recent = datetime.now(UTC) - timedelta(hours=1)
    await store_events(engine, [sample(site.id, "LCP", 1234.5, ts=recent, route="/only")])
    await log_in(client, site.read_token)

    html = (await client.get(f"/dashboard/sites/{site.key}")).text

    assert "Core Web Vitals assessment: not enough data" in html
    assert "INP and CLS have no samples in this window" in html
    assert "Passed" not in html
