"""A budget configuration: lighthouserc assertions (or budget.json turned into them) and
bundle budgets, built from the documents users already have."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collector.budgets.field.config import (
    FieldBudget,
    field_budgets_of_rc,
    validate_field_budgets,
)
from collector.budgets.lab.assert_config import validate_assert_options
from collector.budgets.lab.budget_json import budgets_to_assertions
from collector.budgets.lab.bundles import validate_bundle_budgets
from collector.budgets.lab.jsport import merge
from collector.errors import InvalidInput

RC_CI_KEYS = frozenset({"collect", "assert", "upload", "server", "wizard", "extends"})


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """What a check evaluates: assert options for LHRs, bundle budgets for build files,
    and field budgets for the site's RUM data."""

    assert_options: dict[str, Any] | None = None
    bundle_budgets: list[dict[str, Any]] | None = None
    field_budgets: tuple[FieldBudget, ...] | None = None

    @property
    def is_empty(self) -> bool:
        """True when the configuration asserts nothing."""
        return (
            self.assert_options is None
            and self.bundle_budgets is None
            and self.field_budgets is None
        )

    def to_json(self) -> dict[str, Any]:
        """The stored form, read back by ``from_json``."""
        field = (
            [b.to_json() for b in self.field_budgets] if self.field_budgets is not None else None
        )
        return {
            "assert": self.assert_options,
            "bundle_budgets": self.bundle_budgets,
            "field_budgets": field,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BudgetConfig:
        """A configuration stored by ``to_json``."""
        field = data.get("field_budgets")
        return cls(
            assert_options=data.get("assert"),
            bundle_budgets=data.get("bundle_budgets"),
            field_budgets=tuple(validate_field_budgets(field)) if field is not None else None,
        )


def rc_assert_options(rc: object, *, where: str = "lighthouserc") -> dict[str, Any] | None:
    """The ``ci.assert`` options of a lighthouserc (dotted keys read as LHCI reads them)."""
    if not isinstance(rc, dict):
        raise InvalidInput(f"{where}: must be an object with a 'ci' key")
    converted: dict[str, Any] = _dots_to_colons(rc)
    ci: dict[str, Any] = {}
    for key in ("ci", "lhci"):
        section = converted.get(key) or {}
        if not isinstance(section, dict):
            raise InvalidInput(f"{where}.{key}: must be an object")
        ci.update(section)
    unknown = sorted(set(ci) - RC_CI_KEYS)
    if unknown:
        known = ", ".join(sorted(RC_CI_KEYS))
        raise InvalidInput(f"{where}.ci: unknown option(s) {', '.join(unknown)}; known: {known}")
    return ci.get("assert")


def _dots_to_colons(value: Any) -> Any:
    # LHCI rewrites "resource-summary.script.size" keys to colons before yargs sees them.
    if isinstance(value, dict):
        return {k.replace(".", ":"): _dots_to_colons(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dots_to_colons(v) for v in value]
    return value


def build_config(
    *,
    assert_options: object = None,
    lighthouserc: object = None,
    budgets: object = None,
    bundle_budgets: object = None,
    field_budgets: object = None,
) -> BudgetConfig:
    """Combine the given documents into one validated configuration."""
    options: dict[str, Any] | None = None
    if lighthouserc is not None:
        rc_options = rc_assert_options(lighthouserc)
        if rc_options is not None:
            options = validate_assert_options(rc_options)
    if assert_options is not None:
        validated = validate_assert_options(assert_options)
        options = merge(options, validated) if options else validated
    if options is not None and options.get("budgetsFile") is not None:
        raise InvalidInput("assert.budgetsFile: give the budget.json document itself")
    if budgets is not None:
        if options is not None and any(
            options.get(k) for k in ("assertions", "assertMatrix", "preset")
        ):
            raise InvalidInput("cannot use both budgets (budget.json) AND assertions, as in LHCI")
        options = validate_assert_options(budgets_to_assertions(budgets))
    if options is not None:
        options = {k: v for k, v in options.items() if k not in ("includePassedAssertions", "lhr")}
    bundles = validate_bundle_budgets(bundle_budgets) if bundle_budgets is not None else None
    return BudgetConfig(
        assert_options=options,
        bundle_budgets=bundles,
        field_budgets=_field_budgets(lighthouserc, field_budgets),
    )


def _field_budgets(lighthouserc: object, given: object) -> tuple[FieldBudget, ...] | None:
    """Field budgets of the lighthouserc (``perfbeacon.fieldBudgets``) and those given."""
    found: list[FieldBudget] = []
    in_rc = field_budgets_of_rc(lighthouserc)
    if in_rc is not None:
        found += validate_field_budgets(in_rc, where="lighthouserc.perfbeacon.fieldBudgets")
    if given is not None:
        found += validate_field_budgets(given)
    return tuple(found) if in_rc is not None or given is not None else None
