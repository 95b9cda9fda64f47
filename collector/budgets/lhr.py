"""Lighthouse results (LHRs): validation, the small summary kept hot, compression, and
the run that represents a URL.

A full LHR is about 0.5 MB of JSON. perfbeacon keeps it gzip-compressed for the
report viewer and keeps hot only the summary budgets and statistics read: each
category's score and each audit's score, display mode and numeric value.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import msgspec

from collector.errors import InvalidInput

LHR = dict[str, Any]
RunId = TypeVar("RunId")

MAX_LHR_BYTES = 20 * 1024 * 1024
MAX_URL_LENGTH = 2048
_decoder = msgspec.json.Decoder()


def parse_lhr_text(text: str | bytes, *, source: str) -> LHR:
    """Decode and validate one LHR given as JSON text; ``source`` names it in errors."""
    if len(text) > MAX_LHR_BYTES:
        raise InvalidInput(f"{source}: the LHR is larger than {MAX_LHR_BYTES} bytes")
    try:
        data = _decoder.decode(text)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"{source}: not valid JSON ({exc})") from None
    except RecursionError:
        # msgspec raises it for nesting past its depth limit.
        raise InvalidInput(f"{source}: nested too deeply to read") from None
    return validate_lhr(data, source=source)


def validate_lhr(data: object, *, source: str) -> LHR:
    """Check that ``data`` has the shape of a Lighthouse result, or raise InvalidInput."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: an LHR must be a JSON object")
    problem = _shape_problem(data)
    if problem is None and b"\\u0000" in msgspec.json.encode(data):
        # PostgreSQL cannot store NUL characters in text or JSON.
        problem = "it contains NUL characters"
    if problem is not None:
        raise InvalidInput(f"{source}: malformed LHR: {problem}", details={"source": source})
    return data


def _shape_problem(data: Mapping[str, Any]) -> str | None:
    final_url = data.get("finalUrl")
    if not isinstance(final_url, str) or not final_url:
        return "'finalUrl' is missing or not a string"
    if len(final_url) > MAX_URL_LENGTH:
        return f"'finalUrl' is longer than {MAX_URL_LENGTH} characters"
    audits = data.get("audits")
    if not isinstance(audits, dict):
        return "'audits' is missing or not an object"
    for audit_id, audit in audits.items():
        if not isinstance(audit, dict):
            return f"audit {audit_id!r} is not an object"
    categories = data.get("categories", {})
    if not isinstance(categories, dict):
        return "'categories' is not an object"
    for category_id, category in categories.items():
        if not isinstance(category, dict):
            return f"category {category_id!r} is not an object"
    return None


def final_url(lhr: LHR) -> str:
    """The URL Lighthouse ended on, which LHCI groups runs by."""
    return str(lhr["finalUrl"])


def audit_numeric_value(lhr: Mapping[str, Any], audit_id: str) -> float:
    """An audit's numericValue, or 0 when absent (LHCI's rule for picking median runs)."""
    audit = lhr.get("audits", {}).get(audit_id)
    value = audit.get("numericValue") if isinstance(audit, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return 0.0
    return float(value)


def representative_runs(
    runs_by_url: Sequence[Sequence[tuple[RunId, Mapping[str, Any]]]],
) -> list[RunId]:
    """Per URL, the run closest to the median FCP and TTI (LHCI's ``computeRepresentativeRuns``).

    Each run is (what to answer for it, its LHR or LHR summary).
    """
    chosen = []
    for runs in runs_by_url:
        if runs:
            chosen.append(_closest_to_median(runs))
    return chosen


def _closest_to_median(runs: Sequence[tuple[RunId, Mapping[str, Any]]]) -> RunId:
    middle = len(runs) // 2
    fcp = [audit_numeric_value(lhr, "first-contentful-paint") for _, lhr in runs]
    tti = [audit_numeric_value(lhr, "interactive") for _, lhr in runs]
    # LHCI takes the element at len // 2 of each sorted list (a stable sort of the runs).
    median_fcp = sorted(fcp)[middle]
    median_tti = sorted(tti)[middle]
    distances = [
        (median_fcp - f) ** 2 + (median_tti - t) ** 2 for f, t in zip(fcp, tti, strict=True)
    ]
    best = min(range(len(runs)), key=lambda i: distances[i])
    return runs[best][0]


def summarize(lhr: LHR) -> LHR:
    """The hot subset of an LHR: enough for assertions on scores and numeric values,
    statistics, representative runs and regressions, at under a tenth of the size."""
    audits: dict[str, dict[str, Any]] = {}
    for audit_id, audit in lhr["audits"].items():
        kept = {
            key: audit[key]
            for key in ("score", "scoreDisplayMode", "numericValue", "numericUnit")
            if key in audit
        }
        details = audit.get("details")
        items = details.get("items") if isinstance(details, dict) else None
        if isinstance(items, list):
            kept["itemCount"] = len(items)
        audits[audit_id] = kept
    categories = {
        category_id: {"score": category.get("score"), "auditRefs": _audit_refs(category)}
        for category_id, category in lhr.get("categories", {}).items()
    }
    return {
        "finalUrl": lhr["finalUrl"],
        "requestedUrl": lhr.get("requestedUrl"),
        "fetchTime": lhr.get("fetchTime"),
        "lighthouseVersion": lhr.get("lighthouseVersion"),
        "formFactor": _form_factor(lhr),
        "audits": audits,
        "categories": categories,
    }


def _form_factor(lhr: LHR) -> str | None:
    # Which device class the run emulated: lab versus field compares it with those users.
    settings = lhr.get("configSettings")
    value = settings.get("formFactor") if isinstance(settings, dict) else None
    return value if isinstance(value, str) else None


def _audit_refs(category: Mapping[str, Any]) -> list[dict[str, Any]]:
    refs = category.get("auditRefs")
    if not isinstance(refs, list):
        return []
    return [
        {"id": ref["id"], "group": ref.get("group")}
        for ref in refs
        if isinstance(ref, dict) and isinstance(ref.get("id"), str)
    ]


def compress(text: str) -> bytes:
    """gzip an LHR's JSON text (about 10x smaller)."""
    return gzip.compress(text.encode(), compresslevel=6)


def decompress(blob: bytes) -> str:
    """The JSON text of a compressed LHR."""
    return gzip.decompress(blob).decode()


def encode(lhr: LHR) -> str:
    """JSON text of an LHR."""
    return msgspec.json.encode(lhr).decode()
