"""The bounded memory of recently stored metric instances, for re-reports.

web-vitals sends CLS and INP again (same ``id``, new ``value``) when a page is
hidden a second time. The raw table has no unique index (so first reports can be
COPYed), so the writer remembers the last ``capacity`` stored records and turns a
re-report of one of them into an UPDATE of that row instead of a second row.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from collector.storage.records import EventRecord

ReportKey = tuple[int, str, str]


def report_key(record: EventRecord) -> ReportKey:
    """What makes two reports the same metric instance: site, metric name, metric id."""
    return (record.site_id, record.metric, record.metric_id)


class RecentReports:
    """A least-recently-stored cache of records by ``report_key``.

    >>> recent = RecentReports(capacity=2)
    >>> recent.remember([record])
    >>> recent.get(report_key(record)) is record
    True
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._records: dict[ReportKey, EventRecord] = {}

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: ReportKey) -> EventRecord | None:
        """The record stored for ``key``, if it is still remembered."""
        return self._records.get(key)

    def remember(self, records: Iterable[EventRecord]) -> None:
        """Note ``records`` as the stored state of their keys, evicting the oldest."""
        if self.capacity == 0:
            return
        store = self._records
        for record in records:
            key = (record.site_id, record.metric, record.metric_id)
            # Re-inserting moves the key to the end: dicts keep insertion order.
            store.pop(key, None)
            store[key] = record
        overflow = len(store) - self.capacity
        if overflow > 0:
            for key in list(islice(store, overflow)):
                del store[key]
