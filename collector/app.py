"""``create_app(settings)``: the one module that wires routers, middleware and the lifespan."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import timedelta
from functools import partial

import structlog
from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware.gzip import GZipMiddleware

from collector import health
from collector.allocator import keep_freed_memory_for_reuse
from collector.background import Supervisor
from collector.budgets.field.gauges import refresh as refresh_field_gauges
from collector.budgets.field.regressions import CHECK_INTERVAL, FIRST_CHECK_DELAY, check_today
from collector.budgets.field.router import router as field_router
from collector.budgets.lab.router import router as budgets_router
from collector.budgets.lhci.retention import PRUNE_INTERVAL, prune_and_log
from collector.budgets.lhci.router import app_links as lhci_app_links
from collector.budgets.lhci.router import router as lhci_router
from collector.config import InvalidSettings, Settings, load_settings
from collector.http_errors import RefuseNulInUrl, install_error_handlers
from collector.ingest import useragent
from collector.ingest.endpoint import VITALS_PATH, VitalsEndpoint
from collector.ingest.service import BeaconIngestor
from collector.ingest.writer import EventWriter
from collector.query.roller import roll_once
from collector.query.router import router as query_router
from collector.runtime import Runtime, event_writer, open_spool
from collector.security.cors import ReadApiCors
from collector.security.instance_secrets import get_or_create_secret
from collector.security.ratelimit import SYNC_INTERVAL, RateLimiter
from collector.sites.cache import SiteCache
from collector.sites.router import router as sites_router
from collector.storage.db import create_engine
from collector.storage.maintenance import (
    MAINTENANCE_INTERVAL,
    RETRY_INTERVAL,
    maintain_and_log,
    try_maintain_once,
)
from collector.telemetry.middleware import TelemetryMiddleware
from collector.telemetry.router import router as telemetry_router
from collector.telemetry.service import Telemetry
from dashboard.app import create_dashboard
from dashboard.live import LiveHub
from dashboard.views.live import socket_router as live_socket_router

logger = structlog.get_logger(__name__)


# Endpoints served below FastAPI's router that still get their own metric label.
EXACT_ROUTES = (VITALS_PATH,)
BACKGROUND_STOP_SECONDS = 5.0


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    span_exporter: SpanExporter | None = None,
) -> FastAPI:
    """Build a perfbeacon app; nothing is opened until its lifespan starts.

    Metrics go to ``registry`` (a fresh one by default, never the global one);
    ``span_exporter`` replaces the exporter ``OTEL_TRACES_EXPORTER`` names.
    """
    telemetry = Telemetry(
        settings=settings,
        registry=registry if registry is not None else CollectorRegistry(),
        span_exporter=span_exporter,
    )
    app = FastAPI(
        title="perfbeacon",
        version="0.1.0",
        summary="Web Vitals collector, budgets and dashboard",
        lifespan=_lifespan(settings, telemetry),
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(sites_router)
    app.include_router(budgets_router)
    app.include_router(field_router)
    app.include_router(lhci_router)
    app.include_router(lhci_app_links)
    app.include_router(telemetry_router)
    app.include_router(query_router)
    app.state.live_hub = LiveHub(
        on_connect=telemetry.metrics.websocket_connected,
        on_disconnect=telemetry.metrics.websocket_disconnected,
    )
    app.include_router(live_socket_router)
    app.mount("/dashboard", create_dashboard(state=app.state))
    _add_middleware(app, settings)
    # Beneath the beacon endpoint, which checks its one parameter itself: a pass costs
    # each request a few microseconds, and beacons are most requests.
    app.add_middleware(RefuseNulInUrl)
    # Outside GZip and CORS: the beacon hot path pays for neither.
    app.add_middleware(VitalsEndpoint)
    # Telemetry must stay the last one added (outermost): it times everything
    # beneath it, /api/vitals included.
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry, exact_routes=EXACT_ROUTES)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` and worker processes: settings from the environment."""
    try:
        app = create_app(load_settings())
    except InvalidSettings as exc:
        raise SystemExit(f"perfbeacon: {exc}") from None
    _tune_gc_for_serving()
    if not keep_freed_memory_for_reuse():
        logger.info("malloc_not_tuned", reason="not glibc: freed memory goes back at once")
    return app


def _tune_gc_for_serving() -> None:
    # The imported framework is hundreds of thousands of objects that live forever;
    # walking them in every full collection stalled requests for tens of ms.
    # Freeze them out of the collector and collect the young generation less often:
    # each beacon allocates many short-lived containers.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    # Added last = outermost. GZip sits inside CORS so preflights stay uncompressed.
    app.add_middleware(GZipMiddleware, minimum_size=settings.gzip_minimum_size)
    if settings.cors_origins:
        app.add_middleware(ReadApiCors, origins=settings.cors_origins)


