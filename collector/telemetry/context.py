"""What perfbeacon knows about the request being served, in one context variable.

The middleware sets a ``RequestContext`` per request; SQLAlchemy's cursor events
add database time to it (its async greenlets share the caller's context), and the
log processor ``merge_request_context`` puts its ids on every line written while
the request is served. One variable set and reset per request is the cheapest way
to carry all of it.
"""

from __future__ import annotations

from contextvars import ContextVar

from structlog.typing import EventDict, WrappedLogger


class RequestContext:
    """The ids of one request and the database time it has used so far.

    The trace id stays a number until a line needs it: most requests never do.
    """

    __slots__ = ("db_seconds", "db_statements", "request_id", "trace_id")

    def __init__(self, request_id: str, trace_id: int | None) -> None:
        self.request_id = request_id
        self.trace_id = trace_id
        self.db_seconds = 0.0
        self.db_statements = 0


current_request: ContextVar[RequestContext | None] = ContextVar("perfbeacon_request", default=None)


def merge_request_context(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Add ``request_id`` and ``trace_id`` of the request being served, if any."""
    request = current_request.get()
    if request is not None:
        event_dict.setdefault("request_id", request.request_id)
        if request.trace_id is not None:
            event_dict.setdefault("trace_id", f"{request.trace_id:032x}")
    return event_dict
