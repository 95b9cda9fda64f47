"""The access log: one line per request, in the format and stream of every other line.

Its fields are all made by perfbeacon (a bounded method, the route template, the
path, status, timings and ids), so the generic processors that look for secret
keys, payloads, exceptions and context-bound values would find nothing: the line
goes straight to the timestamp, the renderer (which still scrubs tokens out of the
text, the path being the caller's) and the stream. Once per request, that is a
third of the cost of a structlog call.

>>> access_log = AccessLog(log_format="json")
>>> access_log.request(method="GET", route="/health", path="/health", status=200,
...                    duration_ms=0.412, request_id="4f1c-1", trace_id=None, db_ms=None)
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from collector.telemetry.logs import LineWriter, LogFormat, UtcTimestamper, renderer

ACCESS_LOGGER = "perfbeacon.access"


class AccessLog:
    """Writes the access line of each request."""

    def __init__(self, *, log_format: LogFormat, stream: TextIO | None = None) -> None:
        self._render = renderer(log_format, stream or sys.stderr)
        self._stamp = UtcTimestamper()
        self._writer = LineWriter(ACCESS_LOGGER, stream)

    def request(
        self,
        *,
        method: str,
        route: str,
        path: str,
        status: int,
        duration_ms: float,
        request_id: str,
        trace_id: str | None,
        db_ms: float | None,
    ) -> None:
        """Write one request's line: what was asked, how it ended, how long it took."""
        event: dict[str, Any] = {
            "event": "request",
            "method": method,
            "route": route,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
        }
        if db_ms is not None:
            event["db_ms"] = db_ms
        event["request_id"] = request_id
        if trace_id is not None:
            event["trace_id"] = trace_id
        event["level"] = "info"
        event["logger"] = ACCESS_LOGGER
        self._stamp(self._writer, "info", event)
        self._writer.msg(self._render(self._writer, "info", event))
