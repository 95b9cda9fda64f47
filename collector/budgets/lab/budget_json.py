"""Lighthouse ``budget.json`` (resourceSizes, resourceCounts, timings, per path).

Validated as Lighthouse validates it (``Budget.initializeBudget``) and turned into an
assertion matrix exactly as Lighthouse CI's ``convertBudgetsToAssertions`` does, so the
one assertion engine evaluates it.
"""

from __future__ import annotations

import re
from typing import Any

from collector.budgets.lab.jsport import is_finite_number
from collector.errors import InvalidInput

RESOURCE_TYPES = (
    "total",
    "document",
    "script",
    "stylesheet",
    "image",
    "media",
    "font",
    "other",
    "third-party",
)
TIMING_METRICS = (
    "first-contentful-paint",
    "interactive",
    "first-meaningful-paint",
    "max-potential-fid",
    "total-blocking-time",
    "speed-index",
    "largest-contentful-paint",
    "cumulative-layout-shift",
)
_BUDGET_KEYS = frozenset({"path", "options", "resourceSizes", "resourceCounts", "timings"})


def validate_budgets(budgets: object) -> list[dict[str, Any]]:
    """Check a budget.json document; raises InvalidInput naming the first problem."""
    if not isinstance(budgets, list) or not all(isinstance(b, dict) for b in budgets):
        raise InvalidInput("budget.json: the file is not defined as an array of budgets")
    for index, budget in enumerate(budgets):
        where = f"budget.json[{index}]"
        unknown = sorted(set(budget) - _BUDGET_KEYS)
        if unknown:
            raise InvalidInput(f"{where}: unrecognized properties: {', '.join(unknown)}")
        _validate_path(budget.get("path"), where)
        options = budget.get("options")
        if options is not None and (
            not isinstance(options, dict) or set(options) - {"firstPartyHostnames"}
        ):
            raise InvalidInput(f"{where}.options: only firstPartyHostnames is allowed")
        for field, names, label in (
            ("resourceSizes", RESOURCE_TYPES, "resourceType"),
            ("resourceCounts", RESOURCE_TYPES, "resourceType"),
            ("timings", TIMING_METRICS, "metric"),
        ):
            _validate_rows(budget.get(field), f"{where}.{field}", label, names)
    return budgets


def _validate_path(path: object, where: str) -> None:
    if path is None:
        return
    problem = None
    if not isinstance(path, str):
        problem = "path should be a string"
    elif not path.startswith("/"):
        problem = "path should start with '/'"
    elif path.count("*") > 1:
        problem = "path should only contain one '*'"
    elif path.count("$") > 1 or ("$" in path and not path.endswith("$")):
        problem = "'$' may only occur once, at the end of the path"
    if problem:
        raise InvalidInput(f"{where}: invalid path {path!r}: {problem} (robots.txt format)")


def _validate_rows(rows: object, where: str, label: str, names: tuple[str, ...]) -> None:
    if rows is None:
        return
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InvalidInput(f"{where}: must be an array of objects")
    seen: set[str] = set()
    for row in rows:
        unknown = sorted(set(row) - {label, "budget"})
        if unknown:
            raise InvalidInput(f"{where}: unrecognized properties: {', '.join(unknown)}")
        name = row.get(label)
        if name not in names:
            raise InvalidInput(f"{where}: invalid {label} {name!r}; valid: {', '.join(names)}")
        if not is_finite_number(row.get("budget")):
            raise InvalidInput(f"{where}: invalid budget {row.get('budget')!r} for {name}")
        if name in seen:
            raise InvalidInput(f"{where}: duplicate entry of type {name!r}")
        seen.add(name)


def path_pattern(path: str | None) -> str:
    """The URL regular expression LHCI builds from a budget's robots.txt-style path."""
    if not path or path == "/":
        return ".*"
    escaped = ".*".join(
        re.sub(r"([-\[\]{}()*+?.,\\^|#\s])", r"\\\1", part) for part in path.split("*")
    )
    return f"https?://[^/]+{escaped}"


def budgets_to_assertions(budgets: object) -> dict[str, Any]:
    """A budget.json document as lighthouserc assert options (an ``assertMatrix``)."""
    matrix = []
    for budget in validate_budgets(budgets):
        assertions: dict[str, Any] = {}
        for row in budget.get("timings") or []:
            assertions[row["metric"]] = ["error", {"maxNumericValue": row["budget"]}]
        for row in budget.get("resourceCounts") or []:
            key = f"resource-summary:{row['resourceType']}:count"
            assertions[key] = ["error", {"maxNumericValue": row["budget"]}]
        for row in budget.get("resourceSizes") or []:
            key = f"resource-summary:{row['resourceType']}:size"
            assertions[key] = ["error", {"maxNumericValue": row["budget"] * 1024}]
        matrix.append(
            {"matchingUrlPattern": path_pattern(budget.get("path")), "assertions": assertions}
        )
    return {"assertMatrix": matrix}