def _lifespan(
    settings: Settings, telemetry: Telemetry
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Whatever started is stopped in the reverse order, also when start-up fails.
        async with AsyncExitStack() as stack:
            engine = create_engine(settings.database_url)
            # Beacons stored whole (204) are nearly every request of a busy collector;
            # the request metrics count them all, so an operator may keep their lines.
            debug_only = () if settings.access_log_stored_beacons else ((VITALS_PATH, 204),)
            telemetry.start(engine=engine, debug_only_lines=debug_only)
            stack.callback(telemetry.stop)
            stack.push_async_callback(engine.dispose)
            redis = _redis_client(settings)
            if redis is not None:
                stack.push_async_callback(redis.aclose)
            limiter = RateLimiter(
                redis=redis,
                secret=await _rate_limit_secret(engine) if redis is not None else None,
                on_limited=telemetry.metrics.beacon_rate_limited,
            )
            background = Supervisor(stop_timeout=BACKGROUND_STOP_SECONDS)
            await stack.enter_async_context(background)
            await _start_background(background, engine, settings, telemetry, limiter)
            # Loading the User-Agent rules takes a moment; do it beside serving.
            warm_up = asyncio.create_task(asyncio.to_thread(useragent.warm_up), name="ua-warm")
            stack.push_async_callback(lambda: warm_up)  # a thread: it cannot be cancelled
            spool = open_spool(settings)
            if spool is not None:
                stack.callback(spool.close)
            writer = event_writer(engine, settings, telemetry, spool)
            writer.add_listener(app.state.live_hub.after_commit)
            await writer.start()
            # Part of the shutdown timeout went to requests in flight; the rest is the
            # writer's, to commit the queue and replay the spool.
            stack.push_async_callback(writer.stop, timeout=settings.shutdown_timeout / 2)
            app.state.runtime = _runtime(settings, engine, writer, telemetry, limiter)
            yield

    return lifespan


async def _start_background(
    background: Supervisor,
    engine: AsyncEngine,
    settings: Settings,
    telemetry: Telemetry,
    limiter: RateLimiter,
) -> None:
    """Start every periodic pass a collector runs beside serving."""
    retention_days, ahead_days = settings.retention_days, settings.partitions_ahead_days
    # A database that is down at start must not stop the collector from starting:
    # /ready reports it, and the maintenance pass is retried sooner.
    first_pass_done = await try_maintain_once(
        engine, retention_days=retention_days, ahead_days=ahead_days
    )
    background.every(
        "storage_maintenance",
        MAINTENANCE_INTERVAL,
        partial(maintain_and_log, engine, retention_days=retention_days, ahead_days=ahead_days),
        first_delay=MAINTENANCE_INTERVAL if first_pass_done else RETRY_INTERVAL,
        retry_interval=RETRY_INTERVAL,
    )
    background.every(
        "budget_retention",
        PRUNE_INTERVAL,
        partial(
            prune_and_log,
            engine,
            lhr_retention_days=settings.lhr_retention_days,
            build_retention_days=settings.retention_days,
        ),
    )
    background.every(
        "field_regression_check",
        CHECK_INTERVAL,
        partial(check_today, engine),
        first_delay=FIRST_CHECK_DELAY,
    )
    background.every(
        "field_gauges_refresh",
        timedelta(seconds=settings.field_gauge_interval_seconds),
        partial(refresh_field_gauges, engine=engine, snapshot=telemetry.field, settings=settings),
    )
    if not settings.is_sqlite:
        # On SQLite writers roll up in their own transactions; no roller needed.
        background.every(
            "rollup_pass",
            timedelta(seconds=settings.rollup_interval_seconds),
            partial(roll_once, engine, report_lag=telemetry.metrics.set_rollup_lag),
        )
    background.every(
        "rate_limit_sync",
        SYNC_INTERVAL,
        limiter.sync,
        first_delay=SYNC_INTERVAL,
    )


def _runtime(
    settings: Settings,
    engine: AsyncEngine,
    writer: EventWriter,
    telemetry: Telemetry,
    limiter: RateLimiter,
) -> Runtime:
    site_cache = SiteCache(engine, ttl=settings.site_cache_seconds)
    return Runtime(
        settings=settings,
        engine=engine,
        writer=writer,
        site_cache=site_cache,
        ingestor=BeaconIngestor(
            sites=site_cache,
            writer=writer,
            metrics=telemetry.metrics,
            limiter=limiter,
            rate_limit_per_minute=settings.rate_limit_per_minute,
            drop_bots=settings.drop_bots,
        ),
        telemetry=telemetry,
    )


def _redis_client(settings: Settings) -> Redis | None:
    if settings.redis_url is None:
        return None
    # Short timeouts: a slow Redis delays only the background sync, never a beacon.
    return Redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)


async def _rate_limit_secret(engine: AsyncEngine) -> bytes | None:
    """The key every collector hashes (site, address) with before it reaches Redis."""
    try:
        async with asyncio.timeout(5), engine.connect() as conn:
            return (await get_or_create_secret(conn=conn, name="rate_limit")).encode()
    except Exception as exc:
        # Limits still hold per process; they are shared again after a restart.
        logger.warning("rate_limit_secret_unavailable", error=type(exc).__name__)
        return None
