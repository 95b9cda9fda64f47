"""``Telemetry``: metrics, tracing and logging of one app, started and stopped by its lifespan."""

from __future__ import annotations

import os
from collections.abc import Collection

from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector, multiprocess
from prometheus_client.exposition import choose_encoder
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.config import Settings
from collector.telemetry.access import AccessLog
from collector.telemetry.database import instrument_engine
from collector.telemetry.field_gauges import FieldCollector, FieldSnapshot
from collector.telemetry.logs import configure_logging
from collector.telemetry.metrics import Metrics
from collector.telemetry.tracing import Tracing


class Telemetry:
    """Created with the app (the middleware needs it), started by the lifespan.

    Until ``start`` runs, tracing and the access log are off; metrics always count.
    With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set), each worker
    writes its values to that directory and a scrape sums them all.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        registry: CollectorRegistry,
        span_exporter: SpanExporter | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = Metrics(
            registry=registry, multiprocess=settings.prometheus_multiproc_dir is not None
        )
        self.tracing = Tracing.disabled()
        self.access_log: AccessLog | None = None
        self._span_exporter = span_exporter
        # Field gauges stay out of the multiprocess files: the process answering a
        # scrape exports its own snapshot (see field_gauges).
        self.field = FieldSnapshot()
        if self.multiprocess_dir is None:
            registry.register(FieldCollector(self.field))
            # Per-process figures only make sense when one process serves.
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)

    @property
    def multiprocess_dir(self) -> str | None:
        """Where workers share metric values, or None with a single process."""
        return self.settings.prometheus_multiproc_dir

    def start(
        self, *, engine: AsyncEngine, debug_only_lines: Collection[tuple[str, int]] = ()
    ) -> None:
        """Configure logging, start the span exporter, instrument the database engine.

        Requests of the (route, status) pairs in ``debug_only_lines`` get an access line
        only at debug level.
        """
        configure_logging(self.settings)
        # Access lines are info lines: a higher level turns them off too.
        if self.settings.access_log and self.settings.log_level in ("debug", "info"):
            self.access_log = AccessLog(
                log_format=self.settings.resolved_log_format(),
                unlogged=() if self.settings.log_level == "debug" else debug_only_lines,
            )
        self.tracing = Tracing.from_settings(self.settings, exporter=self._span_exporter)
        instrument_engine(engine, metrics=self.metrics)

    def stop(self) -> None:
        """Flush spans and access lines; in multiprocess mode, retire this worker's live gauges."""
        self.tracing.shutdown()
        self.tracing = Tracing.disabled()
        if self.access_log is not None:
            self.access_log.flush()
        self.access_log = None
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)

    def scrape(self, *, accept: str) -> tuple[bytes, str]:
        """The exposition body and content type for a scraper sending ``accept``.

        OpenMetrics (with trace-id exemplars on the latency histogram) when asked for,
        Prometheus text otherwise. prometheus-client keeps no exemplars across
        processes, so with several workers the histogram carries none.
        """
        encoder, content_type = choose_encoder(accept)
        return encoder(self._scrape_registry()), content_type

    def _scrape_registry(self) -> CollectorRegistry:
        if self.multiprocess_dir is None:
            return self.metrics.registry
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
        registry.register(FieldCollector(self.field))
        return registry
