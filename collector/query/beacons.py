"""What a site has sent lately: its newest beacons, and whether a route was seen at all."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, desc, select
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.query import service
from collector.query.timeutil import epoch_seconds, from_epoch
from collector.query.watermarks import RollupWatermarks
from collector.query.windows import Window
from collector.sites.schemas import Site
from collector.storage.tables import events
from collector.vitals import DAY, METRICS


async def recent_beacons(
    *, conn: AsyncConnection, site_id: int, metrics: Sequence[str], since: datetime, limit: int
) -> Sequence[Row[*tuple[Any, ...]]]:
    """The newest ``limit`` reports of a site since ``since``, newest first."""
    query = (
        select(
            events.c.ts,
            events.c.metric,
            events.c.value,
            events.c.rating,
            events.c.page_path,
            events.c.route,
            events.c.device,
            events.c.browser,
            events.c.connection,
        )
        .where(
            events.c.site_id == site_id,
            events.c.metric.in_(metrics),
            events.c.ts >= since,
        )
        .order_by(desc(events.c.ts))
        .limit(limit)
    )
    return (await conn.execute(query)).all()


async def route_seen(
    *,
    conn: AsyncConnection,
    site: Site,
    route: str,
    since: datetime,
    until: datetime,
    watermarks: RollupWatermarks | None = None,
) -> bool:
    """Whether the site reported any metric from ``route`` between ``since`` and ``until``.

    Read from the route rollups, over whole days around the two moments.
    """
    first, last = epoch_seconds(since), epoch_seconds(until)
    window = Window(from_epoch(first - first % DAY), from_epoch(-(-(last + 1) // DAY) * DAY))
    seen = await service.summarize(
        conn=conn,
        site=site,
        window=window,
        metrics=METRICS,
        filters={"route": route},
        watermarks=watermarks,
    )
    return any(stats.count for stats in seen.metrics.values())
