"""The one writer task per process: group commit of concurrent beacons.

Requests hand their records to ``write`` and wait; the writer task takes
everything queued (after a short window that lets concurrent beacons join), writes
it in one transaction - COPY of first reports, UPDATE of re-reports, then the
batch hooks (rollups) - commits, and only then wakes the waiting requests. After
the commit, listeners (the live feed) are told what was stored.

>>> writer = EventWriter(engine, batch_window=0.001, max_queue=50_000,
...                      max_batch=5_000, recent_capacity=200_000)
>>> writer.add_batch_hook(rollup_hook)      # async (conn, inserted, replaced) -> None
>>> await writer.start()
>>> await writer.write(records)             # returns once committed
>>> await writer.stop()

With ``metrics`` and ``tracing`` (perfbeacon's telemetry) it reports its queue depth,
batch sizes and commit latency, and traces each batch and its commit, linked to the
traced requests it carries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter

import msgspec
import structlog
from opentelemetry.trace import Link
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector.errors import Unavailable
from collector.ingest.recent import RecentReports, ReportKey, report_key
from collector.storage.events import append_events, insert_events, replace_events
from collector.storage.partitions import ensure_partitions
from collector.storage.records import EventRecord
from collector.telemetry.metrics import Metrics
from collector.telemetry.tracing import Tracing

Replacement = tuple[EventRecord, EventRecord]
BatchHook = Callable[
    [AsyncConnection, Sequence[EventRecord], Sequence[Replacement]], Awaitable[None]
]
AfterCommitListener = Callable[[Sequence[EventRecord], Sequence[Replacement]], None]

# web-vitals reports these again under the same id (CLS and INP when the page is
# hidden again, LCP with reportAllChanges); FCP, TTFB and FID once per id.
RE_REPORTED_METRICS = frozenset({"CLS", "INP", "LCP"})

logger = structlog.get_logger(__name__)


class WriterOverloaded(Unavailable):
    """The writer's queue is full; the beacon was not accepted."""

    code = "overloaded"


class StorageUnavailable(Unavailable):
    """The batch holding the beacon could not be committed."""

    code = "storage_unavailable"


@dataclass(slots=True)
class _Pending:
    records: Sequence[EventRecord]
    # The span of the request that sent the records, when it is traced.
    link: Link | None = None
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(slots=True)
class _Plan:
    inserts: list[EventRecord] = field(default_factory=list)
    replacements: list[Replacement] = field(default_factory=list)


