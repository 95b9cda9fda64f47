"""The event writer's one database connection: kept open between batches, cut when a
commit hangs, replaced when it was lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector.storage.db import has_citus
from collector.storage.errors import asyncpg_connection
from collector.storage.partitions import ensure_partitions
from collector.storage.records import EventRecord

_T = TypeVar("_T")


class WriterConnection:
    """The connection batches are written on, opened on first use and after a failure."""

    def __init__(self, engine: AsyncEngine, *, commit_timeout: float | None) -> None:
        self._engine = engine
        self._commit_timeout = commit_timeout
        self._conn: AsyncConnection | None = None
        self._citus: bool | None = None

    async def get(self) -> AsyncConnection:
        """The open connection, or a new one when there is none or it was closed."""
        driver = None if self._conn is None else asyncpg_connection(self._conn)
        if driver is not None and driver.is_closed():
            # Cut by the watchdog as the batch committed, or closed by the server.
            await self.close()
        if self._conn is None:
            self._conn = await self._engine.connect()
        return self._conn

    async def is_citus(self, conn: AsyncConnection) -> bool:
        """Whether the database is a Citus coordinator (asked once, on first use)."""
        if self._citus is None:
            self._citus = await conn.run_sync(has_citus)
            # The question began a transaction; a lone statement must find none open.
            await conn.rollback()
        return self._citus

    async def close(self) -> None:
        """Close the connection (quietly: it may be broken already); the next batch opens one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    def watch(self, conn: AsyncConnection) -> asyncio.TimerHandle | None:
        """Cut ``conn`` if the batch has not committed within the commit timeout.

        A database that stops answering without closing the connection (a host gone,
        a network cut) would otherwise hold the batch, and every beacon waiting on it,
        until the operating system gives up on the TCP connection. Cut, the batch fails
        as a lost connection does and goes to the spool. Cutting is synchronous: a
        rollback sent to a silent database would wait just the same.
        """
        driver = asyncpg_connection(conn)
        if self._commit_timeout is None or driver is None:
            return None
        return asyncio.get_running_loop().call_later(self._commit_timeout, driver.terminate)

    async def in_transaction(self, work: Callable[[AsyncConnection], Awaitable[_T]]) -> _T:
        """``work(conn)`` in a transaction on this connection, closed if it fails."""
        conn = await self.get()
        try:
            async with conn.begin():
                return await work(conn)
        except BaseException:
            await self.close()
            raise

    async def create_partitions_for(self, records: list[EventRecord]) -> list[str]:
        """Create the daily partitions ``records`` fall in that are missing (on a connection
        of its own); the names of those it created."""
        days = sorted({record.ts.date() for record in records})
        span = (days[-1] - days[0]).days + 1
        async with self._engine.begin() as conn:
            return await ensure_partitions(conn, first_day=days[0], days=span)
