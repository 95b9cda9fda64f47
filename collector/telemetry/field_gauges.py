"""Field data as Prometheus gauges: p75 per site × metric × device (and per listed route),
and the field regressions of each site's latest daily check.

The values come from the query services on a timer (``refresh_forever``), never per
scrape: a scrape only reads the last snapshot. They are not written to
prometheus-client's multiprocess files at all: every process computes the same values
from the shared database, and the process answering a scrape exports its own snapshot,
so each series appears once, never summed across workers (which ``livesum`` would do)
nor left behind by a dead worker (which ``max`` would do).

Series bound per site: 5 metrics × 4 devices of ``perfbeacon_field_p75``, 5 metrics ×
20 listed routes of ``perfbeacon_field_route_p75``, and 5 metrics × 11 scopes of
``perfbeacon_field_regression``: at most 175, for at most ``field_gauge_max_sites`` sites.

>>> snapshot = FieldSnapshot()
>>> registry.register(FieldCollector(snapshot))
>>> await refresh(engine=engine, snapshot=snapshot, settings=settings)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector.budgets.field.config import FIELD_METRICS
from collector.budgets.field.regressions import latest_regressions
from collector.config import Settings
from collector.query.service import break_down, summarize
from collector.query.windows import Window, resolve_window
from collector.sites import service as sites_service
from collector.sites.schemas import Site

logger = structlog.get_logger(__name__)

HOUR = 3600
DAY = 86400

Labels = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FieldValues:
    """One refresh's values, by label tuple."""

    device_p75: dict[Labels, float] = field(default_factory=dict)
    route_p75: dict[Labels, float] = field(default_factory=dict)
    regressions: dict[Labels, float] = field(default_factory=dict)


class FieldSnapshot:
    """The latest values; replaced whole by each refresh, read by scrapes."""

    def __init__(self) -> None:
        self.values = FieldValues()


class FieldCollector(Collector):
    """Exposes a snapshot's values as gauges at scrape time."""

    def __init__(self, snapshot: FieldSnapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """The three gauge families of the latest snapshot."""
        values = self._snapshot.values
        yield _family(
            "perfbeacon_field_p75",
            "p75 of a Web Vital from real users over the last window (ms; CLS unitless).",
            ["site", "metric", "device"],
            values.device_p75,
        )
        yield _family(
            "perfbeacon_field_route_p75",
            "p75 of a Web Vital on a route the site lists, over the window's whole UTC days.",
            ["site", "metric", "route"],
            values.route_p75,
        )
        yield _family(
            "perfbeacon_field_regression",
            "Relative p75 worsening flagged by the latest daily field check (route * = site).",
            ["site", "metric", "route"],
            values.regressions,
        )


def _family(
    name: str, documentation: str, labels: list[str], values: dict[Labels, float]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for label_values, value in sorted(values.items()):
        family.add_metric(list(label_values), value)
    return family


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
    windows = gauge_windows(settings, now=now)
    values = FieldValues()
    async with engine.connect() as conn:
        every = await sites_service.list_sites(conn=conn)
        for site in every[: settings.field_gauge_max_sites]:
            routes = settings.field_gauge_routes.get(site.name, [])
            await _site_values(conn, site, windows, routes, values)
            # One short read transaction per site, not one spanning every site.
            await conn.rollback()
        for name, flag in await latest_regressions(conn=conn):
            values.regressions[(name, flag.metric, flag.route)] = flag.change.relative_change
        await conn.rollback()
    snapshot.values = values


async def _site_values(
    conn: AsyncConnection,
    site: Site,
    windows: tuple[Window, Window],
    routes: Sequence[str],
    values: FieldValues,
) -> None:
    window, route_window = windows
    for metric in FIELD_METRICS:
        devices = await break_down(
            conn=conn, site=site, window=window, metric=metric, by="device", limit=4
        )
        for row in devices.rows:
            if row.value is not None and row.p75 is not None:
                values.device_p75[(site.name, metric, row.value)] = row.p75
    for route in routes:
        summary = await summarize(
            conn=conn,
            site=site,
            window=route_window,
            metrics=FIELD_METRICS,
            filters={"route": route},
        )
        for metric, stats in summary.metrics.items():
            if stats.p75 is not None:
                values.route_p75[(site.name, metric, route)] = stats.p75


async def refresh_forever(
    *, engine: AsyncEngine, snapshot: FieldSnapshot, settings: Settings
) -> None:
    """``refresh`` every ``field_gauge_interval_seconds`` until cancelled; errors are logged."""
    while True:
        try:
            await refresh(engine=engine, snapshot=snapshot, settings=settings)
        except Exception:
            # Scrapes keep the last good values until a refresh succeeds again.
            logger.exception("field_gauges_refresh_failed")
        await asyncio.sleep(settings.field_gauge_interval_seconds)
