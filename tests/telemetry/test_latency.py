"""The request latency histogram exports what prometheus-client's ``Histogram`` would."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics
from prometheus_client.samples import Sample

from collector.telemetry.latency import BUCKETS, DOCUMENTATION, NAME, RequestLatency

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
# On bucket bounds, between them and past the last one; two label sets.
OBSERVATIONS = [
    ("GET", "/health", 200, 0.0004, None),
    ("GET", "/health", 200, 0.001, None),
    ("GET", "/health", 200, 0.0030, int(TRACE_ID, 16)),
    ("GET", "/health", 200, 12.5, None),
    ("POST", "/api/vitals", 204, 0.25, None),
    ("POST", "/api/vitals", 204, 0.2500001, None),
]


def _without_created_and_exemplars(registry: CollectorRegistry) -> list[Sample]:
    return [
        sample._replace(exemplar=None)
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    ]


def test_samples_equal_prometheus_clients_histogram() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    latency = RequestLatency(registry=ours, multiprocess=False)
    histogram = Histogram(
        NAME, DOCUMENTATION, ["method", "route", "status"], buckets=BUCKETS, registry=theirs
    )
    for method, route, status, seconds, trace_id in OBSERVATIONS:
        latency.observe(method, route, status, seconds, trace_id)
        histogram.labels(method, route, str(status)).observe(seconds)

    assert _without_created_and_exemplars(ours) == _without_created_and_exemplars(theirs)
    labels = {"method": "GET", "route": "/health", "status": "200"}
    assert ours.get_sample_value(f"{NAME}_created", labels) is not None


def test_a_traced_request_is_the_exemplar_of_its_bucket() -> None:
    registry = CollectorRegistry()
    latency = RequestLatency(registry=registry, multiprocess=False)
    for method, route, status, seconds, trace_id in OBSERVATIONS:
        latency.observe(method, route, status, seconds, trace_id)

    exemplars = {
        sample.labels["le"]: sample.exemplar
        for family in registry.collect()
        for sample in family.samples
        if sample.exemplar is not None
    }
    assert list(exemplars) == ["0.005"]
    assert exemplars["0.005"].labels == {"trace_id": TRACE_ID}
    assert exemplars["0.005"].value == 0.0030
    assert f'# {{trace_id="{TRACE_ID}"}} 0.003' in openmetrics(registry).decode()


def test_counts_are_current_at_every_scrape() -> None:
    registry = CollectorRegistry()
    latency = RequestLatency(registry=registry, multiprocess=False)
    labels = {"method": "GET", "route": "/health", "status": "200"}
    for expected in range(1, 2502):
        latency.observe("GET", "/health", 200, 0.002, None)
        if expected in (1, 999, 1000, 1001, 2501):
            assert registry.get_sample_value(f"{NAME}_count", labels) == expected
    assert registry.get_sample_value(f"{NAME}_sum", labels) == pytest.approx(2501 * 0.002)
