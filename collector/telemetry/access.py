"""The access log: one line per request, in the format and stream of every other line.

Its fields are all made by perfbeacon (a bounded method, the route template, the
status, timings, a request id that passed a strict pattern, a hex trace id) except
the path, so the generic processors that look for secret keys, payloads,
exceptions and context-bound values would find nothing: in JSON the line is
rendered straight from a dict by msgspec, with the path scrubbed of tokens first.
The console format keeps structlog's renderer.

Writing a line costs more than rendering it, and rendering costs less for many
lines in a row: each request is only noted, and at the end of the event loop's
iteration (see ``batch``) the lines of every request that ended in it are
rendered and written together, in as few writes as fit a pipe's atomic size.

>>> access_log = AccessLog(log_format="json")
>>> access_log.request(method="GET", route="/health", path="/health", status=200,
...                    seconds=0.000412, request_id="4f1c-1", trace_id=None, db_seconds=None)
"""

from __future__ import annotations

import select
import sys
import time
from collections.abc import Collection
from typing import Any, TextIO

from collector.telemetry.batch import IterationBatch
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
# worker's: a write of several lines never exceeds it (a longer line goes alone).
_ATOMIC_WRITE = select.PIPE_BUF
# Lines rendered and written together at most (in a loop that never yields).
_BATCH_LIMIT = 64


# When it ended, method, route, path, status, seconds, request id, trace id, db seconds.
_Request = tuple[float, str, str, str, int, float, str, int | None, float | None]


class AccessLog:
    """Writes the access line of each request."""

    def __init__(
        self,
        *,
        log_format: LogFormat,
        stream: TextIO | None = None,
        unlogged: Collection[tuple[str, int]] = (),
    ) -> None:
        # (route, status) pairs whose requests get no line: lines an operator chose to
        # keep out of the log (e.g. beacons stored whole, nearly every request).
        self._unlogged = frozenset(unlogged)
        self._stream = stream
        self._stamp = UtcTimestamper()
        self._console = (
            renderer(log_format, stream or sys.stderr) if log_format == "console" else None
        )
        self._console_writer = LineWriter(ACCESS_LOGGER, stream)
        self._requests = IterationBatch(self._write, limit=_BATCH_LIMIT)

    def request(
        self,
        *,
        method: str,
        route: str,
        path: str,
        status: int,
        seconds: float,
        request_id: str,
        trace_id: int | None,
        db_seconds: float | None,
    ) -> None:
        """Log one request: what was asked, how it ended, how long it took."""
        if self._unlogged and (route, status) in self._unlogged:
            return
        self._requests.add(
            (time.time(), method, route, path, status, seconds, request_id, trace_id, db_seconds)
        )

    def flush(self) -> None:
        """Write the lines still waiting (when serving stops)."""
        self._requests.flush()

    def _write(self, requests: list[_Request]) -> None:
        chunks = _chunks([self._render(request) for request in requests])
        stream = self._stream or sys.stderr
        with LineWriter.lock:
            for chunk in chunks:
                stream.write(chunk)
                stream.flush()

    def _render(self, request: _Request) -> str:
        ended, method, route, path, status, seconds, request_id, trace_id, db_seconds = request
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
            event["trace_id"] = f"{trace_id:032x}"
        event["level"] = "info"
        event["logger"] = ACCESS_LOGGER
        event["timestamp"] = self._stamp.at(ended)
        if self._console is None:
            return JSON_ENCODER.encode(event).decode()
        return self._console(self._console_writer, "info", event)


def _chunks(lines: list[str]) -> list[str]:
    """The lines joined into as few writes as fit ``_ATOMIC_WRITE`` bytes each."""
    chunks: list[str] = []
    chunk: list[str] = []
    size = 0
    for line in lines:
        length = (len(line) if line.isascii() else len(line.encode())) + 1
        if chunk and size + length > _ATOMIC_WRITE:
            chunks.append("\n".join(chunk) + "\n")
            chunk, size = [], 0
        chunk.append(line)
        size += length
    if chunk:
        chunks.append("\n".join(chunk) + "\n")
    return chunks
