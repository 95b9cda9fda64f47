"""Bundle budgets in the Angular CLI shape, checked against a build's file sizes.

``{"budgets": [{"type": "initial", "maximumWarning": "500kb", "maximumError": "1mb"}]}``:
sizes are bytes, or a number with ``b``, ``kb``, ``mb``, ``gb`` (1 kb = 1024 bytes, as in
Angular), or ``N%`` of a ``baseline``. Types: ``all`` and ``allScript`` (sum of all files,
of all scripts), ``any`` and ``anyScript`` (each file alone), ``initial`` (the files loaded
at start), ``bundle`` (the files of the chunk called ``name``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collector.budgets.results import AssertionResult, Level
from collector.errors import InvalidInput

BUNDLE_URL = "bundle"
BUDGET_TYPES = ("initial", "bundle", "all", "allScript", "any", "anyScript")
THRESHOLDS = (
    "maximumWarning",
    "maximumError",
    "minimumWarning",
    "minimumError",
    "warning",
    "error",
)
_BUDGET_KEYS = frozenset({"type", "name", "baseline", *THRESHOLDS})
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|%)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
_SCRIPT = (".js", ".mjs", ".cjs")


@dataclass(frozen=True, slots=True)
class BuildFile:
    """One output file of a front-end build."""

    name: str
    size: int
    chunks: tuple[str, ...] = ()
    initial: bool = False

    @property
    def is_script(self) -> bool:
        """True for JavaScript files."""
        return self.name.lower().endswith(_SCRIPT)


def parse_size(value: object, *, where: str, baseline: float | None = None) -> float:
    """Bytes from ``"250kb"``-style sizes; InvalidInput naming ``where`` otherwise."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        if value < 0:
            raise InvalidInput(f"{where}: {value!r} is negative", details={"field": where})
        return float(value)
    match = _SIZE.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput(
            f"{where}: {value!r} is not a size; use bytes or a number with b, kb, mb, gb or %",
            details={"field": where},
        )
    number, unit = float(match.group(1)), (match.group(2) or "b").lower()
    if unit == "%":
        if baseline is None:
            raise InvalidInput(f"{where}: a percentage needs a 'baseline' size")
        return baseline * number / 100
    return number * _UNITS[unit]


def validate_bundle_budgets(document: object) -> list[dict[str, Any]]:
    """Check Angular-style budgets (a list, or ``{"budgets": [...]}``); returns the list."""
    budgets = document.get("budgets") if isinstance(document, dict) else document
    if not isinstance(budgets, list) or not all(isinstance(b, dict) for b in budgets):
        raise InvalidInput('bundle budgets: expected {"budgets": [{"type": ..., ...}]}')
    for index, budget in enumerate(budgets):
        where = f"budgets[{index}]"
        unknown = sorted(set(budget) - _BUDGET_KEYS)
        if unknown:
            raise InvalidInput(f"{where}: unknown option(s) {', '.join(unknown)}")
        kind = budget.get("type")
        if kind not in BUDGET_TYPES:
            raise InvalidInput(f"{where}.type: {kind!r} is not one of {', '.join(BUDGET_TYPES)}")
        if kind == "bundle" and not isinstance(budget.get("name"), str):
            raise InvalidInput(f"{where}: a 'bundle' budget needs the chunk's 'name'")
        if not any(t in budget for t in THRESHOLDS):
            raise InvalidInput(f"{where}: give at least one of {', '.join(THRESHOLDS)}")
        baseline = (
            parse_size(budget["baseline"], where=f"{where}.baseline")
            if "baseline" in budget
            else None
        )
        for threshold in THRESHOLDS:
            if threshold in budget:
                parse_size(budget[threshold], where=f"{where}.{threshold}", baseline=baseline)
    return budgets


def _measured(kind: str, name: str | None, files: Sequence[BuildFile]) -> list[tuple[str, float]]:
    """(label, bytes) pairs a budget of this type limits."""
    if kind == "all":
        return [("all", sum(f.size for f in files))]
    if kind == "allScript":
        return [("allScript", sum(f.size for f in files if f.is_script))]
    if kind == "any":
        return [(f.name, f.size) for f in files]
    if kind == "anyScript":
        return [(f.name, f.size) for f in files if f.is_script]
    if kind == "initial":
        return [("initial", sum(f.size for f in files if f.initial))]
    matching = [f for f in files if name in f.chunks]
    if not matching:
        raise InvalidInput(f"bundle budget: no chunk named {name!r} in the build files")
    return [(f"bundle {name}", sum(f.size for f in matching))]


def evaluate_bundle_budgets(document: object, files: Sequence[BuildFile]) -> list[AssertionResult]:
    """One result per budget threshold and measured size, in the assertion result shape."""
    results = []
    for budget in validate_bundle_budgets(document):
        baseline = (
            parse_size(budget["baseline"], where="baseline") if "baseline" in budget else None
        )
        for label, size in _measured(budget["type"], budget.get("name"), files):
            for threshold in THRESHOLDS:
                if threshold not in budget:
                    continue
                limit = parse_size(budget[threshold], where=threshold, baseline=baseline)
                results.append(_result(budget, threshold, label, size, limit, baseline))
    return results


def _result(
    budget: dict[str, Any],
    threshold: str,
    label: str,
    size: float,
    limit: float,
    baseline: float | None,
) -> AssertionResult:
    level = Level.ERROR if threshold.endswith(("Error", "error")) else Level.WARN
    if threshold in ("warning", "error"):
        # Angular's relative thresholds bound the size on both sides of the baseline.
        base = baseline or 0.0
        passed = base - limit <= size <= base + limit
        operator, expected = "±", limit
    elif threshold.startswith("maximum"):
        passed, operator, expected = size <= limit, "<=", limit
    else:
        passed, operator, expected = size >= limit, ">=", limit
    return AssertionResult(
        url=BUNDLE_URL,
        source="bundle",
        audit_id=f"bundle-budget:{budget['type']}",
        audit_property=label,
        name=threshold,
        level=level,
        operator=operator,
        expected=expected,
        actual=float(size),
        values=(float(size),),
        passed=passed,
        message=None if passed else f"{label} is {size / 1024:.1f} kB",
    )
