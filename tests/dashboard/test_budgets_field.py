"""The budgets view's field parts: lab versus field, and stored field regressions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

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


async def test_budgets_view_explains_lab_versus_field_when_empty(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    await log_in(client, site.read_token)
    html = (await client.get(f"/dashboard/sites/{site.key}/budgets")).text
    assert "No page has both Lighthouse runs and real-user data yet" in html
