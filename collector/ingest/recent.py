"""The bounded memory of recently stored metric instances, for re-reports.

web-vitals sends CLS and INP again (same ``id``, new ``value``) when a page is
hidden a second time. The database decides whether an id was stored before
(``storage/metric_ids``); the writer remembers the last ``capacity`` ids it stored
itself, with their rows' timestamps, so that a re-report of one of them goes straight
to its row instead of through the claim. The row itself is always read from the
database: another process may have replaced its value since.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from itertools import islice

from collector.storage.metric_ids import ReportKey, key_of
from collector.storage.records import EventRecord


class RecentReports:
    """A least-recently-stored memory of where each metric id's row is (its timestamp).

    >>> recent = RecentReports(capacity=2)
    >>> recent.remember([record])
    >>> recent.stored_at(key_of(record)) == record.ts
    True
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        # Datetimes and tuples of strings: nothing the garbage collector walks.
        self._stored_at: dict[ReportKey, datetime] = {}

    def __len__(self) -> int:
        return len(self._stored_at)

    def stored_at(self, key: ReportKey) -> datetime | None:
        """The timestamp of the row stored for ``key``, if it is still remembered."""
        return self._stored_at.get(key)

    def knows(self, key: ReportKey) -> bool:
        """Whether this process stored the metric instance ``key`` (and still remembers)."""
        return key in self._stored_at

    def remember(self, records: Iterable[EventRecord]) -> None:
        """Note ``records`` as stored at their timestamps, evicting the oldest."""
        if self.capacity == 0:
            return
        store = self._stored_at
        for record in records:
            key = key_of(record)
            # Re-inserting moves the key to the end: dicts keep insertion order.
            store.pop(key, None)
            store[key] = record.ts
        overflow = len(store) - self.capacity
        if overflow > 0:
            for key in list(islice(store, overflow)):
                del store[key]
