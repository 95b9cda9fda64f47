"""What a database error means, told by SQLSTATE and exception type, never by message text.

The writer, the replay of the spool and the HTTP error handler ask here whether an error
is the database being out of reach, records it refuses, a day without its partition, or
text PostgreSQL cannot hold; so is the asyncpg connection under a SQLAlchemy one found.

>>> try:
...     await insert_events(conn, records)
... except Exception as exc:
...     if not may_be_missing_partition(exc):
...         raise
...     await ensure_partitions(conn, first_day=day, days=1)   # then retry, once
"""

from __future__ import annotations

from typing import Final

import asyncpg
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

# SQLSTATE classes that mean "the database cannot take writes now", not "bad data":
# connection exception, operator intervention (shutdown), insufficient resources.
_UNAVAILABLE_SQLSTATES: Final = ("08", "57P", "53")
# SQLSTATE classes that mean "these records cannot be stored": data exception,
# integrity constraint violation.
_REFUSED_DATA_SQLSTATES: Final = ("22", "23")
# PostgreSQL routes a row no partition takes to a check_violation, without a constraint.
_CHECK_VIOLATION: Final = "23514"
# Citus relays what a shard raised during COPY as an internal error, a row without its
# partition among them.
_INTERNAL_ERROR: Final = "XX000"
# PostgreSQL cannot hold a NUL character in text (22021) or jsonb (22P05).
_UNSTORABLE_TEXT_SQLSTATES: Final = frozenset({"22021", "22P05"})
# How many wrappers deep a driver error may sit: SQLAlchemy's DBAPIError, then the
# DB-API error its asyncpg dialect emulates, then asyncpg's own.
_MAX_WRAPPERS: Final = 3


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (None for other errors, and on SQLite)."""
    # Rows are copied with asyncpg itself, so its errors arrive unwrapped too.
    source = exc.orig if isinstance(exc, DBAPIError) else exc
    state = getattr(source, "sqlstate", None) or getattr(source, "pgcode", None)
    return state if isinstance(state, str) else None


def is_connection_error(exc: BaseException) -> bool:
    """The connection broke, timed out or could not be made."""
    if isinstance(exc, OSError | TimeoutError | asyncpg.PostgresConnectionError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def is_unreachable(exc: BaseException) -> bool:
    """The database cannot take writes right now (down, restarting, out of resources)."""
    state = sqlstate(exc)
    return is_connection_error(exc) or (
        state is not None and state.startswith(_UNAVAILABLE_SQLSTATES)
    )


def is_refused_data(exc: BaseException) -> bool:
    """The database refuses these records for what they hold (data or integrity error)."""
    state = sqlstate(exc)
    return isinstance(exc, DataError | IntegrityError) or (
        state is not None and state.startswith(_REFUSED_DATA_SQLSTATES)
    )


def may_be_missing_partition(exc: BaseException) -> bool:
    """A row's day may have no partition of the events table yet: create it and retry.

    PostgreSQL reports it as a check violation that names no constraint (a CHECK
    constraint's violation always names its constraint); Citus relays it from the shard
    as an internal error, which tells no more. So this is a hint: the caller creates the
    records' partitions and retries once, and a wrong guess costs just that.
    """
    state = sqlstate(exc)
    if state == _INTERNAL_ERROR:
        return True
    if state != _CHECK_VIOLATION:
        return False
    driver = _postgres_error(exc)
    return driver is None or getattr(driver, "constraint_name", None) is None


def is_unstorable_text(exc: BaseException) -> bool:
    """Text or JSON with a NUL character, which PostgreSQL cannot store."""
    return sqlstate(exc) in _UNSTORABLE_TEXT_SQLSTATES


def asyncpg_connection(conn: AsyncConnection) -> asyncpg.Connection | None:
    """The asyncpg connection under ``conn`` (None on SQLite)."""
    if conn.dialect.name != "postgresql" or conn.sync_connection is None:
        return None
    driver = conn.sync_connection.connection.driver_connection
    return driver if isinstance(driver, asyncpg.Connection) else None


def _postgres_error(exc: BaseException) -> asyncpg.PostgresError | None:
    """asyncpg's own error under ``exc``, with the server's structured fields."""
    found: BaseException | None = exc
    for _ in range(_MAX_WRAPPERS):
        if found is None or isinstance(found, asyncpg.PostgresError):
            break
        # DBAPIError.orig, then the emulated DB-API error's ``orig`` (SQLAlchemy 2.1) or
        # the error it was raised from (2.0).
        wrapped = getattr(found, "orig", None)
        found = wrapped if isinstance(wrapped, BaseException) else found.__cause__
    return found if isinstance(found, asyncpg.PostgresError) else None
