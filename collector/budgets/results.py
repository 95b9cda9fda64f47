"""What evaluating a budget produces: one result per checked assertion, and a verdict."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Level(StrEnum):
    """How much a broken assertion matters (lighthouserc's levels)."""

    OFF = "off"
    WARN = "warn"
    ERROR = "error"


class Verdict(StrEnum):
    """The one answer a check gives: fail beats warn beats pass."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class AssertionResult:
    """One assertion checked against one URL (or a build's files), as ``lhci assert`` reports it.

    ``actual`` is NaN when the audit produced no usable value; ``values`` holds one value
    per run (NaN where a run had none).
    """

    url: str
    audit_id: str
    name: str
    level: Level
    operator: str
    expected: float
    actual: float
    values: tuple[float, ...]
    passed: bool
    audit_property: str | None = None
    message: str | None = None
    audit_title: str | None = None
    source: str = "lighthouse"

    @property
    def key(self) -> str:
        """The assertion's name as users write it: ``audit[.property].kind``."""
        prop = f".{self.audit_property}" if self.audit_property else ""
        return f"{self.audit_id}{prop}.{self.name}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict: NaN becomes null, as JSON.stringify does."""
        return {
            "url": self.url,
            "source": self.source,
            "audit_id": self.audit_id,
            "audit_property": self.audit_property,
            "audit_title": self.audit_title,
            "name": self.name,
            "level": self.level.value,
            "operator": self.operator,
            "expected": json_number(self.expected),
            "actual": json_number(self.actual),
            "values": [json_number(v) for v in self.values],
            "passed": self.passed,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Regression:
    """A measure that got worse than its baseline by more than run-to-run noise."""

    url: str
    measure: str
    baseline: float
    actual: float
    change: float
    relative_change: float | None
    p_value: float
    runs: int
    baseline_runs: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "url": self.url,
            "measure": self.measure,
            "baseline": json_number(self.baseline),
            "actual": json_number(self.actual),
            "change": json_number(self.change),
            "relative_change": json_number(self.relative_change),
            "p_value": round(self.p_value, 6),
            "runs": self.runs,
            "baseline_runs": self.baseline_runs,
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Every assertion result of a check, and the regressions found against its baseline."""

    results: tuple[AssertionResult, ...]
    regressions: tuple[Regression, ...] = ()
    urls: tuple[str, ...] = ()
    runs: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def verdict(self) -> Verdict:
        """fail when an error-level assertion failed or a regression was flagged."""
        return verdict_of(self.results, has_regressions=bool(self.regressions))

    @property
    def failures(self) -> list[AssertionResult]:
        """Assertions that did not pass, errors first."""
        broken = [r for r in self.results if not r.passed]
        return sorted(broken, key=lambda r: (r.level != Level.ERROR, r.url, r.audit_id))


def verdict_of(results: Iterable[AssertionResult], *, has_regressions: bool) -> Verdict:
    """The verdict of a set of results: a failed ``error`` or a regression fails the build."""
    verdict = Verdict.FAIL if has_regressions else Verdict.PASS
    for result in results:
        if result.passed:
            continue
        if result.level == Level.ERROR:
            return Verdict.FAIL
        verdict = Verdict.WARN if verdict == Verdict.PASS else verdict
    return verdict


def json_number(value: float | None) -> float | None:
    """None for NaN and infinities (JSON has no such numbers), else the value."""
    if value is None or not math.isfinite(value):
        return None
    return value
