"""The one writer task per process: group commit of concurrent beacons.

Requests hand their records to ``write`` and wait; the writer task takes
everything queued (after a short window that lets concurrent beacons join), writes
it - the claims of new metric ids, the first reports' rows, the re-reports' updates
(``plan.py``), then the batch hooks (rollups) - commits, and only then wakes the
waiting requests. After the commit, listeners (the live feed) are told what was stored.
A batch no hook needs is one statement that commits on its own, without BEGIN and
COMMIT: a COPY when it holds only FCP, TTFB and FID (sent once per id: nothing to
claim), else, on PostgreSQL, one statement that claims the ids and stores the rows
whose claim won; re-reports of ids other processes claimed follow in a transaction.

>>> writer = EventWriter(engine, batch_window=0.001, max_queue=50_000,
...                      max_batch=5_000, recent_capacity=200_000)
>>> writer.add_batch_hook(rollup_hook, needed=has_rollup_work)
>>> # rollup_hook: async (conn, inserted, replaced) -> None; has_rollup_work: the same -> bool
>>> await writer.start()
>>> await writer.write(records)             # returns once committed
>>> await writer.stop()

With a ``spool`` the writer survives a database outage (``outage.Outage``): a batch
that cannot commit because the database is unreachable is appended to the spool
(fsync'd) and its beacons are acknowledged, and the spool is replayed in order once
the database answers; a replayed record already in the database (its batch did
commit after all) replaces itself, so replay stores each report exactly once.

With ``metrics`` and ``tracing`` (perfbeacon's telemetry) it reports its queue depth,
batch sizes and commit latency, and traces each batch and its commit, linked to the
traced requests it carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import TypeVar

import structlog
from opentelemetry.trace import Link
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector.errors import Unavailable
from collector.ingest.connection import WriterConnection
from collector.ingest.outage import Outage
from collector.ingest.plan import (
    Plan,
    Replacement,
    append_claiming,
    first_reports_only,
    needs_claims,
    plan_batch,
)
from collector.ingest.recent import RecentReports
from collector.ingest.spool import Frame, Spool, SpoolFull
from collector.storage.errors import (
    is_connection_error,
    is_unreachable,
    may_be_missing_partition,
)
from collector.storage.events import append_events, insert_events, replace_events
from collector.storage.records import EventRecord
from collector.telemetry.metrics import Metrics
from collector.telemetry.tracing import Tracing
from collector.vitals import RE_REPORTED_METRICS

BatchHook = Callable[
    [AsyncConnection, Sequence[EventRecord], Sequence[Replacement]], Awaitable[None]
]
BatchCheck = Callable[[AsyncConnection, Sequence[EventRecord], Sequence[Replacement]], bool]
AfterCommitListener = Callable[[Sequence[EventRecord], Sequence[Replacement]], None]
_T = TypeVar("_T")

logger = structlog.get_logger(__name__)


class WriterOverloaded(Unavailable):
    """The writer's queue is full; the beacon was not accepted."""

    code = "overloaded"


class StorageUnavailable(Unavailable):
    """The batch holding the beacon could not be committed."""

    code = "storage_unavailable"
    retry_after = 5


