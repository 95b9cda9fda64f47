"""Beacon shapes as web-vitals v4, v5 and v6 send them (standard and attribution builds).

Only the fields perfbeacon keeps are declared: msgspec skips every other field
(``entries``, ``navigationEntry``, ``lcpEntry``, ...) without building it, so
unknown and bulky fields cost little and are never errors. A body is decoded in
two steps, the envelope first with each metric left as raw JSON, then each metric
on its own, so one malformed metric is rejected without losing its neighbours.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from collector.vitals import MetricName

ShortText = Annotated[str, msgspec.Meta(max_length=512)]
PageText = Annotated[str, msgspec.Meta(max_length=4096)]
SiteKey = Annotated[str, msgspec.Meta(max_length=64)]


class ConnectionInfo(msgspec.Struct, gc=False):
    """``navigator.connection`` sent whole instead of its ``effectiveType``."""

    effectiveType: ShortText | None = None


Connection = ShortText | ConnectionInfo


class Envelope(msgspec.Struct, gc=False):
    """A JSON object body: ``{"site", "metrics": [...], "page", ...}``, or one metric.

    A lone metric decodes here too (its metric fields skipped); ``metrics`` then
    stays None and the body is decoded again as a ``MetricIn``.
    """

    site: SiteKey | None = None
    metrics: list[msgspec.Raw] | None = None
    page: PageText | None = None
    connection: Connection | None = None
    deviceMemory: float | None = None


class BareMetricIn(msgspec.Struct, gc=False):
    """One web-vitals ``Metric`` (plus the classic snippet's page fields), sans attribution."""

    name: MetricName
    value: float
    id: ShortText | None = None
    delta: float | None = None
    navigationType: ShortText | None = None
    navigationId: int | ShortText | None = None
    navigationURL: PageText | None = None
    page: PageText | None = None
    connection: Connection | None = None
    deviceMemory: float | None = None


class MetricIn(BareMetricIn, gc=False):
    """A metric with its attribution (web-vitals attribution build)."""

    attribution: AttributionIn | None = None


class TypedEnvelope(msgspec.Struct, gc=False):
    """``Envelope`` with its metrics decoded: the one-pass path for well-formed bodies."""

    site: SiteKey | None = None
    metrics: list[MetricIn] | None = None
    page: PageText | None = None
    connection: Connection | None = None
    deviceMemory: float | None = None


# Well-formed bodies decode in one pass as TypedBody; a body with a malformed metric
# is decoded again as Body, and its metrics one by one.
TypedBody = list[MetricIn] | TypedEnvelope
Body = list[msgspec.Raw] | Envelope


class ScriptEntryIn(msgspec.Struct, gc=False):
    """The parts of a ``PerformanceScriptTiming`` worth keeping."""

    invoker: str | None = None
    invokerType: str | None = None
    sourceURL: str | None = None
    sourceFunctionName: str | None = None


class LongestScriptIn(msgspec.Struct, gc=False):
    """v5+ ``longestScript``: the longest LoAF script intersecting the interaction."""

    entry: ScriptEntryIn | None = None
    subpart: str | None = None
    intersectingDuration: float | None = None


class FrameIn(msgspec.Struct, gc=False):
    """A long-animation-frame entry, reduced to its blocking time."""

    blockingDuration: float | None = None


class AttributionIn(msgspec.Struct, gc=False):
    """The attribution fields perfbeacon keeps, of every metric, in one shape.

    One shape for all metrics lets a whole beacon decode in one pass; which fields
    a metric's summary keeps is decided by its name (see ``attribution.py``).
    LCP: target (v4: element), url, timeToFirstByte and the three sub-parts.
    INP: interaction target/type/time, the three phases, loadState, the LoAF
    entries and (v5+) longestScript and the totals. CLS: the largest shift.
    FCP: timeToFirstByte, firstByteToFCP. TTFB: its five sub-parts. FID: the event.
    web-vitals v3 names some of these differently (INP's event*, LCP's
    resourceLoadTime, TTFB's *Time); they are read as their successors.
    """

    target: str | None = None
    element: str | None = None
    url: str | None = None
    timeToFirstByte: float | None = None
    resourceLoadDelay: float | None = None
    resourceLoadDuration: float | None = None
    elementRenderDelay: float | None = None
    interactionTarget: str | None = None
    interactionType: str | None = None
    interactionTime: float | None = None
    inputDelay: float | None = None
    processingDuration: float | None = None
    presentationDelay: float | None = None
    loadState: str | None = None
    longAnimationFrameEntries: list[FrameIn] | None = None
    longestScript: LongestScriptIn | None = None
    totalScriptDuration: float | None = None
    totalStyleAndLayoutDuration: float | None = None
    totalPaintDuration: float | None = None
    totalUnattributedDuration: float | None = None
    largestShiftTarget: str | None = None
    largestShiftTime: float | None = None
    largestShiftValue: float | None = None
    firstByteToFCP: float | None = None
    waitingDuration: float | None = None
    cacheDuration: float | None = None
    dnsDuration: float | None = None
    connectionDuration: float | None = None
    requestDuration: float | None = None
    eventTarget: str | None = None
    eventType: str | None = None
    eventTime: float | None = None
    resourceLoadTime: float | None = None
    waitingTime: float | None = None
    dnsTime: float | None = None
    connectionTime: float | None = None
    requestTime: float | None = None


class Rejection(msgspec.Struct, gc=False):
    """One metric of a beacon that was not stored, and why."""

    index: int
    error: str


class PartialResult(msgspec.Struct, gc=False):
    """The 200 body when some metrics of a beacon were stored and some were not."""

    accepted: int
    rejected: list[Rejection]
    rejected_total: int
