"""The objects the lifespan owns, exposed to routes and the hot path as typed state, and
the event writer as a collector runs it (the demo loader writes through it too)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from collector.config import Settings
from collector.ingest.service import BeaconIngestor
from collector.ingest.spool import Spool
from collector.ingest.writer import EventWriter
from collector.query.rollups import batch_needs_rollups, roll_up_batch
from collector.query.watermarks import RollupWatermarks
from collector.sites.cache import SiteCache
from collector.telemetry.service import Telemetry


@dataclass(slots=True, kw_only=True)
class Runtime:
    """What a running collector holds: built by the lifespan, torn down with it."""

    settings: Settings
    engine: AsyncEngine
    writer: EventWriter
    site_cache: SiteCache
    ingestor: BeaconIngestor
    telemetry: Telemetry
    # The rollup watermarks read by this process's queries, remembered from start to stop.
    watermarks: RollupWatermarks = field(default_factory=RollupWatermarks)


def event_writer(
    engine: AsyncEngine, settings: Settings, telemetry: Telemetry, spool: Spool | None = None
) -> EventWriter:
    """The event writer as the collector runs it (the demo loader writes through it too)."""
    writer = EventWriter(
        engine,
        batch_window=settings.ingest_batch_window_ms / 1000,
        max_queue=settings.ingest_queue_max_metrics,
        max_batch=settings.ingest_batch_max_metrics,
        recent_capacity=settings.ingest_recent_ids,
        metrics=telemetry.metrics,
        tracing=telemetry.tracing,
        spool=spool,
        commit_timeout=settings.ingest_commit_timeout,
    )
    # Rollups commit with the raw rows of a batch, or are left to the roller.
    writer.add_batch_hook(roll_up_batch, needed=batch_needs_rollups)
    return writer


def open_spool(settings: Settings) -> Spool | None:
    """This process's spool for database outages, or None when it is turned off (size 0)."""
    if settings.spool_max_bytes == 0:
        return None
    spool = Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes)
    spool.open()
    return spool
