"""The telemetry middleware: pure ASGI, the outermost layer, so it sees every request.

Per HTTP request it measures the time with ``perf_counter``; answers with
``X-Process-Time`` (seconds, four decimals), ``Server-Timing`` (``total``, and ``db``
when the request ran statements) and ``X-Request-ID``; observes
``http_request_duration_seconds{method,route,status}`` with the route *template*
(unknown paths share one label) and a trace-id exemplar when the request is traced;
counts requests in flight; starts one server span; binds ``request_id`` and
``trace_id`` into structlog's context; and writes one access line.

>>> app.add_middleware(TelemetryMiddleware, telemetry=telemetry, exact_routes=["/api/vitals"])
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from time import perf_counter
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE,
)
from opentelemetry.semconv.attributes.url_attributes import URL_PATH, URL_SCHEME
from opentelemetry.trace import SpanKind, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars

from collector.telemetry.database import DatabaseTimer, current_database_timer
from collector.telemetry.metrics import method_label

if TYPE_CHECKING:
    from prometheus_client.metrics import Histogram

    from collector.telemetry.service import Telemetry

UNMATCHED_ROUTE = "unmatched"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_MAX_LOGGED_PATH = 512


class TelemetryMiddleware:
    """Times, counts, traces and logs each HTTP request; other scopes pass straight through."""

    def __init__(
        self, app: ASGIApp, *, telemetry: Telemetry, exact_routes: Collection[str] = ()
    ) -> None:
        self.app = app
        self.telemetry = telemetry
        # Endpoints answered below FastAPI's router (no route in the scope) that
        # still deserve their own label.
        self.exact_routes = frozenset(exact_routes)
        self._histograms: dict[tuple[str, str, int], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request through the app, measuring it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        telemetry = self.telemetry
        tracing = telemetry.tracing
        request_id, carrier = _read_headers(scope["headers"], tracing.header_names)

        span = None
        trace_id: str | None = None
        otel_token = None
        if tracing.tracer is not None:
            parent = tracing.propagator.extract(carrier) if carrier else None
            span = tracing.tracer.start_span(scope["method"], parent, kind=SpanKind.SERVER)
            trace_id = format(span.get_span_context().trace_id, "032x")
            otel_token = otel_context.attach(trace.set_span_in_context(span, parent))
        elif carrier:
            trace_id = _trace_id_from_traceparent(carrier.get("traceparent", ""))

        if trace_id is None:
            log_tokens = bind_contextvars(request_id=request_id)
        else:
            log_tokens = bind_contextvars(request_id=request_id, trace_id=trace_id)
        timer = DatabaseTimer()
        timer_token = current_database_timer.set(timer)
        in_flight = telemetry.metrics.http_requests_in_flight
        in_flight.inc()
        status = 500

        async def send_with_timing(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    *_timing_headers(perf_counter() - started, timer, request_id),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_timing)
        finally:
            duration = perf_counter() - started
            in_flight.dec()
            method = method_label(scope["method"])
            route = self._route_label(scope)
            histogram = self._histogram(method, route, status)
            if span is not None and span.is_recording():
                histogram.observe(duration, {"trace_id": trace_id or ""})
                _finish_server_span(span, scope, method, route, status)
            else:
                histogram.observe(duration)
            if otel_token is not None:
                otel_context.detach(otel_token)
            access_log = telemetry.access_log
            if access_log is not None:
                access_log.info(
                    "request",
                    method=method,
                    route=route,
                    path=scope["path"][:_MAX_LOGGED_PATH],
                    status=status,
                    duration_ms=round(duration * 1000, 3),
                    **({"db_ms": round(timer.seconds * 1000, 3)} if timer.statements else {}),
                )
            current_database_timer.reset(timer_token)
            reset_contextvars(**log_tokens)

    def _route_label(self, scope: Scope) -> str:
        route = scope.get("route")
        template = getattr(route, "path", None)
        if isinstance(template, str):
            return template
        path: str = scope["path"]
        return path if path in self.exact_routes else UNMATCHED_ROUTE

    def _histogram(self, method: str, route: str, status: int) -> Histogram:
        key = (method, route, status)
        child = self._histograms.get(key)
        if child is None:
            child = self.telemetry.metrics.http_request_duration.labels(method, route, str(status))
            self._histograms[key] = child
        return child


def _read_headers(
    headers: list[tuple[bytes, bytes]], propagation_names: frozenset[bytes]
) -> tuple[str, dict[str, str] | None]:
    """The request id to use (the caller's if sane, else a new one) and the trace headers."""
    request_id = None
    carrier = None
    for name, value in headers:
        if name == b"x-request-id":
            request_id = value.decode("latin-1")
        elif name in propagation_names:
            if carrier is None:
                carrier = {}
            carrier[name.decode("latin-1")] = value.decode("latin-1")
    if request_id is None or _REQUEST_ID.fullmatch(request_id) is None:
        request_id = os.urandom(16).hex()
    return request_id, carrier


def _trace_id_from_traceparent(traceparent: str) -> str | None:
    parts = traceparent.split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
        return parts[1].lower()
    return None


def _timing_headers(
    elapsed: float, timer: DatabaseTimer, request_id: str
) -> tuple[tuple[bytes, bytes], ...]:
    server_timing = f"total;dur={elapsed * 1000:.3f}"
    if timer.statements:
        server_timing = f"db;dur={timer.seconds * 1000:.3f}, {server_timing}"
    return (
        (b"x-process-time", f"{elapsed:.4f}".encode()),
        (b"server-timing", server_timing.encode()),
        (b"x-request-id", request_id.encode()),
    )


def _finish_server_span(span: Any, scope: Scope, method: str, route: str, status: int) -> None:
    span.update_name(f"{method} {route}")
    span.set_attributes(
        {
            HTTP_REQUEST_METHOD: method,
            HTTP_ROUTE: route,
            HTTP_RESPONSE_STATUS_CODE: status,
            URL_PATH: scope["path"],
            URL_SCHEME: scope.get("scheme", "http"),
        }
    )
    if status >= 500:
        span.set_status(StatusCode.ERROR)
    span.end()
