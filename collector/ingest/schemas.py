"""Beacon shapes as web-vitals v4, v5 and v6 send them (standard and attribution builds).

Only the fields perfbeacon keeps are declared: msgspec skips every other field
(``entries``, ``navigationEntry``, ``lcpEntry``, ...) without building it, so
unknown and bulky fields cost little and are never errors. A body is decoded in
two steps, the envelope first with each metric left as raw JSON, then each metric
on its own, so one malformed metric is rejected without losing its neighbours.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

MetricName = Literal["LCP", "INP", "CLS", "FCP", "TTFB", "FID"]

# Raw cannot be optional in msgspec; an empty Raw stands for "not sent".
NO_ATTRIBUTION = msgspec.Raw()

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


class MetricIn(msgspec.Struct, gc=False):
    """One web-vitals ``Metric`` (plus the classic snippet's page fields)."""

    name: MetricName
    value: float
    id: ShortText | None = None
    delta: float | None = None
    navigationType: ShortText | None = None
    navigationId: int | ShortText | None = None
    navigationURL: PageText | None = None
    attribution: msgspec.Raw = NO_ATTRIBUTION
    page: PageText | None = None
    connection: Connection | None = None
    deviceMemory: float | None = None


Body = list[msgspec.Raw] | Envelope

# Attribution builds: the compact fields kept per metric. Element and entry objects
# are not declared, so they are skipped.


class LCPAttributionIn(msgspec.Struct, gc=False):
    """LCP attribution (v4 names the element ``element``, v5+ ``target``)."""

    target: str | None = None
    element: str | None = None
    url: str | None = None
    timeToFirstByte: float | None = None
    resourceLoadDelay: float | None = None
    resourceLoadDuration: float | None = None
    elementRenderDelay: float | None = None


class ScriptEntryIn(msgspec.Struct, gc=False):
    """The parts of a ``PerformanceScriptTiming`` worth keeping."""

    invoker: str | None = None
    invokerType: str | None = None
    sourceURL: str | None = None
    sourceFunctionName: str | None = None
    duration: float | None = None


class LongestScriptIn(msgspec.Struct, gc=False):
    """v5+ ``longestScript``: the longest LoAF script intersecting the interaction."""

    entry: ScriptEntryIn | None = None
    subpart: str | None = None
    intersectingDuration: float | None = None


class FrameIn(msgspec.Struct, gc=False):
    """A long-animation-frame entry, reduced to its durations."""

    duration: float | None = None
    blockingDuration: float | None = None


class INPAttributionIn(msgspec.Struct, gc=False):
    """INP attribution: target, type, the three phases and a LoAF summary."""

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


class CLSAttributionIn(msgspec.Struct, gc=False):
    """CLS attribution: the largest shift's target, time and value."""

    largestShiftTarget: str | None = None
    largestShiftTime: float | None = None
    largestShiftValue: float | None = None
    loadState: str | None = None


class FCPAttributionIn(msgspec.Struct, gc=False):
    """FCP attribution: TTFB and the time from first byte to FCP."""

    timeToFirstByte: float | None = None
    firstByteToFCP: float | None = None
    loadState: str | None = None


class TTFBAttributionIn(msgspec.Struct, gc=False):
    """TTFB attribution: the navigation's sub-parts."""

    waitingDuration: float | None = None
    cacheDuration: float | None = None
    dnsDuration: float | None = None
    connectionDuration: float | None = None
    requestDuration: float | None = None


class FIDAttributionIn(msgspec.Struct, gc=False):
    """FID attribution (web-vitals v3/v4 only)."""

    eventTarget: str | None = None
    eventType: str | None = None
    eventTime: float | None = None
    loadState: str | None = None


AttributionIn = (
    LCPAttributionIn
    | INPAttributionIn
    | CLSAttributionIn
    | FCPAttributionIn
    | TTFBAttributionIn
    | FIDAttributionIn
)

ATTRIBUTION_TYPES: dict[str, type[AttributionIn]] = {
    "LCP": LCPAttributionIn,
    "INP": INPAttributionIn,
    "CLS": CLSAttributionIn,
    "FCP": FCPAttributionIn,
    "TTFB": TTFBAttributionIn,
    "FID": FIDAttributionIn,
}


class Rejection(msgspec.Struct, gc=False):
    """One metric of a beacon that was not stored, and why."""

    index: int
    error: str


class PartialResult(msgspec.Struct, gc=False):
    """The 200 body when some metrics of a beacon were stored and some were not."""

    accepted: int
    rejected: list[Rejection]
    rejected_total: int
