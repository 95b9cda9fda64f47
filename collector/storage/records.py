"""The normalized event record: what ingestion produces and storage and rollups consume.

Field order is the column order of the ``events`` table, so a record converts to a
COPY row with ``astuple`` and nothing else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class EventRecord(msgspec.Struct, gc=False):
    """One stored web-vitals metric report, enriched and ready to write."""

    site_id: int
    ts: datetime
    metric: str
    value: float
    delta: float
    rating: str | None
    metric_id: str
    navigation_type: str
    page_path: str
    route: str
    device: str
    browser: str
    os: str
    connection: str
    device_memory: float | None = None
    country: str | None = None
    attribution: dict[str, Any] | None = None


EVENT_COLUMNS: tuple[str, ...] = EventRecord.__struct_fields__
