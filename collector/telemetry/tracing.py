"""OpenTelemetry tracing, configured by the standard ``OTEL_*`` variables only.

- ``OTEL_TRACES_EXPORTER``: ``otlp`` (OTLP/HTTP), ``console`` or ``none``. Unset, it is
  ``otlp`` when an OTLP endpoint is set and ``none`` otherwise, so a fresh
  ``perfbeacon serve`` does not retry an absent collector.
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``), ``..._HEADERS``, ``OTEL_BSP_*``:
  read by the SDK itself. ``OTEL_SERVICE_NAME`` defaults to ``perfbeacon``.
- ``OTEL_TRACES_SAMPLER`` / ``..._ARG``: default ``parentbased_traceidratio`` at 0.1.

Each request gets one server span, decided before anything is built: an unsampled
request costs a random trace id and one comparison. A sampled one is recorded as a
``ReadableSpan`` handed straight to the SDK's ``BatchSpanProcessor`` (export happens
off the request path); building the SDK's mutable span would cost seven times more.
The spans of the requests that ended in one iteration of the event loop are built
and handed over together at its end (see ``batch``).
The writer links its work to the requests it carries:

>>> link = tracing.request_link()              # while serving the request, at enqueue
>>> with tracing.ingest_batch(links=[link, ...], size=120):
...     with tracing.db_commit(rows=120):
...         ...                                 # COPY + rollup upsert + COMMIT
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.semconv.attributes.db_attributes import (
    DB_OPERATION_BATCH_SIZE,
    DB_OPERATION_NAME,
    DB_SYSTEM_NAME,
)
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE,
)
from opentelemetry.semconv.attributes.url_attributes import URL_PATH, URL_SCHEME
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
)

from collector.config import Settings
from collector.telemetry.batch import IterationBatch
from collector.telemetry.sampling import (
    SampleLinkedRoots,
    Sampling,
    root_decision,
    sampling_from_settings,
)

BATCH_SIZE_ATTRIBUTE = "perfbeacon.batch.size"
INSTRUMENTATION_NAME = "perfbeacon"
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_OK = Status(StatusCode.UNSET)
_ERROR = Status(StatusCode.ERROR)


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


# Server spans built and handed to the processor together at most.
_BATCH_LIMIT = 64


class ServerSpan:
    """A sampled request's span while it is served: its identity and start."""

    __slots__ = ("context", "parent", "start_time")

    def __init__(self, context: SpanContext, parent: SpanContext | None) -> None:
        self.context = context
        self.parent = parent
        self.start_time = time.time_ns()


# A finished server span: its start, method, route, status, path, scheme, end.
_EndedSpan = tuple["ServerSpan", str, str, int, str, str, int]


class Tracing:
    """The tracer perfbeacon's spans come from, or nothing at all when tracing is off."""

    def __init__(
        self,
        *,
        provider: TracerProvider | None,
        processor: BatchSpanProcessor | None = None,
        sampling: Sampling | None = None,
        database_system: str = "sqlite",
        propagator: TextMapPropagator | None = None,
    ) -> None:
        self.provider = provider
        self.tracer: Tracer | None = (
            provider.get_tracer(INSTRUMENTATION_NAME) if provider is not None else None
        )
        self.propagator = propagator or propagate.get_global_textmap()
        # Request headers worth reading: the propagator's, and traceparent so that
        # logs carry the caller's trace id even when perfbeacon itself does not trace.
        self.header_names = frozenset(
            {name.lower().encode("latin-1") for name in self.propagator.fields} | {b"traceparent"}
        )
        self._processor = processor
        self._sampling = sampling
        self._samples_root = root_decision(sampling.root if sampling else ALWAYS_OFF)
        self._ids = RandomIdGenerator()
        self._scope = InstrumentationScope(INSTRUMENTATION_NAME)
        self._database_system = database_system
        self._ended = IterationBatch(self._export, limit=_BATCH_LIMIT)

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
        sampling = sampling_from_settings(settings)
        provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: settings.otel_service_name}),
            sampler=SampleLinkedRoots(sampling.sampler),
            shutdown_on_exit=False,
        )
        processor = BatchSpanProcessor(exporter)
        provider.add_span_processor(processor)
        return cls(
            provider=provider,
            processor=processor,
            sampling=sampling,
            database_system=database_system,
        )

    def start_request_span(
        self, method: str, carrier: Mapping[str, str] | None
    ) -> tuple[ServerSpan | None, Context | None, int]:
        """Decide whether to trace a request and, only if so, start its server span.

        Returns the span and the context to make current (both None when the request
        is not sampled), and the trace id for the logs.
        """
        # Without propagation headers the request has no parent: the telemetry
        # middleware is outermost, so no span can be current yet.
        if carrier:
            parent_context = self.propagator.extract(carrier)
            parent = trace.get_current_span(parent_context).get_span_context()
            if parent.is_valid:
                if not self._samples_child_of(parent_context, parent.trace_id, method):
                    return None, None, parent.trace_id
                return self._start(parent.trace_id, parent, parent_context)
        trace_id = self._ids.generate_trace_id()
        if not self._samples_root(trace_id):
            return None, None, trace_id
        return self._start(trace_id, None, None)

    def _start(
        self, trace_id: int, parent: SpanContext | None, parent_context: Context | None
    ) -> tuple[ServerSpan, Context, int]:
        span_context = SpanContext(
            trace_id,
            self._ids.generate_span_id(),
            is_remote=False,
            trace_flags=_SAMPLED,
            trace_state=parent.trace_state if parent is not None else None,
        )
        span = ServerSpan(span_context, parent)
        current = trace.set_span_in_context(NonRecordingSpan(span_context), parent_context)
        return span, current, trace_id

    def end_request_span(
        self, span: ServerSpan, *, method: str, route: str, status: int, path: str, scheme: str
    ) -> None:
        """Record the finished server span; it is built and exported with its iteration's."""
        self._ended.add((span, method, route, status, path, scheme, time.time_ns()))

    def _export(self, ended: list[_EndedSpan]) -> None:
        if self._processor is None or self.provider is None:
            return
        resource = self.provider.resource
        for span, method, route, status, path, scheme, end_time in ended:
            self._processor.on_end(
                ReadableSpan(
                    name=f"{method} {route}",
                    context=span.context,
                    parent=span.parent,
                    resource=resource,
                    attributes={
                        HTTP_REQUEST_METHOD: method,
                        HTTP_ROUTE: route,
                        HTTP_RESPONSE_STATUS_CODE: status,
                        URL_PATH: path,
                        URL_SCHEME: scheme,
                    },
                    kind=SpanKind.SERVER,
                    status=_ERROR if status >= 500 else _OK,
                    start_time=span.start_time,
                    end_time=end_time,
                    instrumentation_scope=self._scope,
                )
            )

    def _samples_child_of(self, parent_context: Context | None, trace_id: int, name: str) -> bool:
        if self._sampling is None:
            return False
        result = self._sampling.sampler.should_sample(
            parent_context, trace_id, name, SpanKind.SERVER
        )
        return bool(result.decision.is_sampled())

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
        self._ended.flush()
        if self.provider is not None:
            self.provider.shutdown()
