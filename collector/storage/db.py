"""Engine creation for the two supported databases.

>>> engine = create_engine("sqlite+aiosqlite:///./perfbeacon.db")
>>> engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1/test?search_path=perfbeacon")
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Create an async engine, tuned per dialect (WAL for SQLite, a pool for PostgreSQL)."""
    parsed, schema = split_search_path(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    # A database host that does not answer must not hold a writer for asyncpg's 60 s.
    connect_args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_SECONDS}
    if schema:
        connect_args["server_settings"] = {"search_path": schema}
    return create_async_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def _configure_sqlite(dbapi_connection: Any, _record: object) -> None:
    # WAL lets readers run beside the writer; synchronous=FULL makes every
    # acknowledged commit survive a power cut, which group commit keeps cheap.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
