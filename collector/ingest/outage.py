"""The writer's database outages: backoff, spooling batches, and replaying the spool in order.

While the database is unreachable the writer appends each batch to the spool and
acknowledges its beacons; while anything is spooled, new batches are spooled behind
it, so the database sees every report in the order it arrived. The database is
retried with exponential backoff and the spool replayed frame by frame, each frame's
replay offset committed with its rows (``replay_progress``); a frame the database
refuses for what it holds is set aside for the operator instead of blocking the rest.

>>> outage = Outage(spool, max_batch=5_000, metrics=metrics,
...                 commit=commit_replayed, in_transaction=in_transaction)
>>> if outage.must_spool:
...     await outage.spool(records)     # durable when it returns
>>> if outage.replay_due():
...     await outage.replay()           # the next frames, through ``commit``
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.ingest.replay_progress import forget, record_replayed_to, replayed_to
from collector.ingest.spool import Frame, Spool
from collector.storage.errors import is_refused_data
from collector.storage.records import EventRecord
from collector.telemetry.metrics import Metrics

# Commits spooled records, the last of which come from the frame, as a replay.
CommitReplayed = Callable[[list[EventRecord], Frame], Awaitable[None]]
# Runs ``work(conn)`` in a transaction on the writer's connection.
InTransaction = Callable[[Callable[[AsyncConnection], Awaitable[int]]], Awaitable[int]]

# Reconnection backoff: doubles from the first to the last, with jitter.
FIRST_RETRY_SECONDS = 0.1
LAST_RETRY_SECONDS = 5.0

logger = structlog.get_logger(__name__)


class Outage:
    """Whether the database is reachable, and the spool that holds batches until it is."""

    def __init__(
        self,
        spool: Spool | None,
        *,
        max_batch: int,
        metrics: Metrics | None,
        commit: CommitReplayed,
        in_transaction: InTransaction,
    ) -> None:
        self._spool = spool
        self._max_batch = max_batch
        self._metrics = metrics
        self._commit = commit
        self._in_transaction = in_transaction
        self._retry_at = 0.0
        self._backoff = 0.0
        # Spool files whose replay offset was looked up in the database.
        self._resumed_files: set[str] = set()

    @property
    def has_spool(self) -> bool:
        """Whether batches the database cannot take can be spooled."""
        return self._spool is not None

    @property
    def reachable(self) -> bool:
        """False from a failed attempt to reach the database until one succeeds."""
        return self._backoff == 0.0

    @property
    def spooled_bytes(self) -> int:
        """Bytes acknowledged into the spool and not yet replayed."""
        return 0 if self._spool is None else self._spool.pending_bytes

    @property
    def must_spool(self) -> bool:
        """Whether a new batch goes to the spool without trying the database.

        So it does behind spooled reports (order matters for re-reports), and while
        the database is known to be down.
        """
        spool = self._spool
        return spool is not None and (not spool.empty or time.monotonic() < self._retry_at)

    def retry_in(self) -> float | None:
        """Seconds until spooled work may be retried (0: now), or None with nothing spooled."""
        if self._spool is None or self._spool.empty:
            return None
        return max(0.0, self._retry_at - time.monotonic())

    def replay_due(self) -> bool:
        """Whether frames wait for replay and the backoff has passed."""
        spool = self._spool
        return spool is not None and not spool.empty and time.monotonic() >= self._retry_at

    def replay_wanted(self, deadline: float | None) -> bool:
        """Whether a closing writer should still try to empty the spool before ``deadline``."""
        if self._spool is None or self._spool.empty or not self.reachable:
            return False
        return deadline is None or time.monotonic() < deadline

    def failed(self, exc: BaseException) -> None:
        """An attempt to reach the database failed: back off before the next one."""
        if self._backoff == 0.0:
            logger.warning("database_unreachable", error=repr(exc))
        self._backoff = min(LAST_RETRY_SECONDS, max(FIRST_RETRY_SECONDS, self._backoff * 2))
        # Jitter, so several collectors do not all reconnect at the same instant.
        self._retry_at = time.monotonic() + self._backoff * random.uniform(0.5, 1.0)  # noqa: S311
        if self._metrics is not None:
            self._metrics.set_database_reachable(False)

    def reached(self) -> None:
        """A batch committed: the database is reachable."""
        if self._backoff:
            logger.info("database_reachable_again")
            if self._metrics is not None:
                self._metrics.set_database_reachable(True)
        self._backoff = 0.0
        self._retry_at = 0.0

    async def spool(self, records: Sequence[EventRecord]) -> None:
        """Append ``records`` to the spool, durably; SpoolFull or OSError when it cannot."""
        if self._spool is None:
            raise RuntimeError("this writer has no spool")
        await self._spool.append(records)
        if self._metrics is not None:
            self._metrics.metrics_spooled(len(records))
            self._metrics.set_spool_bytes(self._spool.pending_bytes)

    async def replay(self) -> None:
        """Replay the oldest spooled frames; a failure leaves them for the next try."""
        try:
            await self._replay_frames()
        except Exception as exc:
            # A spool file error: the frames stay on disk; try again later.
            logger.exception("spool_replay_failed", error=repr(exc))
            self.failed(exc)

    async def record_progress(self, conn: AsyncConnection, last: Frame) -> None:
        """Note, in the replay's transaction, that ``last``'s file is replayed to its end."""
        await record_replayed_to(conn, last.path.name, last.end)
        # Best effort: a name lost with a failed transaction leaves a row nobody reads.
        removed = [] if self._spool is None else self._spool.take_removed()
        if removed:
            await forget(conn, removed)
            self._resumed_files.difference_update(removed)

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
            await self._commit(records, frames[-1])
        except Exception as exc:
            if not is_refused_data(exc):
                # Down, failing over, a deadlock or a timeout: acknowledged beacons wait
                # in the spool and are tried again after a backoff, never set aside.
                self.failed(exc)
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
                await self._commit(frame.records, frame)
            except Exception as exc:
                if not is_refused_data(exc):
                    self.failed(exc)
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
        done = await self._in_transaction(lambda conn: replayed_to(conn, name))
        self._resumed_files.add(name)
        if done <= first.start:
            return False
        logger.info("spool_replay_resumed", file=name, offset=done)
        spool.skip_to(first.path, done)
        return True

    def _replayed(self, spool: Spool, last: Frame, count: int) -> None:
        self.reached()
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
