"""Producers that exist report to the telemetry: budget checks count by verdict."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.budgets.helpers import FAST_ASSERTIONS, build, runs, site_headers
from tests.factories import make_site


async def _budget_checks_by_verdict(client: httpx.AsyncClient) -> dict[str, float]:
    text = (await client.get("/metrics")).text
    return {
        sample.labels["verdict"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "perfbeacon_budget_checks_total"
    }


async def test_budget_checks_are_counted_by_verdict(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    for build_hash, lhrs in [("w1", "v1-index"), ("f1", "v1-heavy"), ("f2", "v1-heavy")]:
        response = await client.post(
            "/api/v1/budgets/check",
            json={"build": build(build_hash), "lhrs": runs(lhrs), "assert": FAST_ASSERTIONS},
            headers=site_headers(site),
        )
        assert response.status_code == 200, response.text
    refused = await client.post("/api/v1/budgets/check", json={}, headers=site_headers(site))
    assert refused.status_code == 422

    assert await _budget_checks_by_verdict(client) == {"warn": 1, "fail": 2}
