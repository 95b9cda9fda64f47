"""The live feed: committed beacons fanned out to dashboard WebSocket clients.

Publishing never waits: each client has a small bounded queue, filled with
``put_nowait`` from the writer's after-commit hook; a client whose queue is full
is too slow to follow and is dropped, so one stalled browser can never hold up
ingestion or the other clients. The number of clients is bounded too.

>>> hub = LiveHub()
>>> with hub.subscribe(site_id=1) as subscription:
...     hub.publish(records)           # from the writer, after commit
...     message = await subscription.next_message()
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import msgspec

from collector.errors import Unavailable
from collector.storage.records import EventRecord

MAX_CLIENTS = 200
MAX_CLIENTS_PER_SITE = 50
QUEUE_SIZE = 64
MAX_BEACONS_PER_MESSAGE = 50

_encode = msgspec.json.Encoder().encode


class LiveFull(Unavailable):
    """Too many live clients are connected; the caller may retry later."""

    code = "live_full"


@dataclass(slots=True, eq=False)
class Subscription:
    """One client's view of the feed: a bounded queue of encoded messages."""

    site_id: int
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: asyncio.Event = field(default_factory=asyncio.Event)

    async def next_message(self) -> bytes | None:
        """The next message, or None once the client was dropped for being too slow."""
        if self.dropped.is_set():
            return None
        getter = asyncio.ensure_future(self.queue.get())
        dropped = asyncio.ensure_future(self.dropped.wait())
        done, pending = await asyncio.wait({getter, dropped}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return getter.result() if getter in done else None


class LiveHub:
    """Fans committed beacons out to the clients watching their site."""

    def __init__(
        self,
        *,
        max_clients: int = MAX_CLIENTS,
        max_clients_per_site: int = MAX_CLIENTS_PER_SITE,
        on_connect: Callable[[], None] = lambda: None,
        on_disconnect: Callable[[], None] = lambda: None,
    ) -> None:
        self._by_site: dict[int, set[Subscription]] = defaultdict(set)
        self._count = 0
        self.max_clients = max_clients
        self.max_clients_per_site = max_clients_per_site
        self.dropped_total = 0
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect

    @property
    def clients(self) -> int:
        """How many clients are connected now."""
        return self._count

    @contextmanager
    def subscribe(self, *, site_id: int) -> Iterator[Subscription]:
        """Register a client of ``site_id`` for the duration of the block (LiveFull if full)."""
        if self._count >= self.max_clients:
            raise LiveFull("too many live clients are connected; try again in a minute")
        watchers = self._by_site[site_id]
        if len(watchers) >= self.max_clients_per_site:
            raise LiveFull("too many live clients watch this site; try again in a minute")
        subscription = Subscription(site_id=site_id)
        watchers.add(subscription)
        self._count += 1
        self._on_connect()
        try:
            yield subscription
        finally:
            watchers.discard(subscription)
            if not watchers:
                del self._by_site[site_id]
            self._count -= 1
            self._on_disconnect()

    def publish(self, records: Sequence[EventRecord]) -> None:
        """Queue committed ``records`` for the clients of their sites; never blocks."""
        if not self._by_site:
            return
        by_site: dict[int, list[EventRecord]] = defaultdict(list)
        for record in records:
            if record.site_id in self._by_site:
                by_site[record.site_id].append(record)
        for site_id, site_records in by_site.items():
            message = encode_message(site_records)
            for subscription in self._by_site[site_id]:
                self._offer(subscription, message)

    def after_commit(
        self,
        inserted: Sequence[EventRecord],
        replaced: Sequence[tuple[EventRecord, EventRecord]],
    ) -> None:
        """The writer's after-commit listener: first reports and the new values of re-reports."""
        if not self._by_site:
            return
        self.publish([*inserted, *(new for _old, new in replaced)] if replaced else inserted)

    def _offer(self, subscription: Subscription, message: bytes) -> None:
        if subscription.dropped.is_set():
            return
        try:
            subscription.queue.put_nowait(message)
        except asyncio.QueueFull:
            # Too slow to keep up: better to drop this client than to buffer without bound.
            subscription.dropped.set()
            self.dropped_total += 1


def encode_message(records: Sequence[EventRecord]) -> bytes:
    """The JSON message for a batch of one site's records (the newest, at most 50)."""
    shown = records[-MAX_BEACONS_PER_MESSAGE:]
    return _encode(
        {
            "type": "beacons",
            "omitted": len(records) - len(shown),
            "beacons": [
                {
                    "ts": record.ts.isoformat(),
                    "metric": record.metric,
                    "value": record.value,
                    "rating": record.rating,
                    "page": record.page_path,
                    "route": record.route,
                    "device": record.device,
                    "browser": record.browser,
                    "connection": record.connection,
                }
                for record in shown
            ],
        }
    )