@dataclass(slots=True)
class _Pending:
    records: Sequence[EventRecord]
    # The span of the request that sent the records, when it is traced.
    link: Link | None = None
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


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
        spool: Spool | None = None,
        commit_timeout: float | None = None,
    ) -> None:
        self._db = WriterConnection(engine, commit_timeout=commit_timeout)
        self._outage = Outage(
            spool,
            max_batch=max_batch,
            metrics=metrics,
            commit=self._commit_replayed,
            in_transaction=self._db.in_transaction,
        )
        self._deadline: float | None = None
        self._metrics = metrics
        self._tracing = tracing or Tracing.disabled()
        self._batch_window = batch_window
        self._max_queue = max_queue
        self._max_batch = max_batch
        self._recent = RecentReports(recent_capacity)
        self._batch_hooks: list[tuple[BatchHook, BatchCheck | None]] = [
            (hook, None) for hook in batch_hooks
        ]
        self._listeners = list(listeners)
        self._pending: list[_Pending] = []
        self._queued = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def add_batch_hook(self, hook: BatchHook, *, needed: BatchCheck | None = None) -> None:
        """Run ``hook(conn, inserted, replaced)`` in every batch's transaction, before commit.

        With ``needed``, only in the batches for which ``needed(conn, inserted, replaced)``
        is true, asked before the batch is written.
        """
        self._batch_hooks.append((hook, needed))

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

    @property
    def database_reachable(self) -> bool:
        """False from a failed attempt to reach the database until one succeeds."""
        return self._outage.reachable

    @property
    def spooled_bytes(self) -> int:
        """Bytes acknowledged into the spool and not yet replayed."""
        return self._outage.spooled_bytes

    async def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.create_task(self._run(), name="event-writer")

    async def stop(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Refuse new writes, commit (or spool) what is queued, replay the spool, end.

        Replaying the spool stops at ``timeout`` seconds or when the database is
        unreachable; what is left stays on disk for the next start.
        """
        self._closing = True
        if timeout is not None:
            self._deadline = time.monotonic() + timeout
        self._wakeup.set()
        if self._task is not None:
            await self._task
        await self._db.close()

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
        outage = self._outage
        while not self._finished():
            await self._wait_for_work()
            if self._batch_window and not self._closing and self._queued < self._max_batch:
                # Let the beacons arriving right now join this transaction.
                await asyncio.sleep(self._batch_window)
            batch = self._take_batch()
            if batch:
                try:
                    await self._write_batch(batch)
                except Exception as exc:
                    # E.g. the spool's disk failing: answer these beacons, keep the task.
                    logger.exception("event_batch_failed", beacons=len(batch), error=repr(exc))
                    _settle(batch, StorageUnavailable("the events could not be stored; retry"))
            if outage.replay_due():
                await outage.replay()

    def _finished(self) -> bool:
        # Once closing, keep committing until the queue is empty and the spool is
        # replayed (or cannot be now), then end.
        if not self._closing or self._pending:
            return False
        return not self._outage.replay_wanted(self._deadline)

    async def _wait_for_work(self) -> None:
        delay = self._outage.retry_in()
        if delay is None:
            await self._wakeup.wait()
            return
        # Spooled work waits for the database: wake up for new beacons or the next retry.
        if delay == 0.0:
            await asyncio.sleep(0)  # let requests queue between replayed frames
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wakeup.wait()

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
        outage = self._outage
        if outage.must_spool:
            # Behind spooled reports (order matters for re-reports), or the database
            # is known to be down: spool without waiting for a connection attempt.
            await self._spool_batch(batch)
            return
        try:
            await self._commit(batch)
        except Exception as exc:
            if outage.has_spool and is_unreachable(exc):
                outage.failed(exc)
                await self._spool_batch(batch)
                return
            if len(batch) > 1 and not is_connection_error(exc):
                # One beacon's data must not cost the others theirs: retry alone.
                for pending in batch:
                    await self._write_batch([pending])
                return
            logger.warning("event_batch_failed", beacons=len(batch), error=repr(exc))
            _settle(batch, StorageUnavailable("the events could not be stored; retry later"))
            return
        outage.reached()
        _settle(batch, None)

    async def _spool_batch(self, batch: list[_Pending]) -> None:
        records = [record for pending in batch for record in pending.records]
        try:
            await self._outage.spool(records)
        except SpoolFull as exc:
            _settle(batch, exc)
            return
        except OSError as exc:  # the disk is full or failing: nothing is acknowledged
            logger.error("spool_write_failed", error=repr(exc))
            _settle(batch, StorageUnavailable("the events could not be stored; retry later"))
            return
        _settle(batch, None)

    async def _commit(self, batch: list[_Pending]) -> None:
        records = [record for pending in batch for record in pending.records]
        await self._commit_records(records, links=[pending.link for pending in batch])

    async def _commit_replayed(self, records: list[EventRecord], last: Frame) -> None:
        await self._commit_records(records, links=[], replay=last)

    async def _commit_records(
        self, records: list[EventRecord], *, links: list[Link | None], replay: Frame | None = None
    ) -> None:
        """Commit ``records``; ``replay`` is the last spooled frame they come from, if any."""
        started = perf_counter()
        with (
            self._tracing.ingest_batch(links=links, size=len(records)),
            self._tracing.db_commit(rows=len(records)),
        ):
            try:
                plan = await self._commit_once(records, replay=replay)
            except Exception as exc:
                # Retried once: a wrong guess costs one ensure_partitions and one retry.
                if not may_be_missing_partition(exc):
                    raise
                await self._db.create_partitions_for(records)
                plan = await self._commit_once(records, replay=replay)
        if self._metrics is not None:
            self._metrics.observe_writer_batch(
                size=len(records), commit_seconds=perf_counter() - started
            )
        stored = [*plan.inserts, *(new for _, new in plan.replacements)]
        self._recent.remember(r for r in stored if r.metric in RE_REPORTED_METRICS)
        self._notify(plan)

    async def _commit_once(self, records: list[EventRecord], *, replay: Frame | None) -> Plan:
        conn = await self._db.get()
        watchdog = self._db.watch(conn)
        try:
            # Each hook is asked once about a batch of first reports, again only when
            # the plan found re-reports in it.
            hooks = (
                None if replay is not None else self._hooks_for(conn, first_reports_only(records))
            )
            if hooks == []:
                appended = await self._append_alone(conn, records)
                if appended is not None:
                    return appended
            async with conn.begin():
                plan = await plan_batch(conn, records, self._recent, replay=replay is not None)
                if hooks is None or plan.replacements:
                    hooks = self._hooks_for(conn, plan)
                await self._write_plan(conn, plan, hooks)
                if replay is not None:
                    await self._outage.record_progress(conn, replay)
        except BaseException:
            await self._db.close()
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
        return plan

    async def _append_alone(self, conn: AsyncConnection, records: list[EventRecord]) -> Plan | None:
        """Store a batch no hook needs in one statement that commits on its own, and its
        re-reports of ids other processes claimed in a transaction after it; None when the
        batch must be planned in a transaction from the start."""
        if not needs_claims(records):
            # Nothing to claim (FCP, TTFB, FID): the rows are all the batch writes.
            await append_events(conn, records)
            return first_reports_only(records)
        if conn.dialect.name != "postgresql" or await self._db.is_citus(conn):
            return None
        appended = await append_claiming(conn, records, self._recent)
        if appended is None:
            return None
        stored, taken = appended
        if not taken:
            return Plan(inserts=stored)
        async with conn.begin():
            rest = await plan_batch(conn, taken, self._recent)
            await self._write_plan(conn, rest, self._hooks_for(conn, rest))
        return Plan(inserts=[*stored, *rest.inserts], replacements=rest.replacements)

    def _hooks_for(self, conn: AsyncConnection, plan: Plan) -> list[BatchHook]:
        """The hooks that have work in this batch."""
        return [
            hook
            for hook, needed in self._batch_hooks
            if needed is None or needed(conn, plan.inserts, plan.replacements)
        ]

    async def _write_plan(
        self, conn: AsyncConnection, plan: Plan, hooks: Sequence[BatchHook]
    ) -> None:
        await insert_events(conn, plan.inserts)
        await replace_events(conn, plan.replacements)
        for hook in hooks:
            await hook(conn, plan.inserts, plan.replacements)

    def _notify(self, plan: Plan) -> None:
        for listener in self._listeners:
            try:
                listener(plan.inserts, plan.replacements)
            except Exception:
                logger.exception("event_listener_failed", listener=repr(listener))


def _settle(batch: list[_Pending], error: Exception | None) -> None:
    for pending in batch:
        if pending.done.done():
            continue  # the request went away; its records were written all the same
        if error is None:
            pending.done.set_result(None)
        else:
            pending.done.set_exception(error)
