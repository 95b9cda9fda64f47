"""The daily field regression check: data through the writer, flags stored once per day,
listed by the API, run by ``perfbeacon field check``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.budgets.field.regressions import check_site
from collector.sites.schemas import CreatedSite
from collector.sites.service import get_site
from tests.budgets.helpers import site_headers
from tests.factories import event, make_site
from tests.processes import perfbeacon_env, run_perfbeacon

pytestmark = pytest.mark.citus

# The check of this day compares the 7 days before it with the 7 days before those.
DAY = datetime.now(UTC).date() - timedelta(days=1)


def spread(low: float, high: float, count: int) -> list[float]:
    return [low + (high - low) * i / (count - 1) for i in range(count)]


async def write(
    app: FastAPI, site: CreatedSite, *, days_before: int, route: str, values: list[float]
) -> None:
    """LCP reports ``days_before`` DAY, written by the app's own event writer."""
    start = datetime.combine(DAY, time(), tzinfo=UTC) - timedelta(days=days_before)
    records = [
        event(site_id=site.id, ts=start + timedelta(minutes=i), value=v, route=route)
        for i, v in enumerate(values)
    ]
    await app.state.runtime.writer.write(records)


async def site_with_history(app: FastAPI, engine: AsyncEngine) -> CreatedSite:
    site = await make_site(engine)
    # /checkout got 30 % slower; /home stayed the same; /rare got slower on too few samples.
    history = {10: ((1000, 2000), (1000, 2000)), 3: ((1300, 2600), (2000, 4000))}
    for days_before, (checkout, rare) in history.items():
        for route, values in (
            ("/checkout", spread(*checkout, 300)),
            ("/home", spread(800, 1600, 300)),
            ("/rare", spread(*rare, 30)),
        ):
            await write(app, site, days_before=days_before, route=route, values=values)
    return site


async def test_the_daily_check_flags_a_significant_worsening_once_per_day(
    client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine
) -> None:
    site = await site_with_history(app, engine)
    async with engine.connect() as conn:
        stored = await get_site(conn=conn, key=site.key)
        first = await check_site(conn=conn, site=stored, day=DAY)
        again = await check_site(conn=conn, site=stored, day=DAY)
    flagged = {(r.metric, r.route): r for r in first.regressions}
    assert first.computed is True
    assert ("LCP", "/checkout") in flagged
    assert ("LCP", "/home") not in flagged
    assert ("LCP", "/rare") not in flagged
    checkout = flagged[("LCP", "/checkout")].change
    assert checkout.relative_change == pytest.approx(0.3, abs=0.03)
    assert checkout.previous_count == checkout.current_count == 300
    assert checkout.p_value < 0.01
    assert again.computed is False
    assert {(r.metric, r.route) for r in again.regressions} == set(flagged)

    response = await client.get(f"/api/v1/sites/{site.key}/regressions", headers=site_headers(site))
    assert response.status_code == 200, response.text
    listed = response.json()["regressions"]
    assert {(r["metric"], r["route"]) for r in listed} == set(flagged)
    row = next(r for r in listed if r["route"] == "/checkout")
    assert row["day"] == DAY.isoformat()
    assert row["previous_p75"] == pytest.approx(checkout.previous_p75)
    assert row["window_days"] == 7


async def test_the_regressions_api_needs_the_sites_read_token(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    other = await make_site(engine)
    assert (await client.get(f"/api/v1/sites/{site.key}/regressions")).status_code == 401
    wrong = await client.get(f"/api/v1/sites/{site.key}/regressions", headers=site_headers(other))
    assert wrong.status_code in (403, 404)
    bad = await client.get(
        f"/api/v1/sites/{site.key}/regressions?days=0", headers=site_headers(site)
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_request"


async def test_perfbeacon_field_check_runs_the_check_once_per_day(
    app: FastAPI, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    site = await site_with_history(app, engine)
    env = perfbeacon_env(database_url)
    first = run_perfbeacon("field", "check", "--day", DAY.isoformat(), env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    line = next(json.loads(x) for x in first.stdout.splitlines() if site.key in x)
    assert line["computed"] is True
    assert ("LCP", "/checkout") in {(r["metric"], r["route"]) for r in line["regressions"]}

    second = run_perfbeacon("field", "check", "--day", DAY.isoformat(), env=env, cwd=tmp_path)
    again = next(json.loads(x) for x in second.stdout.splitlines() if site.key in x)
    assert again["computed"] is False
    assert again["regressions"] == line["regressions"]

    bad = run_perfbeacon("field", "check", "--day", "yesterday", env=env, cwd=tmp_path)
    assert bad.returncode == 2
    assert "--day 'yesterday' is not a date" in bad.stderr
