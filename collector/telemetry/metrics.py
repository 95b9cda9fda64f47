"""Prometheus instruments of perfbeacon, on a registry passed in (never the global one).

Every label is bounded: routes are templates, methods and Web Vitals names come
from fixed sets, and free-form reasons or verdicts are cut to a few dozen values.

>>> metrics = Metrics(registry=CollectorRegistry())
>>> metrics.metric_rejected(metric="LCP", reason="value_out_of_range")
>>> metrics.observe_writer_batch(size=120, commit_seconds=0.004)
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from collector.telemetry.latency import RequestLatency
from collector.vitals import METRICS

OTHER = "other"

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUDGET_VERDICTS = frozenset({"pass", "fail", "warn", "error"})

BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
COMMIT_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

MAX_REASONS = 32
_UNSAFE_LABEL_CHARACTERS = re.compile(r"[^a-z0-9_]+")


class BoundedLabel:
    """Admits at most ``limit`` distinct label values; later newcomers become ``other``."""

    def __init__(self, *, limit: int, known: Iterable[str] = ()) -> None:
        self._limit = limit
        self._seen: set[str] = set(known)
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        """The label value to use for ``value``: itself, normalized, or ``other``."""
        if value in self._seen:
            return value
        normalized = _UNSAFE_LABEL_CHARACTERS.sub("_", value.lower()).strip("_")[:48] or OTHER
        with self._lock:
            if normalized in self._seen:
                return normalized
            if len(self._seen) >= self._limit:
                return OTHER
            self._seen.add(normalized)
        return normalized


def web_vital_label(metric: str) -> str:
    """A Web Vitals metric name as a label: LCP, INP, CLS, FCP, TTFB, FID, else ``other``."""
    return metric if metric in METRICS else OTHER


class RequestsInFlight:
    """Counts requests being served: a plain counter the gauge reads at scrape time.

    With several worker processes the gauge cannot call into each worker, so
    every change also goes to the shared gauge.
    """

    __slots__ = ("_shared", "count")

    def __init__(self, gauge: Gauge, *, multiprocess: bool) -> None:
        self.count = 0
        self._shared = gauge if multiprocess else None
        if not multiprocess:
            gauge.set_function(lambda: self.count)

    def enter(self) -> None:
        """A request started."""
        self.count += 1
        if self._shared is not None:
            self._shared.inc()

    def leave(self) -> None:
        """A request ended."""
        self.count -= 1
        if self._shared is not None:
            self._shared.dec()


class Metrics:
    """perfbeacon's instruments. Producers call the methods; ``/metrics`` reads the registry.

    In prometheus-client's multiprocess mode each gauge says how values of several
    workers combine (``livesum`` for counts of things in progress, ``livemax`` for lag).
    """

    def __init__(self, *, registry: CollectorRegistry, multiprocess: bool = False) -> None:
        self.registry = registry
        self._reasons = BoundedLabel(limit=MAX_REASONS)
        self._verdicts = BoundedLabel(limit=len(BUDGET_VERDICTS) + 4, known=BUDGET_VERDICTS)

        self.request_latency = RequestLatency(registry=registry, multiprocess=multiprocess)
        self.requests_in_flight = RequestsInFlight(
            Gauge(
                "http_requests_in_flight",
                "Requests being served right now.",
                registry=registry,
                multiprocess_mode="livesum",
            ),
            multiprocess=multiprocess,
        )
        self._beacons_accepted = Counter(
            "perfbeacon_beacons_accepted",
            "Beacons (POST /api/vitals bodies) with at least one metric stored.",
            registry=registry,
        )
        self._beacons_rejected = Counter(
            "perfbeacon_beacons_rejected",
            "Beacons of which no metric was stored, by reason.",
            ["reason"],
            registry=registry,
        )
        self._metrics_accepted = Counter(
            "perfbeacon_metrics_accepted",
            "Web Vitals metric reports stored, by metric.",
            ["metric"],
            registry=registry,
        )
        self._metrics_rejected = Counter(
            "perfbeacon_metrics_rejected",
            "Web Vitals metric reports refused, by metric and reason.",
            ["metric", "reason"],
            registry=registry,
        )
        self._writer_queue_depth = Gauge(
            "perfbeacon_writer_queue_depth",
            "Metric reports waiting for the writer's next commit.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._writer_batch_size = Histogram(
            "perfbeacon_writer_batch_size",
            "Metric reports written per group commit.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self._writer_commit_seconds = Histogram(
            "perfbeacon_writer_commit_seconds",
            "Duration of one group commit (raw events and rollups in one transaction).",
            buckets=COMMIT_LATENCY_BUCKETS,
            registry=registry,
        )
        self._spool_bytes = Gauge(
            "perfbeacon_spool_bytes",
            "Bytes of acknowledged metric reports in the local spool, waiting for the database.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._spooled = Counter(
            "perfbeacon_spooled_metrics",
            "Metric reports written to the local spool because the database was unreachable.",
            registry=registry,
        )
        self._replayed = Counter(
            "perfbeacon_replayed_metrics",
            "Metric reports replayed from the local spool into the database.",
            registry=registry,
        )
        self._database_reachable = Gauge(
            "perfbeacon_writer_database_reachable",
            "1 while the writer's last attempt to reach the database succeeded, else 0.",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self._database_reachable.set(1)
        self._rate_limited = Counter(
            "perfbeacon_rate_limited",
            "Beacons refused with 429 because their site and client address were over the limit.",
            registry=registry,
        )
        self._rollup_lag = Gauge(
            "perfbeacon_rollup_lag_seconds",
            "Age of the newest raw event not yet folded into the rollups.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self._db_pool_in_use = Gauge(
            "perfbeacon_db_pool_connections_in_use",
            "Database connections checked out of the pool.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._websocket_clients = Gauge(
            "perfbeacon_websocket_clients",
            "Live-feed WebSocket clients connected.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._budget_checks = Counter(
            "perfbeacon_budget_checks",
            "Budget checks answered, by verdict.",
            ["verdict"],
            registry=registry,
        )

    def beacon_accepted(self) -> None:
        """Count a beacon of which at least one metric was stored."""
        self._beacons_accepted.inc()

    def beacon_rejected(self, *, reason: str) -> None:
        """Count a beacon refused as a whole (bad JSON, unknown site, too large...)."""
        self._beacons_rejected.labels(self._reasons(reason)).inc()

    def metrics_accepted(self, *, metric: str, count: int = 1) -> None:
        """Count ``count`` stored reports of one Web Vitals metric."""
        self._metrics_accepted.labels(web_vital_label(metric)).inc(count)

    def metric_rejected(self, *, metric: str, reason: str) -> None:
        """Count one refused metric report."""
        self._metrics_rejected.labels(web_vital_label(metric), self._reasons(reason)).inc()

    def set_writer_queue_depth(self, depth: int) -> None:
        """Report how many metric reports wait for the writer in this process."""
        self._writer_queue_depth.set(depth)

    def observe_writer_batch(self, *, size: int, commit_seconds: float) -> None:
        """Record one group commit: how many reports it wrote and how long it took."""
        self._writer_batch_size.observe(size)
        self._writer_commit_seconds.observe(commit_seconds)

    def set_spool_bytes(self, size: int) -> None:
        """Report how many bytes wait in this process's spool."""
        self._spool_bytes.set(size)

    def metrics_spooled(self, count: int) -> None:
        """Count metric reports spooled while the database was unreachable."""
        self._spooled.inc(count)

    def metrics_replayed(self, count: int) -> None:
        """Count metric reports replayed from the spool into the database."""
        self._replayed.inc(count)

    def set_database_reachable(self, reachable: bool) -> None:
        """Report whether the writer reaches the database."""
        self._database_reachable.set(1 if reachable else 0)

    def beacon_rate_limited(self) -> None:
        """Count one beacon refused for being over the rate limit."""
        self._rate_limited.inc()

    def set_rollup_lag(self, seconds: float) -> None:
        """Report how far the rollups are behind the raw events."""
        self._rollup_lag.set(seconds)

    def db_connection_checked_out(self) -> None:
        """A pooled database connection went into use."""
        self._db_pool_in_use.inc()

    def db_connection_checked_in(self) -> None:
        """A pooled database connection came back to the pool."""
        self._db_pool_in_use.dec()

    def websocket_connected(self) -> None:
        """A live-feed client connected."""
        self._websocket_clients.inc()

    def websocket_disconnected(self) -> None:
        """A live-feed client went away."""
        self._websocket_clients.dec()

    def budget_checked(self, *, verdict: str) -> None:
        """Count one budget check by its verdict (``pass``, ``fail``, ``warn``, ``error``)."""
        self._budget_checks.labels(self._verdicts(verdict)).inc()
