"""Database time per request and pool usage, from SQLAlchemy engine events.

The middleware puts a ``DatabaseTimer`` in a context variable for each request;
cursor events of the same task (SQLAlchemy's async greenlets share the caller's
context) add their durations to it, and ``Server-Timing`` reports the sum.
"""

from __future__ import annotations

from contextvars import ContextVar
from time import perf_counter
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.telemetry.metrics import Metrics

_STARTED = "perfbeacon_query_started"


class DatabaseTimer:
    """Seconds spent in database statements during one request."""

    __slots__ = ("seconds", "statements")

    def __init__(self) -> None:
        self.seconds = 0.0
        self.statements = 0


current_database_timer: ContextVar[DatabaseTimer | None] = ContextVar(
    "perfbeacon_database_timer", default=None
)


def instrument_engine(engine: AsyncEngine, *, metrics: Metrics) -> None:
    """Time statements into the current request's timer and count pooled connections in use."""
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", _before_cursor_execute)
    event.listen(sync_engine, "after_cursor_execute", _after_cursor_execute)
    event.listen(sync_engine, "checkout", lambda *_: metrics.db_connection_checked_out())
    event.listen(sync_engine, "checkin", lambda *_: metrics.db_connection_checked_in())


def _before_cursor_execute(
    _conn: Any, _cursor: Any, _statement: str, _parameters: Any, context: Any, _many: bool
) -> None:
    if current_database_timer.get() is not None and context is not None:
        setattr(context, _STARTED, perf_counter())


def _after_cursor_execute(
    _conn: Any, _cursor: Any, _statement: str, _parameters: Any, context: Any, _many: bool
) -> None:
    timer = current_database_timer.get()
    started = getattr(context, _STARTED, None)
    if timer is not None and started is not None:
        timer.seconds += perf_counter() - started
        timer.statements += 1
