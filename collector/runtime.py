"""The objects the lifespan owns, exposed to routes and the hot path as typed state."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from collector.config import Settings
from collector.ingest.service import BeaconIngestor
from collector.ingest.writer import EventWriter
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
