"""Field (RUM) budgets: checked by POST /api/v1/budgets/check against data the writer stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.budgets.field.config import validate_field_budgets
from collector.sites.schemas import CreatedSite
from collector.storage.tables import budget_builds, budget_checks
from tests.budgets.helpers import build, site_headers
from tests.budgets.test_check_api import count, post_check
from tests.factories import event, make_site


async def write_lcp(
    app: FastAPI, site: CreatedSite, values: list[float], *, route: str, device: str
) -> None:
    """Store LCP reports from the last hours through the app's own event writer."""
    now = datetime.now(UTC)
    records = [
        event(
            site_id=site.id,
            ts=now - timedelta(minutes=5 + i % 120),
            value=value,
            route=route,
            device=device,
        )
        for i, value in enumerate(values)
    ]
    await app.state.runtime.writer.write(records)


async def api_p75(client: httpx.AsyncClient, site: CreatedSite, **filters: str) -> float:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    response = await client.get(
        f"/api/v1/sites/{site.key}/summary?metric=LCP&from=7d&{query}", headers=site_headers(site)
    )
    assert response.status_code == 200, response.text
    value: float = response.json()["metrics"]["LCP"]["p75"]
    return value


def field_results(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["url"] + " " + r["level"]: r for r in report["results"] if r["source"] == "field"}


async def test_field_budgets_compare_the_query_engines_p75_with_their_limits(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    await write_lcp(
        app, site, [2000 + 10 * i for i in range(100)], route="/checkout", device="mobile"
    )
    await write_lcp(app, site, [900 + i for i in range(50)], route="/", device="desktop")
    checkout_p75 = await api_p75(client, site, page="/checkout", device="mobile")
    assert 2700 < checkout_p75 < 2800
    budgets = [
        {"metric": "LCP", "max": 2500, "route": "/checkout", "device": "mobile", "level": "error"},
        {"metric": "LCP", "percentile": 75, "max": 1000, "route": "/", "window": "7d"},
        {"metric": "LCP", "max": 900, "route": "/", "level": "warn"},
    ]
    response = await post_check(
        client, site_headers(site), build=build("f1"), field_budgets=budgets
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["verdict"] == "fail"
    results = field_results(report)
    checkout = results["field /checkout on mobile error"]
    assert checkout["actual"] == pytest.approx(checkout_p75)
    assert checkout["expected"] == 2500
    assert checkout["passed"] is False
    assert checkout["audit_id"] == "LCP"
    assert checkout["audit_property"] == "p75"
    assert "from 100 samples" in checkout["message"]
    home = results["field / error"]
    assert home["actual"] == pytest.approx(await api_p75(client, site, page="/"))
    assert home["passed"] is True
    assert results["field / warn"]["passed"] is False

    warn_only = await post_check(
        client, site_headers(site), build=build("f2"), field_budgets=budgets[1:]
    )
    assert warn_only.json()["verdict"] == "warn"
    assert await count(engine, budget_checks) == 2


async def test_a_window_without_data_is_a_no_data_warning_not_a_pass(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    budgets = [{"metric": "INP", "max": 200, "route": "/new-page", "level": "error"}]
    response = await post_check(
        client, site_headers(site), build=build("n1"), field_budgets=budgets
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["verdict"] == "warn"
    (result,) = report["results"]
    assert result["passed"] is False
    assert result["level"] == "warn"
    assert result["actual"] is None
    assert result["message"].startswith("no data: no INP samples on /new-page in the last 7d")


async def test_field_budgets_from_a_lighthouserc_and_from_the_stored_config(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    await write_lcp(app, site, [1500.0] * 40, route="/", device="mobile")
    rc = {"ci": {}, "perfbeacon": {"fieldBudgets": [{"metric": "LCP", "max": 2500}]}}
    response = await post_check(client, site_headers(site), build=build("r1"), lighthouserc=rc)
    assert response.status_code == 200, response.text
    assert response.json()["verdict"] == "pass"
    assert response.json()["results"][0]["actual"] == pytest.approx(1500, rel=0.01)

    stored = await client.put(
        "/api/v1/budgets/config",
        json={"field_budgets": [{"metric": "LCP", "max": 1000, "device": "mobile"}]},
        headers=site_headers(site),
    )
    assert stored.status_code == 200, stored.text
    assert stored.json()["field_budgets"][0]["window"] == "7d"
    again = await post_check(client, site_headers(site), build=build("r2"))
    assert again.json()["verdict"] == "fail"
    assert again.json()["results"][0]["url"] == "field all routes on mobile"


@pytest.mark.parametrize(
    ("budgets", "named"),
    [
        ([{"metric": "LCPX", "max": 1}], "field_budgets[0].metric: unknown value 'LCPX'"),
        ([{"metric": "LCP", "max": 1, "speed": 2}], "field_budgets[0]: unknown option(s) speed"),
        ([{"metric": "LCP", "max": 1, "window": "3d"}], "field_budgets[0].window: unknown value"),
        ([{"metric": "LCP", "max": "fast"}], "field_budgets[0].max: must be a number"),
        ([{"metric": "LCP", "max": 1, "percentile": 80}], "field_budgets[0].percentile"),
        ([{"metric": "LCP", "max": 1, "device": "watch"}], "field_budgets[0].device"),
        ([{"metric": "LCP", "max": 1, "level": "off"}], "field_budgets[0].level"),
        ([{"metric": "LCP", "max": 1, "route": "checkout"}], "field_budgets[0].route"),
        ([{"max": 1}], "field_budgets[0]: metric missing"),
        (["LCP"], "field_budgets[0]: must be an object"),
    ],
)
async def test_bad_field_budgets_are_refused_naming_the_problem_and_nothing_is_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, budgets: list[Any], named: str
) -> None:
    site = await make_site(engine)
    response = await post_check(
        client, site_headers(site), build=build("b1"), field_budgets=budgets
    )
    assert response.status_code == 400, response.text
    assert named.replace("field_budgets", "fieldBudgets") in response.json()["error"]["message"]
    assert await count(engine, budget_builds) == 0


async def test_unknown_options_in_the_lighthouserc_section_are_refused(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    rc = {"ci": {}, "perfbeacon": {"fieldBudget": []}}
    response = await post_check(client, site_headers(site), build=build("b2"), lighthouserc=rc)
    assert response.status_code == 400
    assert "lighthouserc.perfbeacon: unknown option(s) fieldBudget" in response.text


def test_a_budgets_route_is_grouped_as_the_ingest_groups_paths() -> None:
    (budget,) = validate_field_budgets([{"metric": "LCP", "max": 2500, "route": "/product/42/"}])
    assert budget.route == "/product/:id"
    assert budget.describe() == "p75 LCP ≤ 2500 on /product/:id over 7d"
