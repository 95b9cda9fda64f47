"""Past the raw limit the views read rollups: the same figures, within the engine's 1 %."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.demo.generator import page_views
from dashboard import fielddata, fieldquery
from dashboard.filters import Filters
from tests.factories import make_site, store_events


@pytest.mark.parametrize("filters", [Filters(), Filters(device="mobile"), Filters(route="/")])
async def test_rollup_figures_match_the_exact_ones(engine: AsyncEngine, filters: Filters) -> None:
    site = await make_site(engine)
    now = datetime.now(UTC)
    records = [
        record.__class__(
            **{**{f: getattr(record, f) for f in record.__struct_fields__}, "site_id": site.id}
        )
        for hour in page_views(start=now - timedelta(days=13), end=now, per_hour=6)
        for record in hour
    ]
    await store_events(engine, records)

    async with engine.connect() as conn:
        rolled = await fieldquery.field_view(conn=conn, site=site, filters=filters, raw_limit=0)
        exact = await fielddata.field_view(conn=conn, site_id=site.id, filters=filters)

    assert rolled.samples == exact.samples > 0
    for name, summary in exact.summaries.items():
        assert rolled.summaries[name].p75 == pytest.approx(summary.p75, rel=0.011), name
        assert rolled.summaries[name].good == pytest.approx(summary.good, abs=0.02), name
    assert {row.route for row in rolled.routes} == {row.route for row in exact.routes}
    assert {row.route for row in rolled.devices} == {row.route for row in exact.devices}
    assert sum(p.count for p in rolled.trends["LCP"]) == exact.summaries["LCP"].count
