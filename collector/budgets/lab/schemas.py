"""Shapes of the budget check API: the check request, the stored configuration, the report."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from collector.budgets.lhci.schemas import Build, BuildContext


class CheckRequest(BaseModel):
    """``POST /api/v1/budgets/check``: LHRs and/or build files, a config (or the site's
    stored one), and the build context."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    build: BuildContext
    lhrs: list[dict[str, Any]] = Field(default_factory=list, max_length=200)
    assert_options: dict[str, Any] | None = Field(default=None, alias="assert")
    lighthouserc: dict[str, Any] | None = None
    budgets: list[Any] | None = None
    bundle_budgets: dict[str, Any] | list[Any] | None = None
    field_budgets: list[Any] | None = None
    bundle_stats: dict[str, Any] | None = None


class ConfigRequest(BaseModel):
    """``PUT /api/v1/budgets/config``: the site's stored budget configuration."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    assert_options: dict[str, Any] | None = Field(default=None, alias="assert")
    lighthouserc: dict[str, Any] | None = None
    budgets: list[Any] | None = None
    bundle_budgets: dict[str, Any] | list[Any] | None = None
    field_budgets: list[Any] | None = None


class CheckReport(BaseModel):
    """The answer of a check: one verdict, every assertion, regressions, the baseline."""

    verdict: Literal["pass", "warn", "fail"]
    project_id: str
    build: Build
    baseline: Build | None
    urls: list[str]
    runs: int
    results: list[dict[str, Any]]
    regressions: list[dict[str, Any]]
    lab_vs_field: list[dict[str, Any]] = Field(default_factory=list)
