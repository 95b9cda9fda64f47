"""perfbeacon's verdicts equal ``lhci assert``'s on LHRs made by real Lighthouse.

Each case is compared with the results captured from ``lhci assert`` (fixtures/expected),
and, where lhci is installed (``.ci/run`` installs it), with a live ``lhci assert`` run.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from collector.budgets.lab.config import build_config
from collector.budgets.lab.evaluate import evaluate
from collector.budgets.lhr import parse_lhr_text
from collector.budgets.results import AssertionResult, Level, Verdict, verdict_of
from tests.budgets.lhci_assert import lhci_available, normalize, run_lhci_assert
from tests.budgets.parity_cases import CASES, EXPECTED_DIR, LHR_DIR, ParityCase


def perfbeacon_results(case: ParityCase) -> list[AssertionResult]:
    lhrs = [parse_lhr_text((LHR_DIR / name).read_text(), source=name) for name in case.lhrs]
    config = build_config(
        lighthouserc=case.lighthouserc() if case.budgets is None else None, budgets=case.budgets
    )
    return evaluate(config=config, lhrs=lhrs, build_files=None)


def as_lhci(results: list[AssertionResult], case: ParityCase) -> list[dict[str, Any]]:
    """Our results in the shape of LHCI's assertion-results.json."""
    rows = [
        {
            "url": r.url,
            "auditId": r.audit_id,
            "auditProperty": r.audit_property,
            "name": r.name,
            "level": r.level.value,
            "operator": r.operator,
            "expected": r.expected,
            "actual": r.actual,
            "values": list(r.values),
            "passed": r.passed,
            "message": r.message,
        }
        for r in results
        # With a budgets file, lhci assert reports failures only.
        if case.budgets is None or not r.passed
    ]
    return normalize(rows)


def lhci_exit_code(results: list[AssertionResult]) -> int:
    return 1 if verdict_of(results, has_regressions=False) == Verdict.FAIL else 0


def expected(case: ParityCase) -> dict[str, Any]:
    return json.loads((EXPECTED_DIR / f"{case.name}.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_results_equal_captured_lhci_assert(case: ParityCase) -> None:
    results = perfbeacon_results(case)
    captured = expected(case)
    assert as_lhci(results, case) == captured["results"]
    assert lhci_exit_code(results) == captured["exit_code"]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_results_equal_live_lhci_assert(case: ParityCase) -> None:
    if not lhci_available():
        pytest.skip("lhci is not installed: cd tools/lhci && npm ci")
    live = run_lhci_assert(case)
    assert live == expected(case), (
        "the captured fixture is stale: python -m tests.budgets.lhci_assert"
    )
    results = perfbeacon_results(case)
    assert as_lhci(results, case) == live["results"]
    assert lhci_exit_code(results) == live["exit_code"]


def test_cases_cover_every_option() -> None:
    options = json.dumps([c.lighthouserc() for c in CASES])
    for needle in (
        "lighthouse:all",
        "lighthouse:recommended",
        "lighthouse:no-pwa",
        '"off"',
        '"warn"',
        '"error"',
        "minScore",
        "maxNumericValue",
        "maxLength",
        '"median"',
        '"optimistic"',
        '"pessimistic"',
        '"median-run"',
        "assertMatrix",
        "matchingUrlPattern",
        "budgetsFile",
    ):
        assert needle in options, needle
    assert {Level.WARN, Level.ERROR} <= {r.level for c in CASES for r in perfbeacon_results(c)}
    verdicts = {lhci_exit_code(perfbeacon_results(c)) for c in CASES}
    assert verdicts == {0, 1}
