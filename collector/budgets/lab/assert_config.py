"""Validating lighthouserc ``assert`` options and running them over a set of LHRs.

Lighthouse CI accepts almost anything and quietly ignores what it does not know; a
typo then disables a budget without anyone noticing. perfbeacon refuses instead:
unknown options, levels, aggregation methods, presets or malformed values are an
InvalidInput naming the problem.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

from collector.budgets.lab.assertions import AssertOptions, results_for_url
from collector.budgets.lab.jsport import is_finite_number, kebab_case, merge, truthy
from collector.budgets.lab.presets import PRESET_NAMES, known_audit_ids, preset_options
from collector.budgets.lhr import LHR, final_url
from collector.budgets.results import AssertionResult
from collector.errors import InvalidInput

ASSERT_OPTION_NAMES = frozenset(
    {
        "preset",
        "assertions",
        "assertMatrix",
        "budgetsFile",
        "includePassedAssertions",
        "aggregationMethod",
        "matchingUrlPattern",
        "lhr",
    }
)
MATRIX_ENTRY_OPTION_NAMES = frozenset(
    {"preset", "assertions", "aggregationMethod", "matchingUrlPattern"}
)
ASSERTION_OPTION_NAMES = frozenset(
    {"minScore", "maxLength", "maxNumericValue", "aggregationMethod"}
)
AGGREGATION_METHODS = ("median", "optimistic", "pessimistic", "median-run")
LEVELS = ("off", "warn", "error")
# Audits whose assertions name a property (``categories:performance``), not an audit.
_PSEUDO_AUDITS = frozenset({"categories", "resource-summary", "user-timings"})


def validate_assert_options(options: object, *, where: str = "assert") -> AssertOptions:
    """Check a lighthouserc ``ci.assert`` object; returns it unchanged or raises InvalidInput."""
    if not isinstance(options, dict):
        raise InvalidInput(f"{where}: must be an object")
    _no_unknown(options, ASSERT_OPTION_NAMES, where)
    if "assertMatrix" in options:
        matrix = options["assertMatrix"]
        clashing = [
            k
            for k in ("assertions", "preset", "budgetsFile", "aggregationMethod")
            if truthy(options.get(k))
        ]
        if clashing:
            raise InvalidInput(
                f"{where}: assertMatrix cannot be combined with {', '.join(clashing)}"
            )
        if not isinstance(matrix, list) or not matrix:
            raise InvalidInput(f"{where}.assertMatrix: must be a non-empty list of objects")
        for i, entry in enumerate(matrix):
            if not isinstance(entry, dict):
                raise InvalidInput(f"{where}.assertMatrix[{i}]: must be an object")
            _no_unknown(entry, MATRIX_ENTRY_OPTION_NAMES, f"{where}.assertMatrix[{i}]")
            _validate_base(entry, f"{where}.assertMatrix[{i}]")
    else:
        _validate_base(options, where)
    return options


def _no_unknown(options: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InvalidInput(
            f"{where}: unknown option(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(allowed))}",
            details={"unknown": unknown},
        )


def _validate_base(options: dict[str, Any], where: str) -> None:
    preset = options.get("preset")
    if preset not in (None, "") and preset not in PRESET_NAMES:
        raise InvalidInput(
            f"{where}.preset: unknown preset {preset!r}; use one of {', '.join(PRESET_NAMES)}"
        )
    method = options.get("aggregationMethod")
    if method is not None and method not in AGGREGATION_METHODS:
        raise InvalidInput(
            f"{where}.aggregationMethod: {method!r} is not one of {', '.join(AGGREGATION_METHODS)}"
        )
    pattern = options.get("matchingUrlPattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise InvalidInput(f"{where}.matchingUrlPattern: must be a string")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise InvalidInput(
                f"{where}.matchingUrlPattern: bad regular expression ({exc})"
            ) from None
    assertions = options.get("assertions", {})
    if not isinstance(assertions, dict):
        raise InvalidInput(f"{where}.assertions: must be an object of audit id -> level")
    for key, assertion in assertions.items():
        _validate_assertion(str(key), assertion, f"{where}.assertions[{key!r}]")


def _validate_assertion(key: str, assertion: Any, where: str) -> None:
    options: object
    if isinstance(assertion, str):
        level, options = assertion, {}
    elif isinstance(assertion, list) and 1 <= len(assertion) <= 2:
        level = assertion[0]
        options = assertion[1] if len(assertion) == 2 else {}
    else:
        raise InvalidInput(f'{where}: use "off"|"warn"|"error" or [level, {{options}}]')
    if level not in LEVELS:
        raise InvalidInput(f"{where}: unknown level {level!r}; use off, warn or error")
    if not isinstance(options, dict):
        raise InvalidInput(f"{where}: the options must be an object")
    _no_unknown(options, ASSERTION_OPTION_NAMES, where)
    for name in ("minScore", "maxLength", "maxNumericValue"):
        if name in options and not is_finite_number(options[name]):
            raise InvalidInput(f"{where}.{name}: must be a number, got {options[name]!r}")
    method = options.get("aggregationMethod")
    if method is not None and method not in AGGREGATION_METHODS:
        raise InvalidInput(
            f"{where}.aggregationMethod: {method!r} is not one of {', '.join(AGGREGATION_METHODS)}"
        )
    audit_id, *prop = [p for p in re.split(r"[.:]", kebab_case(key)) if p] or [""]
    if (
        audit_id == "resource-summary"
        and prop
        and (len(prop) != 2 or prop[1] not in ("size", "count"))
    ):
        raise InvalidInput(f"{where}: use resource-summary:<type>:size or :count")
    if audit_id == "categories" and len(prop) > 1:
        raise InvalidInput(f"{where}: use categories:<category id>")


def resolve(options: AssertOptions) -> list[AssertOptions]:
    """The option sets to run per URL: the matrix entries, or the options themselves,
    each with its preset merged in as LHCI merges it (index by index for arrays)."""
    entries = options.get("assertMatrix", [options])
    resolved = []
    for entry in entries:
        overrides = {k: v for k, v in entry.items() if k != "preset"}
        preset = preset_options(entry["preset"]) if entry.get("preset") else None
        resolved.append(merge(preset, copy.deepcopy(overrides)) if preset else overrides)
    return resolved


def unknown_audits(options: AssertOptions, lhrs: Sequence[LHR]) -> list[str]:
    """Asserted audit ids that neither Lighthouse CI nor any of the given runs know."""
    seen = {audit_id for lhr in lhrs for audit_id in lhr["audits"]}
    unknown: list[str] = []
    for resolved in resolve(options):
        for key, assertion in (resolved.get("assertions") or {}).items():
            if assertion == "off" or (isinstance(assertion, list) and assertion[:1] == ["off"]):
                continue
            audit_id = next((p for p in re.split(r"[.:]", kebab_case(key)) if p), "")
            if audit_id in _PSEUDO_AUDITS or audit_id in seen or audit_id in known_audit_ids():
                continue
            unknown.append(audit_id)
    return sorted(set(unknown))


def evaluate_assertions(options: AssertOptions, lhrs: Sequence[LHR]) -> list[AssertionResult]:
    """``getAllAssertionResults``: every assertion on every URL, passed ones included."""
    validate_assert_options(options)
    unknown = unknown_audits(options, lhrs)
    if unknown:
        raise InvalidInput(
            f"assertions name unknown audit id(s): {', '.join(unknown)}",
            details={"unknown_audits": unknown},
        )
    by_url: dict[str, list[LHR]] = {}
    for lhr in lhrs:
        by_url.setdefault(final_url(lhr), []).append(lhr)
    resolved = resolve(options)
    return [
        result
        for url_lhrs in by_url.values()
        for base in resolved
        for result in results_for_url(base, url_lhrs)
    ]
