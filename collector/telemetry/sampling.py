"""Which traces perfbeacon keeps: the ``OTEL_TRACES_SAMPLER`` sampler, parent-based 10 % by default.

>>> sampling = sampling_from_settings(settings)
>>> samples_root = root_decision(sampling.root)
>>> samples_root(trace_id)   # the decision for a request without a parent
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from collector.config import Settings

DEFAULT_SAMPLING_RATIO = 0.1


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


class Sampling(NamedTuple):
    """The configured sampler, and what it does for spans without a parent."""

    sampler: Sampler
    root: Sampler


def sampling_from_settings(settings: Settings) -> Sampling:
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
    return Sampling(ParentBased(root) if name.startswith("parentbased_") else root, root)


def root_decision(root: Sampler) -> Callable[[int], bool]:
    """Whether ``root`` keeps a trace without a parent, by trace id, without a SamplingResult.

    The ratio test is the SDK's own (``TraceIdRatioBased.should_sample``); it runs
    for every request, where a full sampler call would cost more than the rest of
    the telemetry. The sampler's kind is looked at once: ``isinstance`` on the
    SDK's abstract samplers is itself slow.
    """
    if isinstance(root, TraceIdRatioBased):
        bound = root.bound
        limit = TraceIdRatioBased.TRACE_ID_LIMIT
        return lambda trace_id: (trace_id & limit) < bound
    if root is ALWAYS_ON:
        return lambda _trace_id: True
    if root is ALWAYS_OFF:
        return lambda _trace_id: False
    return lambda trace_id: root.should_sample(None, trace_id, "request").decision.is_sampled()
