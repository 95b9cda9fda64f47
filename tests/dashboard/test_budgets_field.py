"""The budgets view's field parts: lab versus field, and stored field regressions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.budgets.field.regressions import check_site
from collector.sites.service import get_site
from tests.budgets.helpers import build, runs
from tests.dashboard.conftest import log_in
from tests.factories import make_site, sample, store_events


async def test_budgets_view_shows_where_lab_and_field_disagree(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    recent = datetime.now(UTC) - timedelta(hours=1)
    await store_events(
        engine,
        [sample(site.id, "LCP", 3100 + i, ts=recent, route="/index.html") for i in range(20)],
    )
    checked = await client.post(
        "/api/v1/budgets/check",
        headers={"Authorization": f"Bearer {site.read_token}"},
        json={
            "build": build("lab1"),
            "lhrs": runs("v1-index"),
            "assert": {"assertions": {"interactive": ["warn", {"maxNumericValue": 60000}]}},
        },
    )
    assert checked.status_code == 200, checked.text
    await log_in(client, site.read_token)

    html = (await client.get(f"/dashboard/sites/{site.key}/budgets")).text

    assert "Lab versus field" in html
    assert "1 disagrees." in html
    assert "Lab passes, field fails" in html
    assert ">/index.html</a>" in html
    assert "20 samples" in html
    assert "on mobile" in html


async def test_budgets_view_explains_lab_versus_field_when_empty(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    await log_in(client, site.read_token)
    html = (await client.get(f"/dashboard/sites/{site.key}/budgets")).text
    assert "No page has both Lighthouse runs and real-user data yet" in html


async def test_budgets_view_lists_the_daily_checks_flags(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    day = datetime.now(UTC).date() - timedelta(days=1)
    start = datetime.combine(day, time(), tzinfo=UTC)
    records = [
        sample(site.id, "LCP", value, ts=start - timedelta(days=days, minutes=i), route="/cart")
        for days, low in ((10, 1000), (3, 1400))
        for i, value in enumerate(low + 4 * n for n in range(250))
    ]
    await store_events(engine, records)
    async with engine.connect() as conn:
        stored = await get_site(conn=conn, key=site.key)
        result = await check_site(conn=conn, site=stored, day=day)
    assert ("LCP", "/cart") in {(r.metric, r.route) for r in result.regressions}
    await log_in(client, site.read_token)

    html = (await client.get(f"/dashboard/sites/{site.key}/budgets")).text

    assert "Field regressions" in html
    assert re.search(r"p75 LCP on <a href=\"[^\"]+\">/cart</a>", html)
    assert f"checked {day.isoformat()}" in html
    assert "p75 LCP on the whole site" in html


async def test_budgets_view_explains_the_daily_check_without_flags(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    await log_in(client, site.read_token)
    html = (await client.get(f"/dashboard/sites/{site.key}/budgets")).text
    assert "No field regression flagged in the last 30 days" in html
    assert f"/api/v1/sites/{site.key}/regressions" in html
