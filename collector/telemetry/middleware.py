"""The telemetry middleware: pure ASGI, the outermost layer, so it sees every request.

Per HTTP request it measures the time with ``perf_counter``; answers with
``X-Process-Time`` (seconds, four decimals), ``Server-Timing`` (``total``, and ``db``
when the request ran statements) and ``X-Request-ID``; observes
``http_request_duration_seconds{method,route,status}`` with the route *template*
(unknown paths share one label) and a trace-id exemplar when the request is traced;
counts requests in flight; starts one server span; makes ``request_id`` and
``trace_id`` part of every log line written meanwhile; and writes one access line.
Only the headers are made while the request is served: the histogram, the span and
the access line are noted and made with those of the other requests that ended in
the same iteration of the event loop (see ``batch``).

>>> app.add_middleware(TelemetryMiddleware, telemetry=telemetry, exact_routes=["/api/vitals"])
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Collection
from time import perf_counter
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.telemetry.context import RequestContext, current_request
from collector.telemetry.metrics import HTTP_METHODS, OTHER

if TYPE_CHECKING:
    from collector.telemetry.service import Telemetry

UNMATCHED_ROUTE = "unmatched"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_MAX_LOGGED_PATH = 512


class TelemetryMiddleware:
    """Times, counts, traces and logs each HTTP request; other scopes pass straight through."""

    def __init__(
        self, app: ASGIApp, *, telemetry: Telemetry, exact_routes: Collection[str] = ()
    ) -> None:
        self.app = app
        self.telemetry = telemetry
        self._in_flight = telemetry.metrics.requests_in_flight
        self._latency = telemetry.metrics.request_latency
        # Endpoints answered below FastAPI's router (no route in the scope) that
        # still deserve their own label.
        self.exact_routes = frozenset(exact_routes)
        # Request ids need to be unique, not secret: a random prefix and a counter
        # cost a fraction of a random id per request.
        self._request_id_prefix = os.urandom(6).hex()
        self._request_numbers = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request through the app, measuring it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        tracing = self.telemetry.tracing
        request_id, carrier = _read_headers(scope["headers"], tracing.header_names)
        if request_id is None:
            request_id = f"{self._request_id_prefix}-{next(self._request_numbers):x}"

        span = None
        trace_id: int | None = None
        otel_token = None
        if tracing.tracer is not None:
            span, span_context, trace_id = tracing.start_request_span(scope["method"], carrier)
            if span_context is not None:
                otel_token = otel_context.attach(span_context)
        elif carrier:
            trace_id = _trace_id_from_traceparent(carrier.get("traceparent", ""))

        request = RequestContext(request_id, trace_id)
        request_token = current_request.set(request)
        self._in_flight.enter()
        status = 500

        async def send_with_timing(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    *_timing_headers(perf_counter() - started, request),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_timing)
        finally:
            duration = perf_counter() - started
            self._in_flight.leave()
            method = scope["method"]
            if method not in HTTP_METHODS:
                method = OTHER
            route = self._route_label(scope)
            self._latency.observe(
                method, route, status, duration, trace_id if span is not None else None
            )
            if span is not None:
                tracing.end_request_span(
                    span,
                    method=method,
                    route=route,
                    status=status,
                    path=scope["path"],
                    scheme=scope.get("scheme", "http"),
                )
            if otel_token is not None:
                otel_context.detach(otel_token)
            access_log = self.telemetry.access_log
            if access_log is not None:
                access_log.request(
                    method=method,
                    route=route,
                    path=scope["path"][:_MAX_LOGGED_PATH],
                    status=status,
                    seconds=duration,
                    request_id=request_id,
                    trace_id=trace_id,
                    db_seconds=request.db_seconds if request.db_statements else None,
                )
            current_request.reset(request_token)

    def _route_label(self, scope: Scope) -> str:
        route = scope.get("route")
        template = getattr(route, "path", None)
        if isinstance(template, str):
            return template
        path: str = scope["path"]
        return path if path in self.exact_routes else UNMATCHED_ROUTE


def _read_headers(
    headers: list[tuple[bytes, bytes]], propagation_names: frozenset[bytes]
) -> tuple[str | None, dict[str, str] | None]:
    """The caller's request id if it is sane, and the trace-propagation headers."""
    # Built in C, and most requests carry no propagation header: cheaper than a
    # Python loop over a browser's dozen headers. A repeated header's last value counts.
    by_name = dict(headers)
    request_id = None
    raw_request_id = by_name.get(b"x-request-id")
    if raw_request_id is not None:
        request_id = raw_request_id.decode("latin-1")
        if _REQUEST_ID.fullmatch(request_id) is None:
            request_id = None
    if propagation_names.isdisjoint(by_name):
        return request_id, None
    carrier = {
        name.decode("latin-1"): by_name[name].decode("latin-1")
        for name in propagation_names
        if name in by_name
    }
    return request_id, carrier


def _trace_id_from_traceparent(traceparent: str) -> int | None:
    # Checked as strictly as the W3C propagator does.
    parts = traceparent.split("-")
    if len(parts) == 4 and _TRACE_ID.fullmatch(parts[1]):
        return int(parts[1], 16) or None
    return None


def _timing_headers(elapsed: float, request: RequestContext) -> tuple[tuple[bytes, bytes], ...]:
    server_timing = b"total;dur=%.3f" % (elapsed * 1000)
    if request.db_statements:
        server_timing = b"db;dur=%.3f, %s" % (request.db_seconds * 1000, server_timing)
    return (
        (b"x-process-time", b"%.4f" % elapsed),
        (b"server-timing", server_timing),
        (b"x-request-id", request.request_id.encode("latin-1")),
    )