class EventWriter:
    """Batches records from concurrent requests into one transaction each."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        batch_window: float,
        max_queue: int,
        max_batch: int,
        recent_capacity: int,
        batch_hooks: Sequence[BatchHook] = (),
        listeners: Sequence[AfterCommitListener] = (),
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._tracing = tracing or Tracing.disabled()
        self._batch_window = batch_window
        self._max_queue = max_queue
        self._max_batch = max_batch
        self._recent = RecentReports(recent_capacity)
        self._batch_hooks = list(batch_hooks)
        self._listeners = list(listeners)
        self._pending: list[_Pending] = []
        self._queued = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None

    def add_batch_hook(self, hook: BatchHook) -> None:
        """Run ``hook(conn, inserted, replaced)`` in every batch's transaction, before commit."""
        self._batch_hooks.append(hook)

    def add_listener(self, listener: AfterCommitListener) -> None:
        """Call ``listener(inserted, replaced)`` after every commit; it must not block."""
        self._listeners.append(listener)

    def remove_listener(self, listener: AfterCommitListener) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    @property
    def queued(self) -> int:
        """Records waiting for a batch."""
        return self._queued

    @property
    def saturated(self) -> bool:
        """True when the queue is nearly full, so new beacons may be refused."""
        return self._queued >= self._max_queue * 0.9

    async def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.create_task(self._run(), name="event-writer")

    async def stop(self) -> None:
        """Refuse new writes, commit what is queued, and end the task."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        await self._close_connection()

    async def write(self, records: Sequence[EventRecord]) -> None:
        """Queue ``records`` and return once the transaction holding them has committed."""
        if self._closing or self._task is None or self._task.done():
            raise StorageUnavailable("the collector is shutting down; retry later")
        if self._queued + len(records) > self._max_queue:
            raise WriterOverloaded(
                "the collector is overloaded; retry later",
                details={"queued": self._queued},
            )
        pending = _Pending(records, self._tracing.request_link())
        self._pending.append(pending)
        self._queued += len(records)
        if self._metrics is not None:
            self._metrics.set_writer_queue_depth(self._queued)
        self._wakeup.set()
        await pending.done

    async def _run(self) -> None:
        # Once closing, keep committing until the queue is empty, then end.
        while not (self._closing and not self._pending):
            await self._wakeup.wait()
            if self._batch_window and not self._closing and self._queued < self._max_batch:
                # Let the beacons arriving right now join this transaction.
                await asyncio.sleep(self._batch_window)
            batch = self._take_batch()
            if batch:
                await self._write_batch(batch)

    def _take_batch(self) -> list[_Pending]:
        taken, size = 0, 0
        for pending in self._pending:
            if taken and size + len(pending.records) > self._max_batch:
                break
            taken += 1
            size += len(pending.records)
        batch, self._pending = self._pending[:taken], self._pending[taken:]
        self._queued -= size
        if self._metrics is not None:
            self._metrics.set_writer_queue_depth(self._queued)
        if not self._pending:
            self._wakeup.clear()
        return batch

    async def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            await self._commit(batch)
        except Exception as exc:
            if len(batch) > 1 and not _is_connection_error(exc):
                # One beacon's data must not cost the others theirs: retry alone.
                for pending in batch:
                    await self._write_batch([pending])
                return
            logger.warning("event_batch_failed", beacons=len(batch), error=repr(exc))
            _settle(batch, StorageUnavailable("the events could not be stored; retry later"))
            return
        _settle(batch, None)

    async def _commit(self, batch: list[_Pending]) -> None:
        records = [record for pending in batch for record in pending.records]
        started = perf_counter()
        links = [pending.link for pending in batch]
        with (
            self._tracing.ingest_batch(links=links, size=len(records)),
            self._tracing.db_commit(rows=len(records)),
        ):
            try:
                plan = await self._commit_once(records)
            except Exception as exc:
                if not _is_missing_partition(exc):
                    raise
                await self._create_partitions_for(records)
                plan = await self._commit_once(records)
        if self._metrics is not None:
            self._metrics.observe_writer_batch(
                size=len(records), commit_seconds=perf_counter() - started
            )
        stored = [*plan.inserts, *(new for _, new in plan.replacements)]
        self._recent.remember(r for r in stored if r.metric in RE_REPORTED_METRICS)
        self._notify(plan)

    async def _commit_once(self, records: list[EventRecord]) -> _Plan:
        plan = self._plan(records)
        conn = await self._connection()
        try:
            if not plan.replacements and not self._batch_hooks:
                # Nothing else to write with the rows: one statement, no transaction.
                await append_events(conn, plan.inserts)
                return plan
            async with conn.begin():
                await insert_events(conn, plan.inserts)
                await replace_events(conn, plan.replacements)
                for hook in self._batch_hooks:
                    await hook(conn, plan.inserts, plan.replacements)
        except BaseException:
            await self._close_connection()
            raise
        return plan

    def _plan(self, records: list[EventRecord]) -> _Plan:
        """Split a batch into first reports (COPY) and re-reports (UPDATE).

        A re-report is known only from the recent-reports cache. On a cache miss -
        the first report was evicted, came before a restart, or reached another
        collector process - the re-report is stored as a new row, so that page view
        counts twice (once with each value). Looking every report up in the table
        instead would make every first report pay for a unique index, which this
        design avoids; the cache holds ``recent_capacity`` instances (minutes to
        hours of traffic) and re-reports come within a page's lifetime, so misses
        are rare with one collector process. FCP, TTFB and FID are reported once
        per id, so they skip all of this.
        """
        plan = _Plan()
        staged: dict[ReportKey, int] = {}
        replacing: dict[ReportKey, int] = {}
        for record in records:
            if record.metric not in RE_REPORTED_METRICS:
                plan.inserts.append(record)
                continue
            key = report_key(record)
            if (index := staged.get(key)) is not None:
                plan.inserts[index] = _updated(plan.inserts[index], record)
            elif (index := replacing.get(key)) is not None:
                old, _ = plan.replacements[index]
                plan.replacements[index] = (old, _updated(old, record))
            elif (old := self._recent.get(key)) is not None:
                replacing[key] = len(plan.replacements)
                plan.replacements.append((old, _updated(old, record)))
            else:
                staged[key] = len(plan.inserts)
                plan.inserts.append(record)
        return plan

    def _notify(self, plan: _Plan) -> None:
        for listener in self._listeners:
            try:
                listener(plan.inserts, plan.replacements)
            except Exception:
                logger.exception("event_listener_failed", listener=repr(listener))

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            self._conn = await self._engine.connect()
        return self._conn

    async def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def _create_partitions_for(self, records: list[EventRecord]) -> None:
        days = sorted({record.ts.date() for record in records})
        async with self._engine.begin() as conn:
            await ensure_partitions(conn, first_day=days[0], days=(days[-1] - days[0]).days + 1)


def _updated(stored: EventRecord, report: EventRecord) -> EventRecord:
    """``stored`` carrying the newer report's value; it keeps its row (and timestamp)."""
    return msgspec.structs.replace(
        stored,
        value=report.value,
        delta=report.delta,
        rating=report.rating,
        attribution=report.attribution,
    )


def _settle(batch: list[_Pending], error: Exception | None) -> None:
    for pending in batch:
        if pending.done.done():
            continue  # the request went away; its records were written all the same
        if error is None:
            pending.done.set_result(None)
        else:
            pending.done.set_exception(error)


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _is_missing_partition(exc: BaseException) -> bool:
    return "no partition of relation" in str(exc)
