"""A compact, bounded summary of a metric's attribution (web-vitals attribution build).

Kept: what explains the value (target element, resource URL, sub-parts, the
interaction's phases, a long-animation-frame summary). Dropped: performance
entries, DOM nodes and navigation entries. Strings are cut, so a summary stays
under about two kilobytes whatever a page sends.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from collector.ingest.normalize import clean_text
from collector.ingest.schemas import AttributionIn

MAX_TARGET = 200
MAX_URL = 300
MAX_WORD = 32
Summary = dict[str, Any]


def summarize_attribution(metric: str, attribution: AttributionIn | None) -> Summary | None:
    """The summary of ``metric``'s attribution: its fields that were sent, bounded.

    Numbers need no check: JSON has no NaN or Infinity, and the decoder refuses
    numbers out of the float range.
    """
    if attribution is None:
        return None
    summary = _SUMMARIZERS[metric](attribution)
    return {key: value for key, value in summary.items() if value is not None} or None


def _text(value: str | None, limit: int = MAX_TARGET) -> str | None:
    return clean_text(value, limit) if value else None


def _word(value: str | None) -> str | None:
    return clean_text(value, MAX_WORD) if value else None


def _either(current: float | None, older: float | None) -> float | None:
    """A field by its current name, else by the name an older web-vitals gave it."""
    return current if current is not None else older


def _url(value: str | None) -> str | None:
    """A resource URL without query or fragment, which may carry tokens."""
    if not value:
        return None
    return _url_without_query(value)


@lru_cache(maxsize=4096)
def _url_without_query(value: str) -> str | None:
    # Resource and script URLs repeat across beacons: parse each once.
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return clean_text(urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), MAX_URL)


def _lcp(a: AttributionIn) -> Summary:
    return {
        "target": _text(a.target or a.element),
        "url": _url(a.url),
        "timeToFirstByte": a.timeToFirstByte,
        "resourceLoadDelay": a.resourceLoadDelay,
        "resourceLoadDuration": _either(a.resourceLoadDuration, a.resourceLoadTime),
        "elementRenderDelay": a.elementRenderDelay,
    }


def _inp(a: AttributionIn) -> Summary:
    summary: Summary = {
        # web-vitals v3 named the interaction an event.
        "interactionTarget": _text(a.interactionTarget or a.eventTarget),
        "interactionType": _word(a.interactionType or a.eventType),
        "interactionTime": _either(a.interactionTime, a.eventTime),
        "inputDelay": a.inputDelay,
        "processingDuration": a.processingDuration,
        "presentationDelay": a.presentationDelay,
        "loadState": _word(a.loadState),
        "totalScriptDuration": a.totalScriptDuration,
        "totalStyleAndLayoutDuration": a.totalStyleAndLayoutDuration,
        "totalPaintDuration": a.totalPaintDuration,
        "totalUnattributedDuration": a.totalUnattributedDuration,
    }
    frames = a.longAnimationFrameEntries
    if frames:
        summary["longAnimationFrames"] = len(frames)
        summary["blockingDuration"] = sum(f.blockingDuration or 0.0 for f in frames)
    script = a.longestScript
    if script is not None:
        entry = script.entry
        longest = {
            "subpart": _word(script.subpart),
            "intersectingDuration": script.intersectingDuration,
        }
        if entry is not None:
            longest["invoker"] = _text(entry.invoker)
            longest["invokerType"] = _word(entry.invokerType)
            longest["sourceURL"] = _url(entry.sourceURL)
            longest["sourceFunctionName"] = _text(entry.sourceFunctionName)
        summary["longestScript"] = {k: v for k, v in longest.items() if v is not None}
    return summary


def _cls(a: AttributionIn) -> Summary:
    return {
        "largestShiftTarget": _text(a.largestShiftTarget),
        "largestShiftTime": a.largestShiftTime,
        "largestShiftValue": a.largestShiftValue,
        "loadState": _word(a.loadState),
    }


def _fcp(a: AttributionIn) -> Summary:
    return {
        "timeToFirstByte": a.timeToFirstByte,
        "firstByteToFCP": a.firstByteToFCP,
        "loadState": _word(a.loadState),
    }


def _ttfb(a: AttributionIn) -> Summary:
    return {
        # web-vitals v3 sent durations as *Time (its waiting time still held the cache's).
        "waitingDuration": _either(a.waitingDuration, a.waitingTime),
        "cacheDuration": a.cacheDuration,
        "dnsDuration": _either(a.dnsDuration, a.dnsTime),
        "connectionDuration": _either(a.connectionDuration, a.connectionTime),
        "requestDuration": _either(a.requestDuration, a.requestTime),
    }


def _fid(a: AttributionIn) -> Summary:
    return {
        "eventTarget": _text(a.eventTarget),
        "eventType": _word(a.eventType),
        "eventTime": a.eventTime,
        "loadState": _word(a.loadState),
    }


_SUMMARIZERS: dict[str, Callable[[AttributionIn], Summary]] = {
    "LCP": _lcp,
    "INP": _inp,
    "CLS": _cls,
    "FCP": _fcp,
    "TTFB": _ttfb,
    "FID": _fid,
}
