"""Database time per request and pool usage, from SQLAlchemy engine events.

Cursor events add each statement's duration to the ``RequestContext`` of the
request being served, and ``Server-Timing`` reports the sum.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.telemetry.context import current_request
from collector.telemetry.metrics import Metrics

_STARTED = "perfbeacon_query_started"


def instrument_engine(engine: AsyncEngine, *, metrics: Metrics) -> None:
    """Time statements into the current request and count pooled connections in use."""
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", _before_cursor_execute)
    event.listen(sync_engine, "after_cursor_execute", _after_cursor_execute)
    event.listen(sync_engine, "checkout", lambda *_: metrics.db_connection_checked_out())
    event.listen(sync_engine, "checkin", lambda *_: metrics.db_connection_checked_in())


def _before_cursor_execute(
    _conn: Any, _cursor: Any, _statement: str, _parameters: Any, context: Any, _many: bool
) -> None:
    if current_request.get() is not None and context is not None:
        setattr(context, _STARTED, perf_counter())


def _after_cursor_execute(
    _conn: Any, _cursor: Any, _statement: str, _parameters: Any, context: Any, _many: bool
) -> None:
    request = current_request.get()
    started = getattr(context, _STARTED, None)
    if request is not None and started is not None:
        request.db_seconds += perf_counter() - started
        request.db_statements += 1
