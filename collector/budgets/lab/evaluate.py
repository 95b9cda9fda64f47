"""Evaluating a budget configuration, the one place every kind of budget is checked:
lighthouserc assertions (budget.json included, turned into assertions as LHCI does) on
LHRs, bundle budgets on build files, and field budgets on what the query services
observed of the site's RUM data. Also which measures regressions are tracked on.

>>> config = build_config(lighthouserc={"ci": {"assert": {"preset": "lighthouse:recommended"}}})
>>> results = evaluate(config=config, lhrs=lhrs, build_files=None)
>>> verdict_of(results, has_regressions=False)
"""

from __future__ import annotations

from collections.abc import Sequence

from collector.budgets.field.observe import Observation, field_results
from collector.budgets.lab.assert_config import evaluate_assertions, resolve
from collector.budgets.lab.bundles import BuildFile, evaluate_bundle_budgets
from collector.budgets.lab.config import BudgetConfig
from collector.budgets.lab.jsport import kebab_case
from collector.budgets.lhr import LHR
from collector.budgets.results import AssertionResult
from collector.errors import InvalidInput


def evaluate(
    *,
    config: BudgetConfig,
    lhrs: Sequence[LHR],
    build_files: Sequence[BuildFile] | None,
    field: Sequence[Observation] | None = None,
) -> list[AssertionResult]:
    """Every assertion of ``config``, passed ones included; InvalidInput when an input the
    config needs is missing. ``field`` holds one observation per field budget."""
    if config.is_empty:
        raise InvalidInput(
            "no budgets to check: give assertions, a budget.json, bundle budgets or field budgets"
        )
    results: list[AssertionResult] = []
    if config.assert_options is not None:
        if not lhrs:
            raise InvalidInput("the assertions need Lighthouse results (LHRs); none were given")
        results.extend(evaluate_assertions(config.assert_options, lhrs))
    if config.bundle_budgets is not None:
        if build_files is None:
            raise InvalidInput("the bundle budgets need the build's files (bundle stats)")
        results.extend(evaluate_bundle_budgets(config.bundle_budgets, build_files))
    if config.field_budgets is not None:
        if field is None:
            raise InvalidInput(
                "field budgets are checked against the site's RUM data: check them on a "
                "perfbeacon server (perfbeacon budget check --server URL --token T)"
            )
        results.extend(field_results(config.field_budgets, field))
    return results


def bounded_audits(config: BudgetConfig) -> list[str]:
    """Audits a config bounds with ``maxNumericValue``: regressions are tracked on them too."""
    if config.assert_options is None:
        return []
    audits = []
    for options in resolve(config.assert_options):
        for key, assertion in (options.get("assertions") or {}).items():
            if (
                isinstance(assertion, list)
                and len(assertion) > 1
                and isinstance(assertion[1], dict)
                and "maxNumericValue" in assertion[1]
                and assertion[0] != "off"
            ):
                audits.append(kebab_case(key).replace(":", ".").split(".")[0])
    return [
        a
        for a in dict.fromkeys(audits)
        if a not in ("resource-summary", "user-timings", "categories")
    ]


def measure_of(result: AssertionResult) -> str | None:
    """The regression measure an assertion result corresponds to, if any."""
    if result.source != "lighthouse":
        return None
    if result.audit_id == "categories" and result.audit_property and result.name == "minScore":
        return f"category:{result.audit_property}"
    if result.audit_property is None and result.name == "maxNumericValue":
        return f"audit:{result.audit_id}"
    return None
