"""The access line's writing: lines of one event-loop iteration go out in one write."""

from __future__ import annotations

import asyncio
import io
import json
import select
from typing import Any

from collector.telemetry.access import AccessLog


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` parsed as JSON."""
    return [json.loads(line) for line in text.splitlines()]


class RecordingStream(io.StringIO):
    """A text stream that remembers each write it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        """Keep ``text`` as one write, then store it."""
        self.writes.append(text)
        return super().write(text)


def log_request(access_log: AccessLog, number: int, path: str = "/health") -> None:
    """One access line of a quick GET."""
    access_log.request(
        method="GET",
        route="/health",
        path=path,
        status=200,
        seconds=0.0004,
        request_id=f"req-{number}",
        trace_id=None,
        db_seconds=None,
    )


def test_outside_an_event_loop_each_line_is_written_at_once() -> None:
    stream = RecordingStream()
    access_log = AccessLog(log_format="json", stream=stream)
    log_request(access_log, 1)
    log_request(access_log, 2)
    assert [json.loads(text)["request_id"] for text in stream.writes] == ["req-1", "req-2"]


async def test_lines_of_one_loop_iteration_share_a_write() -> None:
    stream = RecordingStream()
    access_log = AccessLog(log_format="json", stream=stream)
    for number in range(3):
        log_request(access_log, number)
    assert stream.writes == []
    await asyncio.sleep(0)
    (text,) = stream.writes
    assert [line["request_id"] for line in json_lines(text)] == ["req-0", "req-1", "req-2"]


async def test_a_batch_fits_one_atomic_pipe_write() -> None:
    stream = RecordingStream()
    access_log = AccessLog(log_format="json", stream=stream)
    for number in range(100):
        log_request(access_log, number, path=f"/product/{number:04d}/ü")
    await asyncio.sleep(0)
    assert len(stream.writes) > 1
    assert all(len(text.encode()) <= select.PIPE_BUF for text in stream.writes)
    logged = [line["request_id"] for line in json_lines(stream.getvalue())]
    assert logged == [f"req-{number}" for number in range(100)]


async def test_flush_writes_what_waits_at_once() -> None:
    stream = RecordingStream()
    access_log = AccessLog(log_format="json", stream=stream)
    log_request(access_log, 1)
    access_log.flush()
    assert [json.loads(text)["request_id"] for text in stream.writes] == ["req-1"]
    await asyncio.sleep(0)
    assert len(stream.writes) == 1
