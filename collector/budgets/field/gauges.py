"""The field gauges' values: p75 per site × metric × device (and per listed route), and the
field regressions of each site's latest daily check.

They are recomputed on a timer (the lifespan runs ``refresh``), never per scrape, and each refresh
is handed whole to a snapshot: telemetry's ``FieldSnapshot``, which its Prometheus
collector exposes (``collector/telemetry/field_gauges.py``).

Series bound per site: 5 metrics × 4 devices of ``perfbeacon_field_p75``, 5 metrics ×
20 listed routes of ``perfbeacon_field_route_p75``, and 5 metrics × 11 scopes of
``perfbeacon_field_regression``: at most 175, for at most ``field_gauge_max_sites`` sites.

>>> snapshot = FieldSnapshot()
>>> await refresh(engine=engine, snapshot=snapshot, settings=settings)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector.budgets.field.config import FIELD_METRICS
from collector.budgets.field.regressions import latest_regressions
from collector.config import Settings
from collector.query.service import break_down, summarize
from collector.query.windows import Window, resolve_window
from collector.sites import service as sites_service
from collector.sites.schemas import Site
from collector.telemetry.field_gauges import FieldSnapshot, Labels
from collector.vitals import DAY, HOUR

logger = structlog.get_logger(__name__)


def gauge_windows(settings: Settings, *, now: datetime) -> tuple[Window, Window]:
    """(device window, route window): the last ``field_gauge_window_hours`` snapped to hours,
    and the same snapped out to whole UTC days, because the rollups keep routes per day
    (an hour-snapped window by route would read raw rows every refresh)."""
    hours = settings.field_gauge_window_hours
    span = timedelta(hours=hours)
    by_hour = resolve_window(f"{hours}h", None, now=now, snap=HOUR, max_span=span)
    by_day = resolve_window(f"{hours}h", None, now=now, snap=DAY, max_span=span)
    return by_hour, by_day


async def refresh(*, engine: AsyncEngine, snapshot: FieldSnapshot, settings: Settings) -> None:
    """Recompute every value and swap the snapshot."""
    now = datetime.now(UTC)
    window, route_window = gauge_windows(settings, now=now)
    device_p75: dict[Labels, float] = {}
    route_p75: dict[Labels, float] = {}
    regressions: dict[Labels, float] = {}
    async with engine.connect() as conn:
        every = await sites_service.list_sites(conn=conn)
        for site in every[: settings.field_gauge_max_sites]:
            routes = settings.field_gauge_routes.get(site.name, [])
            device_p75.update(await _device_p75(conn, site, window))
            route_p75.update(await _route_p75(conn, site, route_window, routes))
            # One short read transaction per site, not one spanning every site.
            await conn.rollback()
        for name, flag in await latest_regressions(conn=conn):
            regressions[(name, flag.metric, flag.route)] = flag.change.relative_change
        await conn.rollback()
    snapshot.replace(device_p75=device_p75, route_p75=route_p75, regressions=regressions)


async def _device_p75(conn: AsyncConnection, site: Site, window: Window) -> dict[Labels, float]:
    values: dict[Labels, float] = {}
    for metric in FIELD_METRICS:
        devices = await break_down(
            conn=conn, site=site, window=window, metric=metric, by="device", limit=4
        )
        for row in devices.rows:
            if row.value is not None and row.p75 is not None:
                values[(site.name, metric, row.value)] = row.p75
    return values


async def _route_p75(
    conn: AsyncConnection, site: Site, window: Window, routes: Sequence[str]
) -> dict[Labels, float]:
    values: dict[Labels, float] = {}
    for route in routes:
        summary = await summarize(
            conn=conn, site=site, window=window, metrics=FIELD_METRICS, filters={"route": route}
        )
        for metric, stats in summary.metrics.items():
            if stats.p75 is not None:
                values[(site.name, metric, route)] = stats.p75
    return values
