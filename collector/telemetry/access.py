"""The access log: one line per request, in the format and stream of every other line.

Its fields are all made by perfbeacon (a bounded method, the route template, the
status, timings, a request id that passed a strict pattern, a hex trace id) except
the path, so the generic processors that look for secret keys, payloads,
exceptions and context-bound values would find nothing: in JSON the line is
rendered straight from a dict by msgspec, with the path scrubbed of tokens first.
The console format keeps structlog's renderer.

Writing a line costs more than rendering it, so lines wait for the end of the
event loop's iteration (or for a pipe's atomic write size to fill up) and go out
together: under load, many requests end in the same iteration.

>>> access_log = AccessLog(log_format="json")
>>> access_log.request(method="GET", route="/health", path="/health", status=200,
...                    seconds=0.000412, request_id="4f1c-1", trace_id=None, db_seconds=None)
"""

from __future__ import annotations

import asyncio
import select
import sys
from typing import Any, TextIO

from collector.telemetry.logs import (
    JSON_ENCODER,
    LineWriter,
    LogFormat,
    UtcTimestamper,
    renderer,
    scrub_text,
)

ACCESS_LOGGER = "perfbeacon.access"
# Writes up to this size reach a pipe whole, never interleaved with another
# worker's: a batch never exceeds it (a longer line goes alone).
_ATOMIC_WRITE = select.PIPE_BUF


class AccessLog:
    """Writes the access line of each request."""

    def __init__(self, *, log_format: LogFormat, stream: TextIO | None = None) -> None:
        self._stamp = UtcTimestamper()
        self._lines = LineBatch(stream)
        self._console = (
            renderer(log_format, stream or sys.stderr) if log_format == "console" else None
        )
        self._console_writer = LineWriter(ACCESS_LOGGER, stream)

    def request(
        self,
        *,
        method: str,
        route: str,
        path: str,
        status: int,
        seconds: float,
        request_id: str,
        trace_id: str | None,
        db_seconds: float | None,
    ) -> None:
        """Write one request's line: what was asked, how it ended, how long it took."""
        event: dict[str, Any] = {
            "event": "request",
            "method": method,
            "route": route,
            "path": scrub_text(path),
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
        }
        if db_seconds is not None:
            event["db_ms"] = round(db_seconds * 1000, 3)
        event["request_id"] = request_id
        if trace_id is not None:
            event["trace_id"] = trace_id
        event["level"] = "info"
        event["logger"] = ACCESS_LOGGER
        event["timestamp"] = self._stamp.now()
        if self._console is None:
            self._lines.add(JSON_ENCODER.encode(event).decode())
        else:
            self._lines.add(self._console(self._console_writer, "info", event))

    def flush(self) -> None:
        """Write the lines still waiting (when serving stops)."""
        self._lines.flush()


class LineBatch:
    """Lines written together at the end of the event loop's iteration, in one write.

    Outside an event loop each line is written at once. The stream is looked up
    when writing (``sys.stderr`` as it is then), like every other line's.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lines: list[str] = []
        self._size = 0

    def add(self, line: str) -> None:
        """Write ``line`` soon, after the lines added before it."""
        size = len(line) + 1 if line.isascii() else len(line.encode()) + 1
        if self._size + size > _ATOMIC_WRITE:
            self.flush()
        self._lines.append(line)
        self._size += size
        if len(self._lines) == 1:
            self._flush_soon()

    def _flush_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write every waiting line now."""
        if not self._lines:
            return
        text = "\n".join(self._lines) + "\n"
        self._lines = []
        self._size = 0
        stream = self._stream or sys.stderr
        with LineWriter.lock:
            stream.write(text)
            stream.flush()
