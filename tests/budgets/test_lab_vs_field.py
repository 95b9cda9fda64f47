"""Lab versus field: a check with Lighthouse runs reports, by route, where the lab verdict
and the field p75 disagree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.budgets.lab import report as report_format
from collector.budgets.lab.lab_vs_field import route_of_url
from collector.sites.schemas import CreatedSite
from tests.budgets.helpers import build, runs, site_headers
from tests.budgets.test_check_api import post_check
from tests.factories import event, make_site

LOOSE = {"assertions": {"interactive": ["warn", {"maxNumericValue": 60000}]}}


async def write_field(
    app: FastAPI,
    site: CreatedSite,
    metric: str,
    values: list[float],
    *,
    route: str,
    device: str = "mobile",
) -> None:
    ts = datetime.now(UTC) - timedelta(minutes=10)
    records = [
        event(site_id=site.id, ts=ts, metric=metric, value=v, route=route, device=device)
        for v in values
    ]
    await app.state.runtime.writer.write(records)


def rows_by(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["route"], row["metric"]): row for row in report["lab_vs_field"]}


def test_lighthouse_urls_map_to_the_routes_the_ingest_groups() -> None:
    assert route_of_url("http://127.0.0.1:8765/index.html") == "/index.html"
    assert route_of_url("https://shop.example/product/123?ref=ci") == "/product/:id"
    assert route_of_url("https://shop.example") == "/"


async def test_lab_and_field_disagreements_are_reported_by_route(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    # The index page is fast in the lab (LCP ≈ 870 ms) but slow for real users.
    await write_field(app, site, "LCP", [3000.0 + i for i in range(40)], route="/index.html")
    await write_field(app, site, "CLS", [0.02] * 40, route="/index.html")
    # The heavy page is slow in the lab (LCP ≈ 4200 ms) but fine for real users.
    await write_field(app, site, "LCP", [1500.0] * 40, route="/heavy.html")
    await write_field(app, site, "INP", [450.0] * 40, route="/heavy.html")
    response = await post_check(
        client,
        site_headers(site),
        build=build("lf1"),
        lhrs=runs("v1-index") + runs("v1-heavy"),
        **{"assert": LOOSE},
    )
    assert response.status_code == 200, response.text
    rows = rows_by(response.json())

    index_lcp = rows[("/index.html", "LCP")]
    assert index_lcp["disagreement"] == "lab passes, field fails"
    assert index_lcp["lab_value"] == pytest.approx(872.0)
    assert index_lcp["lab_runs"] == 3
    assert index_lcp["field_p75"] == pytest.approx(3030, rel=0.01)
    assert index_lcp["field_samples"] == 40
    assert (index_lcp["lab_limit"], index_lcp["field_limit"]) == (2500, 2500)

    heavy_lcp = rows[("/heavy.html", "LCP")]
    assert heavy_lcp["disagreement"] == "lab fails, field passes"
    assert heavy_lcp["url"] == "http://127.0.0.1:8765/heavy.html"
    # Lighthouse emulated a phone: the field side is mobile users only.
    assert heavy_lcp["device"] == "mobile"

    assert rows[("/index.html", "CLS")]["agrees"] is True
    # TBT stands in for INP in the lab: 3 ms of blocking, but 450 ms INP in the field.
    heavy_inp = rows[("/heavy.html", "INP")]
    assert heavy_inp["audit"] == "total-blocking-time"
    assert heavy_inp["disagreement"] == "lab passes, field fails"
    # Routes without field data for a metric give no row.
    assert ("/index.html", "INP") not in rows
    assert [r["agrees"] for r in response.json()["lab_vs_field"]][:3] == [False] * 3

    text = report_format.text(response.json())
    assert "lab vs field: /index.html LCP: lab passes, field fails" in text
    assert "lab LCP 872 (limit 2500), field p75" in text
    markdown = report_format.markdown(response.json())
    assert "**Lab and field disagree**" in markdown
    assert "| /heavy.html | INP | lab passes, field fails | lab TBT 3 (limit 200)" in markdown


async def test_the_configs_own_limits_are_used_on_both_sides(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    await write_field(app, site, "LCP", [3000.0] * 40, route="/index.html")
    strict_lab = {"assertions": {"largest-contentful-paint": ["warn", {"maxNumericValue": 800}]}}
    response = await post_check(
        client,
        site_headers(site),
        build=build("lf2"),
        lhrs=runs("v1-index"),
        field_budgets=[{"metric": "LCP", "max": 3500, "route": "/index.html", "level": "warn"}],
        **{"assert": strict_lab},
    )
    assert response.status_code == 200, response.text
    row = rows_by(response.json())[("/index.html", "LCP")]
    assert (row["lab_limit"], row["field_limit"]) == (800, 3500)
    assert row["lab_passes"] is False
    assert row["field_passes"] is True
    assert row["disagreement"] == "lab fails, field passes"


async def test_the_field_side_is_the_device_class_lighthouse_emulated(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    # Desktop users are slow, mobile users fast; the runs emulated a phone.
    await write_field(app, site, "LCP", [5000.0] * 30, route="/index.html", device="desktop")
    await write_field(app, site, "LCP", [1000.0] * 30, route="/index.html", device="mobile")
    response = await post_check(
        client, site_headers(site), build=build("lf3"), lhrs=runs("v1-index"), **{"assert": LOOSE}
    )
    row = rows_by(response.json())[("/index.html", "LCP")]
    assert row["field_samples"] == 30
    assert row["field_p75"] == pytest.approx(1000, rel=0.01)
    assert row["agrees"] is True
