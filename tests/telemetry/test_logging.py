"""Structured logs: one access line per request with ids, secrets and payloads kept out."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from collector.app import create_app
from collector.config import Settings
from collector.storage.db import create_engine
from collector.storage.migrate import upgrade
from collector.telemetry.logs import (
    REDACTED,
    omit_payloads_above_debug,
    redact_secrets,
    scrub_text,
)
from tests.databases import sqlite_url
from tests.telemetry.helpers import serving_in_process

SECRET = "pbr_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
# Letters, so no timestamp, duration or id in the log can contain it by chance.
PAYLOAD_MARKER = "payload-marker-not-for-logs"


def log_settings(tmp_path: Path, **values: Any) -> Settings:
    """Settings on a private SQLite file with JSON logs."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=sqlite_url(tmp_path),
        log_format="json",
        **values,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` parsed as JSON (each must be)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def test_access_line_has_ids_and_no_authorization_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exporter = InMemorySpanExporter()
    # Checking a bearer token reads the stored admin tokens: the schema must exist.
    engine = create_engine(sqlite_url(tmp_path))
    await upgrade(engine)
    await engine.dispose()
    app = create_app(log_settings(tmp_path), span_exporter=exporter)
    async with serving_in_process(app) as client:
        response = await client.get(
            "/api/v1/sites",
            headers={
                "Authorization": f"Bearer {SECRET}",
                "Cookie": f"session={SECRET}",
                "traceparent": TRACEPARENT,
                "X-Request-ID": "req-7",
            },
        )
    output = capsys.readouterr().err

    assert SECRET not in output
    access = [line for line in json_lines(output) if line["logger"] == "perfbeacon.access"]
    assert len(access) == 1
    (line,) = access
    assert line["event"] == "request"
    assert line["level"] == "info"
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/sites"
    assert line["status"] == response.status_code
    assert line["duration_ms"] >= 0
    assert line["request_id"] == "req-7"
    assert line["trace_id"] == TRACE_ID
    (span,) = exporter.get_finished_spans()
    assert format(span.context.trace_id, "032x") == TRACE_ID


async def test_lines_logged_while_serving_carry_the_request_ids_and_redact_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(log_settings(tmp_path))
    logger = structlog.get_logger("tests.handler")

    @app.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, str]:
        # Careless logging a handler might do: every secret must still be masked.
        logger.info(
            "handling",
            headers={"authorization": f"Bearer {SECRET}", "user-agent": "test"},
            read_token=SECRET,
            note=f"called with Authorization: Bearer {SECRET}",
            payload=body,
        )
        return {"ok": "yes"}

    async with serving_in_process(app) as client:
        await client.post(
            "/echo",
            json={"name": "LCP", "page": PAYLOAD_MARKER},
            headers={"traceparent": TRACEPARENT},
        )
    output = capsys.readouterr().err

    assert SECRET not in output
    assert PAYLOAD_MARKER not in output
    (handling,) = [line for line in json_lines(output) if line["event"] == "handling"]
    assert handling["trace_id"] == TRACE_ID
    assert re.fullmatch(r"[0-9a-f]{12}-[0-9a-f]+", handling["request_id"])
    assert handling["headers"] == {"authorization": REDACTED, "user-agent": "test"}
    assert handling["read_token"] == REDACTED
    assert handling["note"] == f"called with Authorization: Bearer {REDACTED}"
    assert "omitted" in handling["payload"]


async def test_tokens_in_the_path_are_scrubbed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(log_settings(tmp_path))
    async with serving_in_process(app) as client:
        await client.get(f"/share/{SECRET}/Bearer abc.def")
    output = capsys.readouterr().err

    (line,) = [line for line in json_lines(output) if line["logger"] == "perfbeacon.access"]
    assert SECRET not in output
    assert "abc.def" not in output
    assert line["path"] == f"/share/{REDACTED}/Bearer {REDACTED}"


async def test_access_log_can_be_turned_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(log_settings(tmp_path, access_log=False))
    async with serving_in_process(app) as client:
        await client.get("/health")
    assert "perfbeacon.access" not in capsys.readouterr().err


async def test_console_format_is_readable_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(log_settings(tmp_path).model_copy(update={"log_format": "console"}))
    async with serving_in_process(app) as client:
        await client.get("/health", headers={"X-Request-ID": "req-console"})
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "req-console" in line]
    assert not line.startswith("{")
    assert "request" in line
    assert "route=/health" in line


def test_payloads_only_at_debug() -> None:
    event = {"event": "beacon", "payload": [{"name": "LCP", "value": 1}]}
    assert omit_payloads_above_debug(None, "debug", dict(event)) == event
    assert "omitted" in omit_payloads_above_debug(None, "info", dict(event))["payload"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Authorization", "Bearer abc.def"),
        ("cookie", "session=abc"),
        ("set_cookie", "session=abc"),
        ("admin_token", "abcdefghijklmnopqrstuvwxyz"),
        ("token", "abc"),
    ],
)
def test_sensitive_keys_are_redacted(key: str, value: str) -> None:
    assert redact_secrets(None, "info", {key: value}) == {key: REDACTED}


def test_nested_sensitive_keys_are_redacted() -> None:
    event = {"request": {"headers": {"Set-Cookie": "a=b", "accept": "*/*"}}}
    redacted = redact_secrets(None, "info", event)
    assert redacted == {"request": {"headers": {"Set-Cookie": REDACTED, "accept": "*/*"}}}


def test_tokens_inside_text_are_redacted() -> None:
    line = json.dumps({"event": f"token {SECRET} sent with basic dXNlcjpwYXNz and no other secret"})
    text = json.loads(scrub_text(line))["event"]
    assert SECRET not in text
    assert "dXNlcjpwYXNz" not in text
    assert text.endswith("and no other secret")
