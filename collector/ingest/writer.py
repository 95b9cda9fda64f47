"""The one writer task per process: group commit of concurrent beacons.

Requests hand their records to ``write`` and wait; the writer task takes
everything queued (after a short window that lets concurrent beacons join), writes
it in one transaction - COPY of first reports, UPDATE of re-reports, then the
batch hooks (rollups) - commits, and only then wakes the waiting requests. After
the commit, listeners (the live feed) are told what was stored. A batch of first
reports that no hook needs is one COPY statement, which commits on its own: without
BEGIN and COMMIT it costs the database one round trip instead of four.

>>> writer = EventWriter(engine, batch_window=0.001, max_queue=50_000,
...                      max_batch=5_000, recent_capacity=200_000)
>>> writer.add_batch_hook(rollup_hook, needed=has_rollup_work)
>>> # rollup_hook: async (conn, inserted, replaced) -> None; has_rollup_work: the same -> bool
>>> await writer.start()
>>> await writer.write(records)             # returns once committed
>>> await writer.stop()

With a ``spool`` the writer survives a database outage: a batch that cannot commit
because the database is unreachable is appended to the spool (fsync'd) and its
beacons are acknowledged; while anything is spooled, new batches are spooled
behind it, so the database sees every report in the order it arrived. The writer
retries the database with exponential backoff and replays the spool frame by
frame; a replayed record already in the database (its batch did commit after
all) replaces itself, so replay stores each report exactly once.

With ``metrics`` and ``tracing`` (perfbeacon's telemetry) it reports its queue depth,
batch sizes and commit latency, and traces each batch and its commit, linked to the
traced requests it carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter

import asyncpg
import msgspec
import structlog
from opentelemetry.trace import Link
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector.errors import Unavailable
from collector.ingest.recent import RecentReports, ReportKey, report_key
from collector.ingest.replay_progress import forget, record_replayed_to, replayed_to
from collector.ingest.spool import Frame, Spool, SpoolFull
from collector.storage.events import append_events, find_events, insert_events, replace_events
from collector.storage.partitions import ensure_partitions
from collector.storage.records import EventRecord
from collector.telemetry.metrics import Metrics
from collector.telemetry.tracing import Tracing

Replacement = tuple[EventRecord, EventRecord]
BatchHook = Callable[
    [AsyncConnection, Sequence[EventRecord], Sequence[Replacement]], Awaitable[None]
]
BatchCheck = Callable[[AsyncConnection, Sequence[EventRecord], Sequence[Replacement]], bool]
AfterCommitListener = Callable[[Sequence[EventRecord], Sequence[Replacement]], None]

# web-vitals reports these again under the same id (CLS and INP when the page is
# hidden again, LCP with reportAllChanges); FCP, TTFB and FID once per id.
RE_REPORTED_METRICS = frozenset({"CLS", "INP", "LCP"})

# Reconnection backoff: doubles from the first to the last, with jitter.
FIRST_RETRY_SECONDS = 0.1
LAST_RETRY_SECONDS = 5.0
# SQLSTATE classes that mean "the database cannot take writes now", not "bad data":
# connection exception, operator intervention (shutdown), insufficient resources.
_UNAVAILABLE_SQLSTATES = ("08", "57P", "53")
# SQLSTATE classes that mean "these records cannot be stored": data exception,
# integrity constraint violation. Only such spooled frames are set aside.
_REFUSED_DATA_SQLSTATES = ("22", "23")

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
        spool: Spool | None = None,
        commit_timeout: float | None = None,
    ) -> None:
        self._engine = engine
        self._commit_timeout = commit_timeout
        self._spool = spool
        self._retry_at = 0.0
        self._backoff = 0.0
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
        self._conn: AsyncConnection | None = None
        # Spool files whose replay offset was looked up in the database.
        self._resumed_files: set[str] = set()

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
        return self._backoff == 0.0

    @property
    def spooled_bytes(self) -> int:
        """Bytes acknowledged into the spool and not yet replayed."""
        return 0 if self._spool is None else self._spool.pending_bytes

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
        # Once closing, keep committing until the queue is empty and the spool is
        # replayed (or cannot be now), then end.
        while not (self._closing and not self._pending and not self._replay_wanted()):
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
            if self._replay_due():
                try:
                    await self._replay_frames()
                except Exception as exc:
                    # A spool file error: the frames stay on disk; try again later.
                    logger.exception("spool_replay_failed", error=repr(exc))
                    self._database_failed(exc)

    async def _wait_for_work(self) -> None:
        if self._spool is None or self._spool.empty:
            await self._wakeup.wait()
            return
        # Spooled work waits for the database: wake up for new beacons or the next retry.
        delay = max(0.0, self._retry_at - time.monotonic())
        if delay == 0.0:
            await asyncio.sleep(0)  # let requests queue between replayed frames
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wakeup.wait()

    def _replay_wanted(self) -> bool:
        """Whether the closing writer should still try to empty the spool."""
        if self._spool is None or self._spool.empty or not self.database_reachable:
            return False
        return self._deadline is None or time.monotonic() < self._deadline

    def _replay_due(self) -> bool:
        spool = self._spool
        return spool is not None and not spool.empty and time.monotonic() >= self._retry_at

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
        if self._spool is not None and (not self._spool.empty or time.monotonic() < self._retry_at):
            # Behind spooled reports (order matters for re-reports), or the database
            # is known to be down: spool without waiting for a connection attempt.
            await self._spool_batch(batch, self._spool)
            return
        try:
            await self._commit(batch)
        except Exception as exc:
            if self._spool is not None and _is_unreachable(exc):
                self._database_failed(exc)
                await self._spool_batch(batch, self._spool)
                return
            if len(batch) > 1 and not _is_connection_error(exc):
                # One beacon's data must not cost the others theirs: retry alone.
                for pending in batch:
                    await self._write_batch([pending])
                return
            logger.warning("event_batch_failed", beacons=len(batch), error=repr(exc))
            _settle(batch, StorageUnavailable("the events could not be stored; retry later"))
            return
        self._database_reached()
        _settle(batch, None)

    async def _spool_batch(self, batch: list[_Pending], spool: Spool) -> None:
        records = [record for pending in batch for record in pending.records]
        try:
            await spool.append(records)
        except SpoolFull as exc:
            _settle(batch, exc)
            return
        except OSError as exc:  # the disk is full or failing: nothing is acknowledged
            logger.error("spool_write_failed", error=repr(exc))
            _settle(batch, StorageUnavailable("the events could not be stored; retry later"))
            return
        if self._metrics is not None:
            self._metrics.metrics_spooled(len(records))
            self._metrics.set_spool_bytes(spool.pending_bytes)
        _settle(batch, None)

    async def _replay_frames(self) -> None:
        spool = self._spool
        if spool is None:
            return
        frames = await spool.next_frames(max_records=self._max_batch)
        if not frames:
            return
        records = [record for frame in frames for record in frame.records]
        try:
            if await self._skip_what_was_replayed(spool, frames[0]):
                return
            await self._commit_records(records, links=[], replay=frames[-1])
        except Exception as exc:
            if not _is_refused_data(exc):
                # Down, failing over, a deadlock or a timeout: acknowledged beacons wait
                # in the spool and are tried again after a backoff, never set aside.
                self._database_failed(exc)
                return
            if len(frames) > 1:
                # Find the frame the database refuses: replay them one by one.
                await self._replay_alone(spool, frames)
                return
            self._set_aside(spool, frames[0], exc)
            return
        self._replayed(spool, frames[-1], len(records))

    async def _replay_alone(self, spool: Spool, frames: list[Frame]) -> None:
        for frame in frames:
            try:
                await self._commit_records(frame.records, links=[], replay=frame)
            except Exception as exc:
                if not _is_refused_data(exc):
                    self._database_failed(exc)
                    return
                self._set_aside(spool, frame, exc)
                continue
            self._replayed(spool, frame, len(frame.records))

    async def _skip_what_was_replayed(self, spool: Spool, first: Frame) -> bool:
        """Skip the frames of ``first``'s file a process that died had replayed.

        Its offset was committed with those frames' rows (``replay_progress``); asked
        once per file. True when frames were skipped.
        """
        name = first.path.name
        if name in self._resumed_files:
            return False
        conn = await self._connection()
        try:
            async with conn.begin():
                done = await replayed_to(conn, name)
        except BaseException:
            await self._close_connection()
            raise
        self._resumed_files.add(name)
        if done <= first.start:
            return False
        logger.info("spool_replay_resumed", file=name, offset=done)
        spool.skip_to(first.path, done)
        return True

    def _replayed(self, spool: Spool, last: Frame, count: int) -> None:
        self._database_reached()
        spool.consumed(last)
        if self._metrics is not None:
            self._metrics.metrics_replayed(count)
            self._metrics.set_spool_bytes(spool.pending_bytes)
        if spool.empty:
            logger.info("spool_replayed")

    def _set_aside(self, spool: Spool, frame: Frame, exc: Exception) -> None:
        # The database is up but refuses these records: keep them for the operator
        # rather than block every frame behind them.
        logger.error("spool_frame_refused", records=len(frame.records), error=repr(exc))
        spool.set_aside(frame)

    def _database_failed(self, exc: BaseException) -> None:
        if self._backoff == 0.0:
            logger.warning("database_unreachable", error=repr(exc))
        self._backoff = min(LAST_RETRY_SECONDS, max(FIRST_RETRY_SECONDS, self._backoff * 2))
        # Jitter, so several collectors do not all reconnect at the same instant.
        self._retry_at = time.monotonic() + self._backoff * random.uniform(0.5, 1.0)  # noqa: S311
        if self._metrics is not None:
            self._metrics.set_database_reachable(False)

    def _database_reached(self) -> None:
        if self._backoff:
            logger.info("database_reachable_again")
            if self._metrics is not None:
                self._metrics.set_database_reachable(True)
        self._backoff = 0.0
        self._retry_at = 0.0

    async def _commit(self, batch: list[_Pending]) -> None:
        records = [record for pending in batch for record in pending.records]
        await self._commit_records(records, links=[pending.link for pending in batch])

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
                if not _is_missing_partition(exc):
                    raise
                await self._create_partitions_for(records)
                plan = await self._commit_once(records, replay=replay)
        if self._metrics is not None:
            self._metrics.observe_writer_batch(
                size=len(records), commit_seconds=perf_counter() - started
            )
        stored = [*plan.inserts, *(new for _, new in plan.replacements)]
        self._recent.remember(r for r in stored if r.metric in RE_REPORTED_METRICS)
        self._notify(plan)

    async def _commit_once(self, records: list[EventRecord], *, replay: Frame | None) -> _Plan:
        conn = await self._connection()
        watchdog = self._watch(conn)
        try:
            if replay is not None:
                async with conn.begin():
                    plan = await self._replay_plan(conn, records)
                    await self._write_plan(conn, plan, self._hooks_for(conn, plan))
                    await record_replayed_to(conn, replay.path.name, replay.end)
                    await self._forget_removed_spool_files(conn)
                return plan
            plan = _plan(records, self._recent.get)
            hooks = self._hooks_for(conn, plan)
            if not plan.replacements and not hooks:
                # Nothing else to write with the rows: one statement, no transaction.
                await append_events(conn, plan.inserts)
                return plan
            async with conn.begin():
                await self._write_plan(conn, plan, hooks)
        except BaseException:
            await self._close_connection()
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
        return plan

    def _watch(self, conn: AsyncConnection) -> asyncio.TimerHandle | None:
        """Cut ``conn`` if the batch has not committed within the commit timeout.

        A database that stops answering without closing the connection (a host gone,
        a network cut) would otherwise hold the batch, and every beacon waiting on it,
        until the operating system gives up on the TCP connection. Cut, the batch fails
        as a lost connection does and goes to the spool. Cutting is synchronous: a
        rollback sent to a silent database would wait just the same.
        """
        driver = _asyncpg_connection(conn)
        if self._commit_timeout is None or driver is None:
            return None
        return asyncio.get_running_loop().call_later(self._commit_timeout, driver.terminate)

    async def _forget_removed_spool_files(self, conn: AsyncConnection) -> None:
        # Best effort: a name lost with a failed transaction leaves a row nobody reads.
        removed = [] if self._spool is None else self._spool.take_removed()
        if removed:
            await forget(conn, removed)
            self._resumed_files.difference_update(removed)

    def _hooks_for(self, conn: AsyncConnection, plan: _Plan) -> list[BatchHook]:
        """The hooks that have work in this batch."""
        return [
            hook
            for hook, needed in self._batch_hooks
            if needed is None or needed(conn, plan.inserts, plan.replacements)
        ]

    async def _write_plan(
        self, conn: AsyncConnection, plan: _Plan, hooks: Sequence[BatchHook]
    ) -> None:
        await insert_events(conn, plan.inserts)
        await replace_events(conn, plan.replacements)
        for hook in hooks:
            await hook(conn, plan.inserts, plan.replacements)

    async def _replay_plan(self, conn: AsyncConnection, records: list[EventRecord]) -> _Plan:
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
            known = self._recent.get(report_key(record))
            ts = record.ts if known is None else known.ts
            keys.append((record.site_id, record.metric, ts, record.metric_id))
        stored = await find_events(conn, keys)
        return _plan(records, stored.get, every_metric=True)

    def _notify(self, plan: _Plan) -> None:
        for listener in self._listeners:
            try:
                listener(plan.inserts, plan.replacements)
            except Exception:
                logger.exception("event_listener_failed", listener=repr(listener))

    async def _connection(self) -> AsyncConnection:
        driver = None if self._conn is None else _asyncpg_connection(self._conn)
        if driver is not None and driver.is_closed():
            # Cut by the watchdog as the batch committed, or closed by the server.
            await self._close_connection()
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


def _plan(
    records: list[EventRecord],
    stored: Callable[[ReportKey], EventRecord | None],
    *,
    every_metric: bool = False,
) -> _Plan:
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
    plan = _Plan()
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
        elif (old := stored(key)) is not None:
            replacing[key] = len(plan.replacements)
            plan.replacements.append((old, _updated(old, record)))
        else:
            staged[key] = len(plan.inserts)
            plan.inserts.append(record)
    return plan


def _updated(stored: EventRecord, report: EventRecord) -> EventRecord:
    """``stored`` carrying the newer report's value; it keeps its row (and timestamp)."""
    return msgspec.structs.replace(
        stored,
        value=report.value,
        delta=report.delta,
        rating=report.rating,
        attribution=report.attribution,
    )


