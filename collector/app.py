"""``create_app(settings)``: the one module that wires routers, middleware and the lifespan."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta

import structlog
from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware.gzip import GZipMiddleware

from collector import health
from collector.allocator import keep_freed_memory_for_reuse
from collector.budgets.field.gauges import refresh_forever as refresh_field_gauges
from collector.budgets.field.regressions import check_forever as check_field_forever
from collector.budgets.field.router import router as field_router
from collector.budgets.lab.router import router as budgets_router
from collector.budgets.lhci.retention import prune_forever
from collector.budgets.lhci.router import app_links as lhci_app_links
from collector.budgets.lhci.router import router as lhci_router
from collector.config import InvalidSettings, Settings, load_settings
from collector.http_errors import RefuseNulInUrl, install_error_handlers
from collector.ingest import useragent
from collector.ingest.endpoint import VITALS_PATH, VitalsEndpoint
from collector.ingest.service import BeaconIngestor
from collector.sites.cache import SiteCache
from collector.ingest.spool import Spool
from collector.ingest.writer import EventWriter
from collector.query.roller import roll_forever
from collector.query.rollups import batch_needs_rollups, roll_up_batch
from collector.query.router import router as query_router
from collector.runtime import Runtime
from collector.security.cors import ReadApiCors
from collector.security.instance_secrets import get_or_create_secret
from collector.security.ratelimit import RateLimiter
from collector.sites.router import router as sites_router
from collector.storage.db import create_engine
from collector.storage.maintenance import maintain_forever, try_maintain_once
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


def event_writer(
    engine: AsyncEngine, settings: Settings, telemetry: Telemetry, spool: Spool | None = None
) -> EventWriter:
    """The event writer as the collector runs it (the demo loader writes through it too)."""
    writer = EventWriter(
        engine,
        batch_window=settings.ingest_batch_window_ms / 1000,
        max_queue=settings.ingest_queue_max_metrics,
        max_batch=settings.ingest_batch_max_metrics,
        recent_capacity=settings.ingest_recent_ids,
        metrics=telemetry.metrics,
        tracing=telemetry.tracing,
        spool=spool,
        commit_timeout=settings.ingest_commit_timeout,
    )
    # Rollups commit with the raw rows of a batch, or are left to the roller.
    writer.add_batch_hook(roll_up_batch, needed=batch_needs_rollups)
    return writer


def open_spool(settings: Settings) -> Spool | None:
    """This process's spool for database outages, or None when it is turned off (size 0)."""
    if settings.spool_max_bytes == 0:
        return None
    spool = Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes)
    spool.open()
    return spool


def _lifespan(
    settings: Settings, telemetry: Telemetry
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        # Beacons stored whole (204) are nearly every request of a busy collector; the
        # request metrics count them all, so an operator may keep their lines to debug.
        telemetry.start(
            engine=engine,
            debug_only_lines=() if settings.access_log_stored_beacons else ((VITALS_PATH, 204),),
        )
        # A database that is down at start must not stop the collector from starting:
        # /ready reports it, and the maintenance task retries.
        first_pass_done = await try_maintain_once(
            engine,
            retention_days=settings.retention_days,
            ahead_days=settings.partitions_ahead_days,
        )
        maintenance = asyncio.create_task(
            maintain_forever(
                engine,
                retention_days=settings.retention_days,
                ahead_days=settings.partitions_ahead_days,
                first_pass_done=first_pass_done,
            ),
            name="storage-maintenance",
        )
        budget_retention = asyncio.create_task(
            prune_forever(
                engine,
                lhr_retention_days=settings.lhr_retention_days,
                build_retention_days=settings.retention_days,
            ),
            name="budget-retention",
        )
        field_check = asyncio.create_task(
            check_field_forever(engine), name="field-regression-check"
        )
        field_gauges = asyncio.create_task(
            refresh_field_gauges(engine=engine, snapshot=telemetry.field, settings=settings),
            name="field-gauges",
        )
        background = [maintenance, budget_retention, field_check, field_gauges]
        if not settings.is_sqlite:
            # On SQLite writers roll up in their own transactions; no roller needed.
            interval = timedelta(seconds=settings.rollup_interval_seconds)
            background.append(
                asyncio.create_task(
                    roll_forever(
                        engine, interval=interval, report_lag=telemetry.metrics.set_rollup_lag
                    ),
                    name="rollups",
                )
            )
        spool = open_spool(settings)
        writer = event_writer(engine, settings, telemetry, spool)
        writer.add_listener(app.state.live_hub.after_commit)
        # Loading the User-Agent rules takes a moment; do it beside serving, not before.
        warm_up = asyncio.create_task(asyncio.to_thread(useragent.warm_up), name="ua-warm-up")
        await writer.start()
        redis = _redis_client(settings)
        limiter = RateLimiter(
            redis=redis,
            secret=await _rate_limit_secret(engine) if redis is not None else None,
            on_limited=telemetry.metrics.beacon_rate_limited,
        )
        background.append(asyncio.create_task(limiter.sync_forever(), name="rate-limit-sync"))
        site_cache = SiteCache(engine, ttl=settings.site_cache_seconds)
        app.state.runtime = Runtime(
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
        try:
            yield
        finally:
            # Part of the shutdown timeout went to requests in flight; the rest is the
            # writer's, to commit the queue and replay the spool.
            await writer.stop(timeout=settings.shutdown_timeout / 2)
            if spool is not None:
                spool.close()
            await warm_up
            for task in background:
                task.cancel()
            # Bounded: a task that ignored its cancellation must not hold the exit.
            _, stuck = await asyncio.wait(background, timeout=BACKGROUND_STOP_SECONDS)
            if stuck:
                logger.warning("background_tasks_did_not_stop", tasks=[t.get_name() for t in stuck])
            if redis is not None:
                await redis.aclose()
            await engine.dispose()
            telemetry.stop()

    return lifespan


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
