"""Build statistics as the Lighthouse CI server computes them when a build is sealed
(@lhci/server ``src/api/statistic-definitions.js``, version 2), from run summaries."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from collector.budgets.lhr import representative_runs

STATISTIC_VERSION = 2
Summary = Mapping[str, Any]
Definition = Callable[[Sequence[Summary]], float]

_MEDIAN_AUDITS = (
    "interactive",
    "speed-index",
    "first-contentful-paint",
    "largest-contentful-paint",
    "total-blocking-time",
    "max-potential-fid",
)
_CATEGORIES = ("performance", "pwa", "seo", "accessibility", "best-practices")
_AUDIT_GROUPS = (
    "pwa-fast-reliable",
    "pwa-installable",
    "pwa-optimized",
    "a11y-best-practices",
    "a11y-color-contrast",
    "a11y-names-labels",
    "a11y-navigation",
    "a11y-aria",
    "a11y-language",
    "a11y-audio-video",
    "a11y-tables-lists",
    "seo-mobile",
    "seo-content",
    "seo-crawl",
)


def _numbers(values: Sequence[object]) -> list[float]:
    return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def _median(values: list[float]) -> float:
    # LHCI takes the upper middle value, not the mean of the two middle values.
    return sorted(values)[len(values) // 2] if values else -1.0


def _lighthouse_version(runs: Sequence[Summary]) -> float:
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)", str(runs[0].get("lighthouseVersion") or ""))
    if not match:
        return 0.0
    major, minor, patch = (int(part) for part in match.groups())
    return float(major * 10000 + minor * 100 + patch)


def _audit_median(audit_id: str) -> Definition:
    return lambda runs: _median(
        _numbers([(r["audits"].get(audit_id) or {}).get("numericValue") for r in runs])
    )


def _category_scores(runs: Sequence[Summary], category_id: str) -> list[float]:
    return _numbers([(r["categories"].get(category_id) or {}).get("score") for r in runs])


def _category(category_id: str, how: str) -> Definition:
    def compute(runs: Sequence[Summary]) -> float:
        scores = _category_scores(runs, category_id)
        if how == "median":
            return _median(scores)
        if not scores:
            return -1.0
        return min(scores) if how == "min" else max(scores)

    return compute


def _group_count(group_id: str, kind: str) -> Definition:
    def compute(runs: Sequence[Summary]) -> float:
        (median_run,) = representative_runs([[(r, r) for r in runs]])
        count = -1
        for category in median_run["categories"].values():
            for ref in category.get("auditRefs") or []:
                audit = (
                    median_run["audits"].get(ref.get("id"))
                    if ref.get("group") == group_id
                    else None
                )
                if audit is None:
                    continue
                count = max(count, 0)
                count += _counts_as(audit, kind)
        return float(count)

    return compute


def _counts_as(audit: Mapping[str, Any], kind: str) -> int:
    mode, score = audit.get("scoreDisplayMode"), audit.get("score")
    if kind == "na":
        return int(mode in ("informative", "notApplicable"))
    if kind == "pass":
        return int(mode == "binary" and score == 1)
    return int((mode == "binary" and score != 1) or mode == "error")


def _definitions() -> dict[str, Definition]:
    definitions: dict[str, Definition] = {"meta_lighthouse_version": _lighthouse_version}
    for audit_id in _MEDIAN_AUDITS:
        definitions[f"audit_{audit_id}_median"] = _audit_median(audit_id)
    for how in ("median", "min", "max"):
        for category_id in _CATEGORIES:
            definitions[f"category_{category_id}_{how}"] = _category(category_id, how)
    for group_id in _AUDIT_GROUPS:
        for kind in ("pass", "fail", "na"):
            definitions[f"auditgroup_{group_id}_{kind}"] = _group_count(group_id, kind)
    return definitions


DEFINITIONS = _definitions()


def compute_statistics(runs: Sequence[Summary]) -> dict[str, float]:
    """Every statistic of one URL's runs (summaries as ``lhr.summarize`` makes them)."""
    return {name: definition(runs) for name, definition in DEFINITIONS.items()}
