"""``http_request_duration_seconds``: the request latency histogram, cheap to observe.

prometheus-client's ``Histogram.observe`` takes a lock per bucket and sum and walks
the buckets in Python; once per request that was a quarter of what the telemetry
middleware cost. Here a request is only noted; at the end of the event loop's
iteration (see ``batch``) and before each scrape, the notes are counted into plain
per-bucket counts (found with ``bisect``), a sum and the latest trace id per
bucket, which a custom collector exports as exactly the samples
prometheus-client's ``Histogram`` would have. Notes and counts are only touched
from the event loop's thread, where the middleware and ``/metrics`` run, so they
need no lock.

With several worker processes the values must reach the shared directory a scrape
reads, so there each observation goes to a prometheus-client ``Histogram`` instead
(which keeps no exemplars across processes anyway).

>>> latency = RequestLatency(registry=registry, multiprocess=False)
>>> latency.observe("GET", "/health", 200, 0.0004, trace_id=None)
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import Metric
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from collector.telemetry.batch import IterationBatch

NAME = "http_request_duration_seconds"
DOCUMENTATION = "Time from a request's arrival to its last response byte, by route template."
LABEL_NAMES = ("method", "route", "status")
# Requests perfbeacon serves are short: most answer in a few milliseconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class LocalLatency:
    """One label set's counts in this process: per bucket (the last one is +Inf) and sum."""

    __slots__ = ("counts", "created", "exemplars", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        # Per bucket, the (trace id, seconds, when) of its latest traced request.
        self.exemplars: list[Exemplar | None] = [None] * (len(BUCKETS) + 1)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, seconds: float, traced: tuple[int, float] | None) -> None:
        """Count one request that took ``seconds``; ``traced``: its trace id and end time."""
        bucket = bisect_left(BUCKETS, seconds)
        self.counts[bucket] += 1
        self.sum += seconds
        if traced is not None:
            trace_id, when = traced
            self.exemplars[bucket] = Exemplar({"trace_id": f"{trace_id:032x}"}, seconds, when)


# One request: method, route, status, seconds, and (trace id, end time) if traced.
Observation = tuple[str, str, int, float, tuple[int, float] | None]


class RequestLatency:
    """The histogram of every label set, and the collector that exports it."""

    def __init__(self, *, registry: CollectorRegistry, multiprocess: bool) -> None:
        self._pending = IterationBatch(self._count, limit=_BATCH_LIMIT)
        self._local: dict[tuple[str, str, int], LocalLatency] = {}
        self._shared: Histogram | None = None
        self._shared_children: dict[tuple[str, str, int], Histogram] = {}
        if multiprocess:
            self._shared = Histogram(
                NAME, DOCUMENTATION, LABEL_NAMES, buckets=BUCKETS, registry=registry
            )
        else:
            registry.register(self)

    def observe(
        self, method: str, route: str, status: int, seconds: float, trace_id: int | None
    ) -> None:
        """Count one request that took ``seconds``, with its trace id if it was sampled."""
        if self._shared is not None:
            self._observe_shared((method, route, status), seconds)
            return
        self._pending.add(
            (method, route, status, seconds, None if trace_id is None else (trace_id, time.time()))
        )

    def _observe_shared(self, key: tuple[str, str, int], seconds: float) -> None:
        assert self._shared is not None
        child = self._shared_children.get(key)
        if child is None:
            method, route, status = key
            child = self._shared.labels(method, route, str(status))
            self._shared_children[key] = child
        child.observe(seconds)

    def _count(self, observations: list[Observation]) -> None:
        local = self._local
        for method, route, status, seconds, traced in observations:
            key = (method, route, status)
            histogram = local.get(key)
            if histogram is None:
                histogram = local[key] = LocalLatency()
            histogram.observe(seconds, traced)

    def describe(self) -> Iterable[Metric]:
        """The family this collector exports, for the registry's duplicate check."""
        return [Metric(NAME, DOCUMENTATION, "histogram")]

    def collect(self) -> Iterable[Metric]:
        """The samples prometheus-client's ``Histogram`` would export for the same counts."""
        self._pending.flush()
        family = Metric(NAME, DOCUMENTATION, "histogram")
        for (method, route, status), local in self._local.items():
            _add_samples(family, {"method": method, "route": route, "status": str(status)}, local)
        return [family]


# Observations counted together at most (in a loop that never yields).
_BATCH_LIMIT = 64
_BOUND_LABELS = tuple(floatToGoString(bound) for bound in (*BUCKETS, float("inf")))


def _add_samples(family: Metric, labels: dict[str, str], local: LocalLatency) -> None:
    cumulative = 0
    for bound, count, exemplar in zip(_BOUND_LABELS, local.counts, local.exemplars, strict=True):
        cumulative += count
        family.add_sample(f"{NAME}_bucket", {**labels, "le": bound}, cumulative, exemplar=exemplar)
    family.add_sample(f"{NAME}_count", labels, cumulative)
    family.add_sample(f"{NAME}_sum", labels, local.sum)
    family.add_sample(f"{NAME}_created", labels, local.created)
