"""A batch's plan: first reports to COPY, and re-reports that UPDATE the row they replace.

>>> plan = plan_batch(records, recent.get)             # re-reports known from the cache
>>> plan = await plan_replay(conn, records, recent)    # spooled records, against the table
>>> plan.inserts, plan.replacements
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.ingest.recent import RecentReports, ReportKey, report_key
from collector.storage.events import find_events
from collector.storage.records import EventRecord
from collector.vitals import RE_REPORTED_METRICS

# A stored row (as stored) and the record that overwrites it.
Replacement = tuple[EventRecord, EventRecord]


@dataclass(slots=True)
class Plan:
    """What a batch writes: new rows, and stored rows overwritten by newer reports."""

    inserts: list[EventRecord] = field(default_factory=list)
    replacements: list[Replacement] = field(default_factory=list)


def plan_batch(
    records: list[EventRecord],
    stored: Callable[[ReportKey], EventRecord | None],
    *,
    every_metric: bool = False,
) -> Plan:
    """Split a batch into first reports (COPY) and re-reports (UPDATE of ``stored(key)``).

    A re-report is known only from the recent-reports cache. On a cache miss -
    the first report was evicted, came before a restart, or reached another
    collector process - the re-report is stored as a new row, so that page view
    counts twice (once with each value). Looking every report up in the table
    instead would make every first report pay for a unique index, which this
    design avoids; the cache holds ``recent_capacity`` instances (minutes to
    hours of traffic) and re-reports come within a page's lifetime, so misses
    are rare with one collector process. FCP, TTFB and FID are reported once
    per id, so they skip all of this, unless ``every_metric`` (replays) asks.
    """
    plan = Plan()
    staged: dict[ReportKey, int] = {}
    replacing: dict[ReportKey, int] = {}
    for record in records:
        if not every_metric and record.metric not in RE_REPORTED_METRICS:
            plan.inserts.append(record)
            continue
        key = report_key(record)
        if (index := staged.get(key)) is not None:
            plan.inserts[index] = _updated(plan.inserts[index], record)
        elif (index := replacing.get(key)) is not None:
            old, _ = plan.replacements[index]
            plan.replacements[index] = (old, _updated(old, record))
        elif (found := stored(key)) is not None:
            replacing[key] = len(plan.replacements)
            plan.replacements.append((found, _updated(found, record)))
        else:
            staged[key] = len(plan.inserts)
            plan.inserts.append(record)
    return plan


async def plan_replay(
    conn: AsyncConnection, records: list[EventRecord], recent: RecentReports
) -> Plan:
    """Plan spooled records against the rows the database holds right now.

    A spooled batch may have committed after all (the connection broke after
    COMMIT was sent), and the recent-reports cache does not know. So every
    record is looked up where it would be stored - at the timestamp of the row
    the cache knows for its id, else at its own - and a record found there
    replaces that row (same value: no change, rollups moved by zero) instead
    of adding a second one.
    """
    keys = []
    for record in records:
        known = recent.get(report_key(record))
        ts = record.ts if known is None else known.ts
        keys.append((record.site_id, record.metric, ts, record.metric_id))
    stored = await find_events(conn, keys)
    return plan_batch(records, stored.get, every_metric=True)


def _updated(stored: EventRecord, report: EventRecord) -> EventRecord:
    """``stored`` carrying the newer report's value; it keeps its row (and timestamp)."""
    return msgspec.structs.replace(
        stored,
        value=report.value,
        delta=report.delta,
        rating=report.rating,
        attribution=report.attribution,
    )
