"""The bounded memory of recently stored metric instances, for re-reports.

web-vitals sends CLS and INP again (same ``id``, new ``value``) when a page is
hidden a second time. The database decides whether an id was stored before
(``storage/metric_ids``); the writer remembers the last ``capacity`` ids it stored
itself, with their rows' timestamps, so that a re-report of one of them goes straight
to its row instead of through the claim.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import msgspec

from collector.storage.records import EventRecord

ReportKey = tuple[int, str, str]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict).decode


class _Remembered(msgspec.Struct, gc=False):
    """A stored record with its attribution as JSON bytes.

    Hundreds of thousands of remembered records must not be objects the garbage
    collector walks: a record without its attribution dict holds only strings and
    numbers, and bytes are not tracked either.
    """

    record: EventRecord
    attribution: bytes | None


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
        self._records: dict[ReportKey, _Remembered] = {}

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: ReportKey) -> EventRecord | None:
        """The record stored for ``key``, if it is still remembered."""
        remembered = self._records.get(key)
        if remembered is None:
            return None
        if remembered.attribution is None:
            return remembered.record
        return msgspec.structs.replace(
            remembered.record, attribution=_decode(remembered.attribution)
        )

    def knows(self, key: ReportKey) -> bool:
        """Whether this process stored the metric instance ``key`` (and still remembers)."""
        return key in self._records

    def remember(self, records: Iterable[EventRecord]) -> None:
        """Note ``records`` as the stored state of their keys, evicting the oldest."""
        if self.capacity == 0:
            return
        store = self._records
        for record in records:
            key = (record.site_id, record.metric, record.metric_id)
            # Re-inserting moves the key to the end: dicts keep insertion order.
            store.pop(key, None)
            if record.attribution is None:
                store[key] = _Remembered(record, None)
            else:
                bare = msgspec.structs.replace(record, attribution=None)
                store[key] = _Remembered(bare, _encode(record.attribution))
        overflow = len(store) - self.capacity
        if overflow > 0:
            for key in list(islice(store, overflow)):
                del store[key]