def _asyncpg_connection(conn: AsyncConnection) -> asyncpg.Connection | None:
    """The asyncpg connection under ``conn`` (None on SQLite)."""
    if conn.dialect.name != "postgresql" or conn.sync_connection is None:
        return None
    driver: asyncpg.Connection = conn.sync_connection.connection.driver_connection
    return driver


def _settle(batch: list[_Pending], error: Exception | None) -> None:
    for pending in batch:
        if pending.done.done():
            continue  # the request went away; its records were written all the same
        if error is None:
            pending.done.set_result(None)
        else:
            pending.done.set_exception(error)


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError | TimeoutError | asyncpg.PostgresConnectionError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _is_unreachable(exc: BaseException) -> bool:
    """The database cannot take writes right now (down, restarting, out of resources)."""
    state = _sqlstate(exc)
    return _is_connection_error(exc) or (
        state is not None and state.startswith(_UNAVAILABLE_SQLSTATES)
    )


def _is_refused_data(exc: BaseException) -> bool:
    """The database refuses these records for what they hold (data or integrity error)."""
    state = _sqlstate(exc)
    return isinstance(exc, DataError | IntegrityError) or (
        state is not None and state.startswith(_REFUSED_DATA_SQLSTATES)
    )


def _sqlstate(exc: BaseException) -> str | None:
    # Rows are copied with asyncpg itself, so its errors arrive unwrapped too.
    source = exc.orig if isinstance(exc, DBAPIError) else exc
    state = getattr(source, "sqlstate", None) or getattr(source, "pgcode", None)
    return state if isinstance(state, str) else None


def _is_missing_partition(exc: BaseException) -> bool:
    return "no partition of relation" in str(exc)
