"""A batch's plan: first reports to COPY, and re-reports that UPDATE the row they replace.

Which is which the database decides: a first report claims its metric id
(``storage/metric_ids``), and a report of an id claimed before - by this process, another
one, another collector, before a restart or from a spool file - replaces that id's row,
read and locked as it is stored now, so rollup corrections subtract the value really
there. The recent-reports cache only spares the claim for ids this process stored.

>>> plan = await plan_batch(conn, records, recent)                 # inside the transaction
>>> plan = await plan_batch(conn, records, recent, replay=True)    # spooled records
>>> plan.inserts, plan.replacements
>>> stored, taken = await append_claiming(conn, records, recent)   # one statement (PostgreSQL)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.ingest.recent import RecentReports
from collector.storage import metric_ids
from collector.storage.events import find_events
from collector.storage.metric_ids import ReportKey, key_of
from collector.storage.records import EventRecord
from collector.vitals import RE_REPORTED_METRICS

# A stored row (as stored) and the record that overwrites it.
Replacement = tuple[EventRecord, EventRecord]


@dataclass(slots=True)
class Plan:
    """What a batch writes: new rows, and stored rows overwritten by newer reports."""

    inserts: list[EventRecord] = field(default_factory=list)
    replacements: list[Replacement] = field(default_factory=list)


def needs_claims(records: Iterable[EventRecord]) -> bool:
    """Whether any record may be a re-report (CLS, INP, LCP), which the database decides."""
    return any(record.metric in RE_REPORTED_METRICS for record in records)


def first_reports_only(records: list[EventRecord]) -> Plan:
    """The plan of a batch of FCP, TTFB and FID reports: web-vitals sends those once per
    id, so every one is a new row."""
    return Plan(inserts=records)


async def plan_batch(
    conn: AsyncConnection,
    records: list[EventRecord],
    recent: RecentReports,
    *,
    replay: bool = False,
) -> Plan:
    """Split a batch into first reports and re-reports, against the database's claims.

    Reports of one id in the batch become one report with the latest value. On
    ``replay`` every spooled record is also looked for at its own timestamp: its batch
    may have committed after all (the connection broke after COMMIT was sent).
    """
    merged = _merge_by_id(records)
    rows_at: dict[ReportKey, datetime] = {}
    unclaimed: list[EventRecord] = []
    for key, record in merged.items():
        known = recent.stored_at(key)
        if known is not None:
            rows_at[key] = known
        elif record.metric in RE_REPORTED_METRICS:
            unclaimed.append(record)
        elif replay:
            rows_at[key] = record.ts
    rows_at.update(await metric_ids.claim(conn, unclaimed))
    stored = await find_events(
        conn,
        [(site_id, metric, ts, metric_id) for (site_id, metric, metric_id), ts in rows_at.items()],
        for_update=True,
    )
    plan = Plan()
    moved: list[EventRecord] = []
    for key, record in merged.items():
        found = stored.get(key)
        if found is not None:
            plan.replacements.append((found, _updated(found, record)))
            continue
        plan.inserts.append(record)
        if key in rows_at and record.metric in RE_REPORTED_METRICS:
            moved.append(record)
    # Claimed, but its row is gone (past retention): the new row takes the claim.
    await metric_ids.move_claims(conn, moved)
    return plan


async def append_claiming(
    conn: AsyncConnection, records: list[EventRecord], recent: RecentReports
) -> tuple[list[EventRecord], list[EventRecord]] | None:
    """Claim and store a batch in one statement, outside any transaction (PostgreSQL), when
    it holds no id this process stored; None when it does (``plan_batch`` then plans it).

    Answers (stored, claimed before): the reports of ids another process claimed first
    were not stored; they are re-reports, for ``plan_batch`` in a transaction.
    """
    merged = _merge_by_id(records)
    if any(recent.knows(key) for key in merged):
        return None
    taken = await metric_ids.claim_and_append(conn, list(merged.values()))
    stored = [record for key, record in merged.items() if key not in taken]
    return stored, [record for key, record in merged.items() if key in taken]


def _merge_by_id(records: list[EventRecord]) -> dict[ReportKey, EventRecord]:
    """One record per metric id, in order of first appearance, with its latest value."""
    merged: dict[ReportKey, EventRecord] = {}
    for record in records:
        key = key_of(record)
        earlier = merged.get(key)
        merged[key] = record if earlier is None else _updated(earlier, record)
    return merged


def _updated(stored: EventRecord, report: EventRecord) -> EventRecord:
    """``stored`` carrying the newer report's value; it keeps its row (and timestamp)."""
    return msgspec.structs.replace(
        stored,
        value=report.value,
        delta=report.delta,
        rating=report.rating,
        attribution=report.attribution,
    )
