"""Producers report to the telemetry: ingestion, the writer and budget checks."""

from __future__ import annotations

from collections import Counter

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.app import create_app
from collector.config import Settings
from tests.budgets.helpers import FAST_ASSERTIONS, build, runs, site_headers
from tests.factories import make_site
from tests.ingest.conftest import ORIGIN, beacon, post_beacon
from tests.telemetry.helpers import label_sets, serving_in_process


async def _budget_checks_by_verdict(client: httpx.AsyncClient) -> dict[str, float]:
    text = (await client.get("/metrics")).text
    return {
        sample.labels["verdict"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "perfbeacon_budget_checks_total"
    }


async def test_budget_checks_are_counted_by_verdict(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    for build_hash, lhrs in [("w1", "v1-index"), ("f1", "v1-heavy"), ("f2", "v1-heavy")]:
        response = await client.post(
            "/api/v1/budgets/check",
            json={"build": build(build_hash), "lhrs": runs(lhrs), "assert": FAST_ASSERTIONS},
            headers=site_headers(site),
        )
        assert response.status_code == 200, response.text
    refused = await client.post("/api/v1/budgets/check", json={}, headers=site_headers(site))
    assert refused.status_code == 422

    assert await _budget_checks_by_verdict(client) == {"warn": 1, "fail": 2}


async def test_ingestion_counts_beacons_metrics_and_batches(
    settings: Settings, engine: AsyncEngine
) -> None:
    site = await make_site(engine, origins=[ORIGIN])
    registry = CollectorRegistry()
    app = create_app(settings, registry=registry)
    metrics = beacon("v5-standard")
    bad_value = {**metrics[0], "value": -5}
    async with serving_in_process(app) as client:
        assert (await post_beacon(client, metrics, key=site.key)).status_code == 204
        partial = await post_beacon(client, [metrics[0], bad_value], key=site.key)
        assert partial.status_code == 200
        refused = await post_beacon(client, metrics, key="pk_unknown0000000000000", origin=None)
        assert refused.status_code == 404, refused.text

    value = registry.get_sample_value
    assert value("perfbeacon_beacons_accepted_total") == 2
    assert value("perfbeacon_beacons_rejected_total", {"reason": "unknown_site"}) == 1
    expected = Counter(metric["name"] for metric in [*metrics, metrics[0]])
    for name, count in expected.items():
        assert value("perfbeacon_metrics_accepted_total", {"metric": name}) == count
    rejected = {"metric": bad_value["name"], "reason": "invalid"}
    assert value("perfbeacon_metrics_rejected_total", rejected) == 1
    assert value("perfbeacon_writer_batch_size_count") == 2
    assert value("perfbeacon_writer_batch_size_sum") == len(metrics) + 1
    assert value("perfbeacon_writer_commit_seconds_count") == 2
    assert value("perfbeacon_writer_queue_depth") == 0
    routes = {
        labels["route"] for labels in label_sets(registry, "http_request_duration_seconds_count")
    }
    assert routes == {"/api/vitals"}


async def test_ingest_batches_are_traced_and_linked_to_their_requests(
    engine: AsyncEngine, settings: Settings
) -> None:
    site = await make_site(engine, origins=[ORIGIN])
    exporter = InMemorySpanExporter()
    traced = settings.model_copy(update={"otel_traces_sampler": "always_on"})
    app = create_app(traced, span_exporter=exporter)
    async with serving_in_process(app) as client:
        response = await post_beacon(client, beacon("v6-standard"), key=site.key)
        assert response.status_code == 204

    spans = exporter.get_finished_spans()
    (request,) = [span for span in spans if span.kind == SpanKind.SERVER]
    (batch,) = [span for span in spans if span.name == "ingest batch"]
    (commit,) = [span for span in spans if span.name == "db commit"]
    assert request.name == "POST /api/vitals"
    assert [link.context.span_id for link in batch.links] == [request.context.span_id]
    assert batch.parent is None
    assert commit.parent is not None
    assert commit.parent.span_id == batch.context.span_id
