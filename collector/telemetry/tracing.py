"""OpenTelemetry tracing, configured by the standard ``OTEL_*`` variables only.

- ``OTEL_TRACES_EXPORTER``: ``otlp`` (OTLP/HTTP), ``console`` or ``none``. Unset, it is
  ``otlp`` when an OTLP endpoint is set and ``none`` otherwise, so a fresh
  ``perfbeacon serve`` does not retry an absent collector.
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``), ``..._HEADERS``, ``OTEL_BSP_*``:
  read by the SDK itself. ``OTEL_SERVICE_NAME`` defaults to ``perfbeacon``.
- ``OTEL_TRACES_SAMPLER`` / ``..._ARG``: default ``parentbased_traceidratio`` at 0.1.

Spans leave through a ``BatchSpanProcessor``, off the request path. The writer links
its work to the requests it carries:

>>> link = tracing.request_link()              # while serving the request, at enqueue
>>> with tracing.ingest_batch(links=[link, ...], size=120):
...     with tracing.db_commit(rows=120):
...         ...                                 # COPY + rollup upsert + COMMIT
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.semconv.attributes.db_attributes import (
    DB_OPERATION_BATCH_SIZE,
    DB_OPERATION_NAME,
    DB_SYSTEM_NAME,
)
from opentelemetry.trace import Link, SpanKind, Tracer
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from collector.config import Settings

DEFAULT_SAMPLING_RATIO = 0.1
BATCH_SIZE_ATTRIBUTE = "perfbeacon.batch.size"


class SampleLinkedRoots(Sampler):
    """Samples a root span linked to a sampled span; asks ``delegate`` about the rest.

    A batch span has no parent but carries requests: it is worth keeping exactly
    when one of those requests was kept.
    """

    def __init__(self, delegate: Sampler) -> None:
        self._delegate = delegate

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """Sample when a link is sampled and there is no parent, else delegate."""
        if links and any(link.context.trace_flags.sampled for link in links):
            parent = trace.get_current_span(parent_context).get_span_context()
            if not parent.is_valid:
                return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        """Name and delegate, as OpenTelemetry samplers describe themselves."""
        return f"SampleLinkedRoots{{{self._delegate.get_description()}}}"


def sampler_from_settings(settings: Settings) -> Sampler:
    """The sampler ``OTEL_TRACES_SAMPLER``/``_ARG`` name; parent-based 10 % when unset."""
    name = settings.otel_traces_sampler
    ratio = settings.otel_traces_sampler_arg
    if name is None:
        name = "parentbased_traceidratio"
        ratio = DEFAULT_SAMPLING_RATIO if ratio is None else ratio
    root: Sampler
    if name.endswith("always_on"):
        root = ALWAYS_ON
    elif name.endswith("always_off"):
        root = ALWAYS_OFF
    else:
        root = TraceIdRatioBased(1.0 if ratio is None else ratio)
    return ParentBased(root) if name.startswith("parentbased_") else root


def exporter_from_settings(settings: Settings) -> SpanExporter | None:
    """The span exporter ``OTEL_TRACES_EXPORTER`` asks for, or None for no tracing."""
    choice = settings.otel_traces_exporter
    if choice is None:
        choice = "otlp" if settings.otel_exporter_otlp_endpoint else "none"
    if settings.otel_sdk_disabled or choice == "none":
        return None
    if choice == "console":
        return ConsoleSpanExporter(service_name=settings.otel_service_name)
    # Imported here: it pulls in protobuf and requests, which untraced services never need.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


class Tracing:
    """The tracer perfbeacon's spans come from, or nothing at all when tracing is off."""

    def __init__(
        self,
        *,
        provider: TracerProvider | None,
        database_system: str = "sqlite",
        propagator: TextMapPropagator | None = None,
    ) -> None:
        self.provider = provider
        self.tracer: Tracer | None = provider.get_tracer("perfbeacon") if provider else None
        self.propagator = propagator or propagate.get_global_textmap()
        # Request headers worth reading: the propagator's, and traceparent so that
        # logs carry the caller's trace id even when perfbeacon itself does not trace.
        self.header_names = frozenset(
            {name.lower().encode("latin-1") for name in self.propagator.fields} | {b"traceparent"}
        )
        self._database_system = database_system

    @classmethod
    def disabled(cls) -> Tracing:
        """Tracing that does nothing (before start, or with ``OTEL_TRACES_EXPORTER=none``)."""
        return cls(provider=None)

    @classmethod
    def from_settings(cls, settings: Settings, *, exporter: SpanExporter | None = None) -> Tracing:
        """Tracing as the ``OTEL_*`` variables configure it; ``exporter`` overrides theirs."""
        exporter = exporter or exporter_from_settings(settings)
        database_system = "sqlite" if settings.is_sqlite else "postgresql"
        if exporter is None:
            return cls(provider=None, database_system=database_system)
        provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: settings.otel_service_name}),
            sampler=SampleLinkedRoots(sampler_from_settings(settings)),
            shutdown_on_exit=False,
        )
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider=provider, database_system=database_system)

    def request_link(self) -> Link | None:
        """A link to the current request's span if it is sampled (call while serving it)."""
        span_context = trace.get_current_span().get_span_context()
        if self.tracer is None or not span_context.trace_flags.sampled:
            return None
        return Link(span_context)

    @contextmanager
    def ingest_batch(self, *, links: Sequence[Link | None], size: int) -> Iterator[None]:
        """A root span for one writer batch, linked to the sampled requests it carries."""
        sampled = [link for link in links if link is not None]
        if self.tracer is None or not sampled:
            yield
            return
        with self.tracer.start_as_current_span(
            "ingest batch",
            context=Context(),
            kind=SpanKind.INTERNAL,
            links=sampled,
            attributes={BATCH_SIZE_ATTRIBUTE: size},
        ):
            yield

    @contextmanager
    def db_commit(self, *, rows: int) -> Iterator[None]:
        """A child span of the current (batch) span for one database transaction."""
        if self.tracer is None or not trace.get_current_span().is_recording():
            yield
            return
        with self.tracer.start_as_current_span(
            "db commit",
            kind=SpanKind.CLIENT,
            attributes={
                DB_SYSTEM_NAME: self._database_system,
                DB_OPERATION_NAME: "COMMIT",
                DB_OPERATION_BATCH_SIZE: rows,
            },
        ):
            yield

    def shutdown(self) -> None:
        """Export what is buffered and stop the exporter thread."""
        if self.provider is not None:
            self.provider.shutdown()
