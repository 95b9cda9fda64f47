"""The apps ``bench/middleware.py`` measures: one trivial JSON route, instrumented nine ways.

``uvicorn bench.middleware_apps:create --factory`` builds the app named by the
``BENCH_APP`` environment variable (a key of ``APPS``).
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI, Request, Response
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.config import Settings
from collector.http_errors import RefuseNulInUrl
from collector.storage.db import create_engine
from collector.telemetry.middleware import TelemetryMiddleware
from collector.telemetry.service import Telemetry

ROUTE = "/hello"


class DroppingExporter(SpanExporter):
    """Accepts every span and keeps none: the cost of tracing without a network."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Drop ``spans``."""
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def bare(lifespan: Lifespan | None = None) -> FastAPI:
    """FastAPI and the trivial route, nothing else."""
    app = FastAPI(lifespan=lifespan)

    @app.get(ROUTE)
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


def _perfbeacon(*, access_log: bool, traced: bool, sampler: str | None = None) -> FastAPI:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        log_format="json",
        access_log=access_log,
        otel_traces_sampler=sampler,  # type: ignore[arg-type]
    )
    telemetry = Telemetry(
        settings=settings,
        registry=CollectorRegistry(),
        span_exporter=DroppingExporter() if traced else None,
    )
    database = os.path.join(tempfile.mkdtemp(prefix="perfbeacon-bench-"), "bench.db")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(f"sqlite+aiosqlite:///{database}")
        telemetry.start(engine=engine)
        yield
        telemetry.stop()
        await engine.dispose()

    app = bare(lifespan)
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry)
    return app


def perfbeacon_metrics() -> FastAPI:
    """perfbeacon's middleware: metrics, timing headers, request id; no access log, no traces."""
    return _perfbeacon(access_log=False, traced=False)


def perfbeacon_access_log() -> FastAPI:
    """The same plus one JSON access line per request."""
    return _perfbeacon(access_log=True, traced=False)


def perfbeacon_traced_default() -> FastAPI:
    """The same plus tracing at the default sampling (parent-based, 10 %)."""
    return _perfbeacon(access_log=True, traced=True)


def perfbeacon_traced_all() -> FastAPI:
    """The same with every request traced."""
    return _perfbeacon(access_log=True, traced=True, sampler="always_on")


def instrumentator() -> FastAPI:
    """prometheus-fastapi-instrumentator with its defaults."""
    from prometheus_fastapi_instrumentator import Instrumentator

    app = bare()
    Instrumentator(registry=CollectorRegistry()).instrument(app)
    return app


def otel_fastapi() -> FastAPI:
    """OpenTelemetry's FastAPI instrumentation, every request sampled, spans dropped."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    provider = TracerProvider(sampler=ALWAYS_ON, shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(DroppingExporter()))
    app = bare()
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    return app


class TimingHeaders:
    """Pure ASGI: adds the three headers perfbeacon answers with, formatted alike, nothing else.

    The floor under perfbeacon's first configuration: what wrapping ``send`` and
    sending three more headers cost by themselves.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._numbers = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, adding the headers to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = b"000000000000-%x" % next(self._numbers)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = time.perf_counter() - started
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-process-time", b"%.4f" % elapsed),
                    (b"server-timing", b"total;dur=%.3f" % (elapsed * 1000)),
                    (b"x-request-id", request_id),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def timing_headers_only() -> FastAPI:
    """Only the three response headers, as a reference for what they cost alone."""
    app = bare()
    app.add_middleware(TimingHeaders)
    return app


def nul_guard_only() -> FastAPI:
    """Only the guard that refuses a NUL in the URL, which every perfbeacon request passes."""
    app = bare()
    app.add_middleware(RefuseNulInUrl)
    return app


def tutorial() -> FastAPI:
    """The common tutorial: ``@app.middleware("http")`` setting X-Process-Time, one log line."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    logger = logging.getLogger("access")
    app = bare()

    @app.middleware("http")
    async def add_process_time_header(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start_time = time.perf_counter()
        response = await call_next(request)
        process_time = time.perf_counter() - start_time
        response.headers["X-Process-Time"] = str(process_time)
        logger.info(
            "%s %s %s %.4f", request.method, request.url.path, response.status_code, process_time
        )
        return response

    return app


APPS: dict[str, Callable[[], FastAPI]] = {
    "bare": bare,
    "reference: the three headers alone": timing_headers_only,
    "reference: the NUL-in-URL guard alone": nul_guard_only,
    "perfbeacon: metrics + headers + request id": perfbeacon_metrics,
    "perfbeacon: + JSON access log": perfbeacon_access_log,
    "perfbeacon: + tracing 10 %": perfbeacon_traced_default,
    "perfbeacon: + tracing 100 %": perfbeacon_traced_all,
    "prometheus-fastapi-instrumentator": instrumentator,
    "OTel FastAPI instrumentation (100 %)": otel_fastapi,
    "tutorial @app.middleware": tutorial,
}


def create() -> FastAPI:
    """The app ``BENCH_APP`` names."""
    return APPS[os.environ["BENCH_APP"]]()
