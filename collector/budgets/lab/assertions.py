"""lighthouserc assertions, evaluated with the semantics of Lighthouse CI's ``lhci assert``.

This follows @lhci/utils ``src/assertions.js`` step by step (aggregation methods, the
implicit ``minScore: 0.9``, ``median-run`` on the representative run, pseudo-audits for
``categories``, ``resource-summary`` and ``user-timings``, presets merged index by index),
so a config gives the same verdicts here as in ``lhci assert``. Options are validated
first (``assert_config``), so unknown levels or options are errors, not silent passes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from collector.budgets.lab.jsport import is_finite_number, kebab_case
from collector.budgets.lab.presets import known_audit_ids
from collector.budgets.lhr import LHR, final_url, representative_runs
from collector.budgets.results import AssertionResult, Level

AuditResult = dict[str, Any] | None
AssertOptions = dict[str, Any]

# A JavaScript ``undefined``: a value that is absent, which LHCI tells apart from null.
UNDEFINED: Any = object()

_OPERATORS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "auditRan": ("==", lambda actual, expected: actual == expected),
    "minScore": (">=", lambda actual, expected: actual >= expected),
    "maxLength": ("<=", lambda actual, expected: actual <= expected),
    "maxNumericValue": ("<=", lambda actual, expected: actual <= expected),
}


def _min_score(result: dict[str, Any]) -> Any:
    score = result.get("score", UNDEFINED)
    if is_finite_number(score) or (isinstance(score, float) and math.isnan(score)):
        return score
    if result.get("scoreDisplayMode") == "notApplicable":
        return 1
    if result.get("scoreDisplayMode") == "informative":
        return 0
    return UNDEFINED


def _max_length(result: dict[str, Any]) -> Any:
    details = result.get("details")
    items = details.get("items") if isinstance(details, dict) else None
    return len(items) if isinstance(items, list) and items else 0


_VALUE_GETTERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "minScore": _min_score,
    "maxLength": _max_length,
    "maxNumericValue": lambda result: result.get("numericValue", UNDEFINED),
}


def _aggregate(values: list[float], method: str, kind: str) -> float:
    if method == "median":
        ordered = sorted(values)
        middle = (len(values) - 1) // 2
        if len(values) % 2 == 1:
            return ordered[middle]
        return (ordered[middle] + ordered[middle + 1]) / 2
    use_min = (method == "optimistic" and kind.startswith("max")) or (
        method == "pessimistic" and kind.startswith("min")
    )
    return min(values) if use_min else max(values)


def _assertion_result(
    audit_results: Sequence[dict[str, Any]], method: str, kind: str, expected: float
) -> dict[str, Any]:
    values = [_VALUE_GETTERS[kind](result) for result in audit_results]
    finite = [float(v) for v in values if is_finite_number(v)]
    operator, passed = _OPERATORS[kind]
    if (not finite and method != "pessimistic") or (
        len(finite) != len(values) and method == "pessimistic"
    ):
        if any(v is UNDEFINED for v in values):
            message = (
                "Audit did not produce a value at all. "
                f'"{kind}" might not be a valid assertion for this audit.'
            )
        else:
            action = (
                'Try using an aggregationMethod other than "pessimistic".'
                if method == "pessimistic"
                else "If this is reproducible, please file an issue on GitHub."
            )
            message = f"Audit failed to produce a valid value. {action}"
        return {
            "name": kind,
            "expected": expected,
            "actual": math.nan,
            "values": tuple(float(v) if is_finite_number(v) else math.nan for v in values),
            "operator": operator,
            "passed": False,
            "message": message,
        }
    actual = _aggregate(finite, method, kind)
    return {
        "name": kind,
        "expected": expected,
        "actual": actual,
        "values": tuple(finite),
        "operator": operator,
        "passed": passed(actual, expected),
        "message": None,
    }


def _standard_results(
    possible: Sequence[AuditResult], options: AssertOptions, audit_id: str | None = None
) -> list[dict[str, Any]]:
    method = options.get("aggregationMethod") or "optimistic"
    if any(result is None for result in possible):
        unknown = audit_id is not None and audit_id not in known_audit_ids()
        return [
            {
                "name": "auditRan",
                "expected": 1.0,
                "actual": 0.0,
                "values": tuple(0.0 if r is None else 1.0 for r in possible),
                "operator": ">=",
                "passed": False,
                "message": f'"{audit_id}" is not a known audit.' if unknown else None,
            }
        ]
    results = [r for r in possible if r is not None]
    out = []
    manual = False
    for kind in ("maxLength", "maxNumericValue"):
        if kind in options:
            manual = True
            out.append(_assertion_result(results, method, kind, options[kind]))
    min_score = options.get("minScore", 0.9 if not manual else None)
    if min_score is not None:
        out.append(_assertion_result(results, method, "minScore", min_score))
    return out


def _category_results(
    prop: list[str], options: AssertOptions, lhrs: Sequence[LHR]
) -> list[dict[str, Any]]:
    category_id = prop[0]
    pseudo: list[AuditResult] = []
    for lhr in lhrs:
        category = lhr.get("categories", {}).get(category_id)
        pseudo.append(None if category is None else {"score": category.get("score", UNDEFINED)})
    return [{**r, "audit_property": category_id} for r in _standard_results(pseudo, options)]


def _resource_summary_results(
    prop: list[str], audits: Sequence[AuditResult], options: AssertOptions
) -> list[dict[str, Any]]:
    primary = "size" if prop[1] == "size" else "requestCount"
    backup = "transferSize" if prop[1] == "size" else ""
    pseudo: list[AuditResult] = []
    for result in audits:
        items = _items(result)
        item = next((i for i in items if i.get("resourceType") == prop[0]), None)
        key = primary if item is not None and primary in item else backup
        if result is None or item is None or key not in item:
            pseudo.append(None)
            continue
        pseudo.append({**result, "numericValue": item[key]})
    return [{**r, "audit_property": ".".join(prop)} for r in _standard_results(pseudo, options)]


def _user_timing_results(
    prop: list[str], audits: Sequence[AuditResult], options: AssertOptions
) -> list[dict[str, Any]]:
    name = kebab_case("-".join(prop), alphanumeric_only=True)
    pseudo: list[AuditResult] = []
    for result in audits:
        items = _items(result)
        item = next(
            (i for i in items if kebab_case(str(i.get("name")), alphanumeric_only=True) == name),
            None,
        )
        if result is None or item is None:
            pseudo.append(None)
            continue
        duration = item.get("duration")
        value = duration if is_finite_number(duration) else item.get("startTime", UNDEFINED)
        pseudo.append({**result, "numericValue": value})
    return [{**r, "audit_property": name} for r in _standard_results(pseudo, options)]


def _items(result: AuditResult) -> list[dict[str, Any]]:
    details = result.get("details") if result else None
    items = details.get("items") if isinstance(details, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _results_for_audit(
    audit_id: str,
    prop: list[str],
    audits: Sequence[AuditResult],
    options: AssertOptions,
    lhrs: Sequence[LHR],
) -> list[dict[str, Any]]:
    if audit_id == "categories" and prop:
        return _category_results(prop, options, lhrs)
    if audit_id == "resource-summary" and prop:
        return _resource_summary_results(prop, audits, options)
    if audit_id == "user-timings" and prop:
        return _user_timing_results(prop, audits, options)
    return _standard_results(audits, options, audit_id)


def _split_key(assertion_key: str) -> tuple[str, list[str]]:
    audit_id, *rest = [part for part in re.split(r"[.:]", assertion_key) if part]
    return audit_id, rest


def _audit_title(audit_id: str, lhrs: Sequence[LHR]) -> str | None:
    instances = [lhr["audits"][audit_id] for lhr in lhrs if lhr["audits"].get(audit_id)]
    failed = next((a for a in instances if a.get("score") != 1), None)
    audit = failed or (instances[0] if instances else {})
    title = audit.get("title")
    return title if isinstance(title, str) else None


def results_for_url(options: AssertOptions, lhrs: Sequence[LHR]) -> list[AssertionResult]:
    """Every assertion of resolved ``options`` (preset merged) checked on one URL's runs."""
    pattern = options.get("matchingUrlPattern")
    if pattern:
        regex = re.compile(pattern)
        lhrs = [lhr for lhr in lhrs if regex.search(final_url(lhr))]
    if not lhrs:
        return []
    url = final_url(lhrs[0])
    assertions: dict[str, Any] = options.get("assertions") or {}
    median_lhrs = representative_runs([[(lhr, lhr) for lhr in lhrs]])
    results = []
    for assertion_key in dict.fromkeys(kebab_case(key) for key in assertions):
        level, assertion_options = _normalize(assertions.get(assertion_key))
        if level == Level.OFF:
            continue
        merged = {"aggregationMethod": options.get("aggregationMethod"), **assertion_options}
        runs = median_lhrs if merged["aggregationMethod"] == "median-run" else lhrs
        audit_id, prop = _split_key(assertion_key)
        audits = [lhr["audits"].get(audit_id) for lhr in runs]
        title = _audit_title(audit_id, lhrs)
        for raw in _results_for_audit(audit_id, prop, audits, merged, lhrs):
            results.append(
                AssertionResult(
                    url=url,
                    audit_id=audit_id,
                    audit_property=raw.get("audit_property"),
                    audit_title=title,
                    level=level,
                    name=raw["name"],
                    operator=raw["operator"],
                    expected=float(raw["expected"]),
                    actual=float(raw["actual"]),
                    values=raw["values"],
                    passed=raw["passed"],
                    message=raw["message"],
                )
            )
    return results


def _normalize(assertion: Any) -> tuple[Level, dict[str, Any]]:
    if not assertion:
        return Level.OFF, {}
    if isinstance(assertion, str):
        return Level(assertion), {}
    level = Level(assertion[0])
    options = assertion[1] if len(assertion) > 1 and isinstance(assertion[1], dict) else {}
    return level, options
