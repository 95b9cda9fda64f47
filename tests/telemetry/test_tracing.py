"""Tracing: configured by OTEL_* variables, exported over OTLP/HTTP, linked batch spans."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import Request
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Link

from collector.app import create_app
from collector.config import InvalidSettings, Settings, load_settings
from collector.telemetry.sampling import root_decision, sampling_from_settings
from collector.telemetry.tracing import exporter_from_settings
from tests.databases import sqlite_url
from tests.telemetry.helpers import serving_in_process
from tests.telemetry.otlp_receiver import OtlpReceiver

PARENT_SPAN_ID = "00f067aa0ba902b7"
SAMPLED_TRACES = ["4bf92f3577b34da6a3ce929d0e0e4736", "5cf92f3577b34da6a3ce929d0e0e4737"]
UNSAMPLED_TRACE = "6df92f3577b34da6a3ce929d0e0e4738"


@pytest.fixture
def clean_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No OTEL_* variable from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


@pytest.fixture
def receiver(clean_otel_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP receiver the standard variables point perfbeacon at."""
    with OtlpReceiver().running() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "perfbeacon-under-test")
        yield receiver


def settings_from_env(tmp_path: Path) -> Settings:
    """Settings as a deployment gets them: OTEL_* from the environment."""
    return load_settings(_env_file=None, database_url=sqlite_url(tmp_path), log_format="json")


def attributes(span: Span) -> dict[str, object]:
    """A protobuf span's attributes as plain values."""
    values: dict[str, object] = {}
    for attribute in span.attributes:
        kind = attribute.value.WhichOneof("value")
        values[attribute.key] = getattr(attribute.value, kind) if kind else None
    return values


async def test_spans_reach_an_otlp_receiver_with_names_and_links(
    receiver: OtlpReceiver, tmp_path: Path
) -> None:
    app = create_app(settings_from_env(tmp_path))
    links: list[Link | None] = []

    @app.post("/enqueue")
    async def enqueue(request: Request) -> dict[str, bool]:
        links.append(request.app.state.runtime.telemetry.tracing.request_link())
        return {"queued": True}

    async with serving_in_process(app) as client:
        for trace_id in SAMPLED_TRACES:
            traceparent = f"00-{trace_id}-{PARENT_SPAN_ID}-01"
            await client.post("/enqueue", headers={"traceparent": traceparent})
        unsampled = f"00-{UNSAMPLED_TRACE}-{PARENT_SPAN_ID}-00"
        await client.post("/enqueue", headers={"traceparent": unsampled})
        # What the writer does with the requests it carries in one batch.
        tracing = app.state.runtime.telemetry.tracing
        with tracing.ingest_batch(links=links, size=3), tracing.db_commit(rows=3):
            pass
    # The lifespan's end flushed the batch span processor.

    spans = receiver.spans
    assert receiver.service_names == {"perfbeacon-under-test"}
    assert sorted(span.name for span in spans) == [
        "POST /enqueue",
        "POST /enqueue",
        "db commit",
        "ingest batch",
    ]
    requests = [span for span in spans if span.kind == Span.SPAN_KIND_SERVER]
    assert {span.trace_id.hex() for span in requests} == set(SAMPLED_TRACES)
    for span in requests:
        assert span.parent_span_id.hex() == PARENT_SPAN_ID
        assert attributes(span)["http.route"] == "/enqueue"
        assert attributes(span)["http.response.status_code"] == 200

    (batch,) = [span for span in spans if span.name == "ingest batch"]
    (commit,) = [span for span in spans if span.name == "db commit"]
    assert batch.parent_span_id == b""
    assert {(link.trace_id, link.span_id) for link in batch.links} == {
        (span.trace_id, span.span_id) for span in requests
    }
    assert attributes(batch)["perfbeacon.batch.size"] == 3
    assert commit.trace_id == batch.trace_id
    assert commit.parent_span_id == batch.span_id
    assert commit.kind == Span.SPAN_KIND_CLIENT
    assert attributes(commit)["db.system.name"] == "sqlite"


async def test_default_sampling_keeps_about_one_request_in_ten(
    clean_otel_env: None, tmp_path: Path
) -> None:
    exporter = InMemorySpanExporter()
    app = create_app(settings_from_env(tmp_path), span_exporter=exporter)
    requests = 400
    async with serving_in_process(app) as client:
        for _ in range(requests):
            await client.get("/health")
    kept = len(exporter.get_finished_spans())
    # Binomial(400, 0.1): outside [10, 80] has a probability below one in a million.
    assert 10 <= kept <= 80, kept


async def test_batches_of_untraced_requests_make_no_spans(
    clean_otel_env: None, tmp_path: Path
) -> None:
    exporter = InMemorySpanExporter()
    settings = settings_from_env(tmp_path).model_copy(update={"otel_traces_sampler": "always_off"})
    app = create_app(settings, span_exporter=exporter)
    links: list[Link | None] = []

    @app.post("/enqueue")
    async def enqueue(request: Request) -> None:
        links.append(request.app.state.runtime.telemetry.tracing.request_link())

    async with serving_in_process(app) as client:
        await client.post("/enqueue")
        tracing = app.state.runtime.telemetry.tracing
        with tracing.ingest_batch(links=links, size=1), tracing.db_commit(rows=1):
            pass
    assert links == [None]
    assert exporter.get_finished_spans() == ()


def test_exporter_choice_follows_otel_traces_exporter(clean_otel_env: None) -> None:
    def settings(**values: object) -> Settings:
        return Settings(_env_file=None, **values)  # type: ignore[arg-type]

    assert exporter_from_settings(settings()) is None
    assert exporter_from_settings(settings(otel_traces_exporter="none")) is None
    endpoint = "http://127.0.0.1:4318"
    assert exporter_from_settings(settings(otel_exporter_otlp_endpoint=endpoint)) is not None
    assert exporter_from_settings(settings(otel_traces_exporter="console")) is not None
    disabled = settings(otel_traces_exporter="otlp", otel_sdk_disabled=True)
    assert exporter_from_settings(disabled) is None


def test_sampler_defaults_to_parent_based_ten_percent(clean_otel_env: None) -> None:
    default = sampling_from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    assert isinstance(default.sampler, ParentBased)
    assert isinstance(default.root, TraceIdRatioBased)
    assert default.root.rate == 0.1
    ratio = sampling_from_settings(
        Settings(_env_file=None, otel_traces_sampler="traceidratio", otel_traces_sampler_arg=0.5)  # type: ignore[call-arg]
    )
    assert ratio.sampler is ratio.root
    assert isinstance(ratio.root, TraceIdRatioBased)
    assert ratio.root.rate == 0.5


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 1.0])
def test_root_decisions_match_the_sdk_sampler(rate: float) -> None:
    sampler = TraceIdRatioBased(rate)
    samples_root = root_decision(sampler)
    generator = RandomIdGenerator()
    for _ in range(2000):
        trace_id = generator.generate_trace_id()
        expected = sampler.should_sample(None, trace_id, "GET").decision.is_sampled()
        assert samples_root(trace_id) is expected


def test_a_bad_standard_variable_is_named_as_it_is(
    clean_otel_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(InvalidSettings) as caught:
        load_settings(_env_file=None)
    assert str(caught.value).startswith("invalid setting OTEL_TRACES_EXPORTER:")
