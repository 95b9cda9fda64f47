"""``GET /metrics``: Prometheus text, OpenMetrics with trace-id exemplars, domain metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus_text
from pydantic import SecretStr

from collector.app import create_app
from collector.config import Settings
from collector.storage.db import create_engine
from collector.telemetry.database import instrument_engine
from collector.telemetry.metrics import MAX_REASONS, Metrics
from tests.databases import sqlite_url
from tests.telemetry.helpers import serving_in_process

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def traced_settings(tmp_path: Path, sampler: str) -> Settings:
    """Settings on a private SQLite file, tracing with ``sampler``."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=sqlite_url(tmp_path),
        log_format="json",
        otel_traces_sampler=sampler,  # type: ignore[arg-type]
    )


async def test_prometheus_text_by_default(tmp_path: Path) -> None:
    app = create_app(traced_settings(tmp_path, "always_off"))
    async with serving_in_process(app) as client:
        await client.get("/health")
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {family.name: family for family in parse_prometheus_text(response.text)}
    for name in [
        "http_request_duration_seconds",
        "http_requests_in_flight",
        "perfbeacon_beacons_accepted",
        "perfbeacon_metrics_rejected",
        "perfbeacon_writer_queue_depth",
        "perfbeacon_writer_batch_size",
        "perfbeacon_writer_commit_seconds",
        "perfbeacon_rollup_lag_seconds",
        "perfbeacon_db_pool_connections_in_use",
        "perfbeacon_websocket_clients",
        "perfbeacon_budget_checks",
        "process_cpu_seconds",
    ]:
        assert name in families, name
    health = [
        sample
        for sample in families["http_request_duration_seconds"].samples
        if sample.name.endswith("_count") and sample.labels["route"] == "/health"
    ]
    assert [sample.value for sample in health] == [1]


async def test_openmetrics_carries_trace_ids_as_exemplars(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    app = create_app(traced_settings(tmp_path, "always_on"), span_exporter=exporter)
    async with serving_in_process(app) as client:
        await client.get("/health")
        response = await client.get("/metrics", headers={"Accept": OPENMETRICS})

    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
    span_trace_ids = {
        format(span.context.trace_id, "032x")
        for span in exporter.get_finished_spans()
        if span.name == "GET /health"
    }
    exemplars = [
        sample.exemplar
        for family in text_string_to_metric_families(response.text)
        if family.name == "http_request_duration_seconds"
        for sample in family.samples
        if sample.exemplar is not None
    ]
    assert exemplars, "no exemplar on the latency histogram"
    assert {exemplar.labels["trace_id"] for exemplar in exemplars} == span_trace_ids


async def test_untraced_requests_leave_no_exemplar(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    app = create_app(traced_settings(tmp_path, "always_off"), span_exporter=exporter)
    async with serving_in_process(app) as client:
        await client.get("/health")
        response = await client.get("/metrics", headers={"Accept": OPENMETRICS})
    assert exporter.get_finished_spans() == ()
    assert " # {" not in response.text
    assert re.search(r'http_request_duration_seconds_count\{[^}]*route="/health"', response.text)


def test_domain_metrics_count_what_producers_report() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry=registry)
    metrics.beacon_accepted()
    metrics.beacon_rejected(reason="unknown_site")
    metrics.metrics_accepted(metric="LCP", count=3)
    metrics.metric_rejected(metric="INP", reason="Value out of range!")
    metrics.metric_rejected(metric="made-up-metric", reason="unknown_metric")
    metrics.set_writer_queue_depth(7)
    metrics.observe_writer_batch(size=120, commit_seconds=0.004)
    metrics.set_rollup_lag(2.5)
    metrics.websocket_connected()
    metrics.websocket_connected()
    metrics.websocket_disconnected()
    metrics.budget_checked(verdict="fail")

    value = registry.get_sample_value
    assert value("perfbeacon_beacons_accepted_total") == 1
    assert value("perfbeacon_beacons_rejected_total", {"reason": "unknown_site"}) == 1
    assert value("perfbeacon_metrics_accepted_total", {"metric": "LCP"}) == 3
    labels = {"metric": "INP", "reason": "value_out_of_range"}
    assert value("perfbeacon_metrics_rejected_total", labels) == 1
    labels = {"metric": "other", "reason": "unknown_metric"}
    assert value("perfbeacon_metrics_rejected_total", labels) == 1
    assert value("perfbeacon_writer_queue_depth") == 7
    assert value("perfbeacon_writer_batch_size_sum") == 120
    assert value("perfbeacon_writer_commit_seconds_count") == 1
    assert value("perfbeacon_rollup_lag_seconds") == 2.5
    assert value("perfbeacon_websocket_clients") == 1
    assert value("perfbeacon_budget_checks_total", {"verdict": "fail"}) == 1


def test_free_text_reasons_are_bounded() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry=registry)
    for number in range(MAX_REASONS * 3):
        metrics.beacon_rejected(reason=f"reason {number}")
    reasons = {
        sample.labels["reason"]
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "perfbeacon_beacons_rejected_total"
    }
    assert len(reasons) == MAX_REASONS + 1
    assert "other" in reasons
    assert registry.get_sample_value("perfbeacon_beacons_rejected_total", {"reason": "other"}) == (
        MAX_REASONS * 2
    )


@pytest.mark.parametrize("held", [1, 3])
async def test_pool_connections_in_use(database_url: str, held: int) -> None:
    registry = CollectorRegistry()
    # An engine of its own: the app's background tasks borrow connections too.
    engine = create_engine(database_url)
    instrument_engine(engine, metrics=Metrics(registry=registry))
    try:
        connections = [await engine.connect() for _ in range(held)]
        in_use = registry.get_sample_value("perfbeacon_db_pool_connections_in_use")
        for connection in connections:
            await connection.close()
        after = registry.get_sample_value("perfbeacon_db_pool_connections_in_use")
    finally:
        await engine.dispose()
    assert in_use == held
    assert after == 0


async def test_a_metrics_token_closes_the_endpoint_to_everyone_else(tmp_path: Path) -> None:
    token = "scraper-secret-0123456789abcdef"
    settings = traced_settings(tmp_path, "always_off").model_copy(
        update={"metrics_token": SecretStr(token)}
    )
    app = create_app(settings)
    async with serving_in_process(app) as client:
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        scraper = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert anonymous.status_code == wrong.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"
    assert scraper.status_code == 200
    assert "http_request_duration_seconds" in scraper.text
