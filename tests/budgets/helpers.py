"""Builders for budget tests: LHR fixtures, build contexts, a site's auth headers."""

from __future__ import annotations

import json
from typing import Any

from collector.sites.schemas import CreatedSite
from tests.budgets.parity_cases import LHR_DIR


def lhr(name: str) -> dict[str, Any]:
    """One LHR fixture (made by real Lighthouse, trimmed)."""
    data: dict[str, Any] = json.loads((LHR_DIR / f"{name}.json").read_text())
    return data


def lhrs(*names: str) -> list[dict[str, Any]]:
    """Several LHR fixtures."""
    return [lhr(name) for name in names]


def runs(prefix: str) -> list[dict[str, Any]]:
    """The three runs of one URL, e.g. ``runs("v1-index")``."""
    return lhrs(*(f"{prefix}-{i}" for i in (1, 2, 3)))


def build(hash: str, branch: str = "main", **extra: Any) -> dict[str, Any]:
    """A build context as the check API takes it."""
    return {"hash": hash, "branch": branch, **extra}


def site_headers(site: CreatedSite) -> dict[str, str]:
    """Authorization with the site's read token."""
    return {"Authorization": f"Bearer {site.read_token}"}


FAST_ASSERTIONS = {
    "assertions": {
        "categories:performance": ["error", {"minScore": 0.9}],
        "interactive": ["error", {"maxNumericValue": 5000}],
        "categories:best-practices": ["warn", {"minScore": 1}],
    }
}
