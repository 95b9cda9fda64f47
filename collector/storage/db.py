"""Engine creation for the two supported databases, and how services commit.

>>> engine = create_engine("sqlite+aiosqlite:///./perfbeacon.db")
>>> engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1/test?search_path=perfbeacon")
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Executable, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncResult, create_async_engine

# Not a driver option: selects the PostgreSQL schema perfbeacon's tables live in.
SEARCH_PATH_PARAM = "search_path"
CONNECT_TIMEOUT_SECONDS = 5


def split_search_path(url: str | URL) -> tuple[URL, str | None]:
    """Take the perfbeacon-specific ``search_path`` query parameter out of a URL."""
    parsed = make_url(url)
    schema = parsed.query.get(SEARCH_PATH_PARAM)
    if isinstance(schema, tuple):
        schema = schema[-1]
    return parsed.difference_update_query([SEARCH_PATH_PARAM]), schema


def create_engine(
    url: str, *, pool_size: int = 10, application_name: str = "perfbeacon"
) -> AsyncEngine:
    """Create an async engine, tuned per dialect (WAL for SQLite, a pool for PostgreSQL).

    On PostgreSQL, ``application_name`` names the connections in ``pg_stat_activity``.
    """
    parsed, schema = split_search_path(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    # A database host that does not answer must not hold a writer for asyncpg's 60 s.
    connect_args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_SECONDS}
    server_settings = {"application_name": application_name}
    if schema:
        server_settings["search_path"] = schema
    connect_args["server_settings"] = server_settings
    engine = create_async_engine(
        parsed, pool_size=pool_size, max_overflow=pool_size, connect_args=connect_args
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(dbapi_connection: Any, _record: object, _proxy: object) -> None:
    # Instead of a pre-ping, which costs a round trip on every checkout: asyncpg sees at
    # once when the server closes a connection (a restart, a terminated backend), and the
    # pool then replaces it. One that dies silently fails its statement and is invalidated.
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the database closed this pooled connection")


def _configure_sqlite(dbapi_connection: Any, _record: object) -> None:
    # WAL lets readers run beside the writer; synchronous=FULL makes every
    # acknowledged commit survive a power cut, which group commit keeps cheap.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@asynccontextmanager
async def stream_in_chunks(
    conn: AsyncConnection, query: Executable, *, rows_per_chunk: int = 10_000
) -> AsyncIterator[AsyncResult[*tuple[Any, ...]]]:
    """The rows of ``query`` through a server-side cursor, ``rows_per_chunk`` at a time.

    A cursor lives in a transaction, and reads run without one (``deps.get_conn``): such
    a connection gets its default isolation level back, and so a transaction, first.
    """
    if conn.sync_connection is not None:
        options = conn.sync_connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            await conn.commit()
            await conn.execution_options(isolation_level=conn.default_isolation_level)
    async with conn.stream(query.execution_options(yield_per=rows_per_chunk)) as result:
        yield result


@asynccontextmanager
async def committed(conn: AsyncConnection) -> AsyncIterator[AsyncConnection]:
    """Commit what the block does on ``conn``; roll it back if the block or the commit fails.

    The one way services write: they are handed a request's connection, which an
    earlier read may already have put in a transaction (``conn.begin()`` would refuse
    it), and a refused write must not leave that transaction open for the next one.

    >>> async with committed(conn):
    ...     await conn.execute(insert(sites).values(...))
    """
    try:
        yield conn
        await conn.commit()
    except BaseException:
        await conn.rollback()
        raise


def has_citus(connection: Connection) -> bool:
    """Whether a PostgreSQL database has the Citus extension (it is then a coordinator)."""
    found = connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'"))
    return found.scalar() is not None
