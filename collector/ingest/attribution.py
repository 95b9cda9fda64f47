"""A compact, bounded summary of a metric's attribution (web-vitals attribution build).

Kept: what explains the value (target element, resource URL, sub-parts, the
interaction's phases, a long-animation-frame summary). Dropped: performance
entries, DOM nodes and navigation entries. Strings are cut, numbers rounded, so a
summary stays well under a kilobyte whatever a page sends.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from collector.ingest.normalize import clean_text
from collector.ingest.schemas import (
    ATTRIBUTION_TYPES,
    CLSAttributionIn,
    FCPAttributionIn,
    FIDAttributionIn,
    INPAttributionIn,
    LCPAttributionIn,
    TTFBAttributionIn,
)

MAX_TARGET = 200
MAX_URL = 300
MAX_WORD = 32
Summary = dict[str, Any]

_decoders = {name: msgspec.json.Decoder(kind) for name, kind in ATTRIBUTION_TYPES.items()}


def summarize_attribution(metric: str, raw: msgspec.Raw) -> Summary | None:
    """The summary of ``raw`` attribution JSON for ``metric``; None if absent or unreadable.

    Attribution only explains a value, so a malformed one is dropped rather than
    costing the metric.
    """
    if len(raw) == 0:
        return None
    try:
        attribution = _decoders[metric].decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    summary = _SUMMARIZERS[type(attribution)](attribution)
    kept = {key: value for key, value in summary.items() if value is not None}
    return kept or None


def _ms(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, 1)


def _score(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, 4)


def _text(value: str | None, limit: int = MAX_TARGET) -> str | None:
    return clean_text(value, limit) if value else None


def _url(value: str | None) -> str | None:
    """A resource URL without query or fragment, which may carry tokens."""
    if not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return clean_text(urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), MAX_URL)


def _lcp(a: LCPAttributionIn) -> Summary:
    return {
        "target": _text(a.target or a.element),
        "url": _url(a.url),
        "timeToFirstByte": _ms(a.timeToFirstByte),
        "resourceLoadDelay": _ms(a.resourceLoadDelay),
        "resourceLoadDuration": _ms(a.resourceLoadDuration),
        "elementRenderDelay": _ms(a.elementRenderDelay),
    }


def _inp(a: INPAttributionIn) -> Summary:
    summary: Summary = {
        "interactionTarget": _text(a.interactionTarget),
        "interactionType": _text(a.interactionType, MAX_WORD),
        "interactionTime": _ms(a.interactionTime),
        "inputDelay": _ms(a.inputDelay),
        "processingDuration": _ms(a.processingDuration),
        "presentationDelay": _ms(a.presentationDelay),
        "loadState": _text(a.loadState, MAX_WORD),
        "totalScriptDuration": _ms(a.totalScriptDuration),
        "totalStyleAndLayoutDuration": _ms(a.totalStyleAndLayoutDuration),
        "totalPaintDuration": _ms(a.totalPaintDuration),
        "totalUnattributedDuration": _ms(a.totalUnattributedDuration),
    }
    frames = a.longAnimationFrameEntries
    if frames:
        summary["longAnimationFrames"] = len(frames)
        summary["blockingDuration"] = _ms(sum(f.blockingDuration or 0.0 for f in frames))
    script = a.longestScript
    if script is not None:
        entry = script.entry
        summary["longestScript"] = {
            key: value
            for key, value in {
                "subpart": _text(script.subpart, MAX_WORD),
                "intersectingDuration": _ms(script.intersectingDuration),
                "invoker": _text(entry.invoker) if entry else None,
                "invokerType": _text(entry.invokerType, MAX_WORD) if entry else None,
                "sourceURL": _url(entry.sourceURL) if entry else None,
                "sourceFunctionName": _text(entry.sourceFunctionName) if entry else None,
            }.items()
            if value is not None
        }
    return summary


def _cls(a: CLSAttributionIn) -> Summary:
    return {
        "largestShiftTarget": _text(a.largestShiftTarget),
        "largestShiftTime": _ms(a.largestShiftTime),
        "largestShiftValue": _score(a.largestShiftValue),
        "loadState": _text(a.loadState, MAX_WORD),
    }


def _fcp(a: FCPAttributionIn) -> Summary:
    return {
        "timeToFirstByte": _ms(a.timeToFirstByte),
        "firstByteToFCP": _ms(a.firstByteToFCP),
        "loadState": _text(a.loadState, MAX_WORD),
    }


def _ttfb(a: TTFBAttributionIn) -> Summary:
    return {
        "waitingDuration": _ms(a.waitingDuration),
        "cacheDuration": _ms(a.cacheDuration),
        "dnsDuration": _ms(a.dnsDuration),
        "connectionDuration": _ms(a.connectionDuration),
        "requestDuration": _ms(a.requestDuration),
    }


def _fid(a: FIDAttributionIn) -> Summary:
    return {
        "eventTarget": _text(a.eventTarget),
        "eventType": _text(a.eventType, MAX_WORD),
        "eventTime": _ms(a.eventTime),
        "loadState": _text(a.loadState, MAX_WORD),
    }


_SUMMARIZERS: dict[type[Any], Any] = {
    LCPAttributionIn: _lcp,
    INPAttributionIn: _inp,
    CLSAttributionIn: _cls,
    FCPAttributionIn: _fcp,
    TTFBAttributionIn: _ttfb,
    FIDAttributionIn: _fid,
}
