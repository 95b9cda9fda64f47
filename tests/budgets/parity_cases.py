"""Assertion configs that, together, use every lighthouserc option, each paired with LHR
fixtures made by real Lighthouse (tools/lhci/collect-fixtures.sh)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LHR_DIR = FIXTURES / "lhr"
EXPECTED_DIR = FIXTURES / "expected"

INDEX = ("v1-index-1.json", "v1-index-2.json", "v1-index-3.json")
HEAVY = ("v1-heavy-1.json", "v1-heavy-2.json", "v1-heavy-3.json")
SLOW_INDEX = ("v2-index-1.json", "v2-index-2.json", "v2-index-3.json")


@dataclass(frozen=True)
class ParityCase:
    """One ``lhr assert`` run: LHR fixture files and the lighthouserc ``ci.assert`` options
    (or a budget.json, given through ``budgetsFile``)."""

    name: str
    lhrs: tuple[str, ...]
    assert_options: dict[str, Any] = field(default_factory=dict)
    budgets: list[dict[str, Any]] | None = None

    def lighthouserc(self) -> dict[str, Any]:
        """The lighthouserc document (budgets go in a file next to it)."""
        options = dict(self.assert_options)
        if self.budgets is not None:
            options["budgetsFile"] = "budget.json"
        return {"ci": {"assert": options}}


CASES = (
    ParityCase("preset-all", (*INDEX, *HEAVY), {"preset": "lighthouse:all"}),
    ParityCase("preset-recommended", (*INDEX, *HEAVY), {"preset": "lighthouse:recommended"}),
    ParityCase("preset-no-pwa", HEAVY, {"preset": "lighthouse:no-pwa"}),
    ParityCase(
        "preset-overrides-merge-by-index",
        HEAVY,
        {
            "preset": "lighthouse:recommended",
            "assertions": {
                "unused-javascript": ["warn"],
                "first-contentful-paint": ["error", {"maxNumericValue": 3000}],
                "uses-text-compression": "off",
                "color-contrast": "warn",
            },
        },
    ),
    ParityCase(
        "levels-and-min-score",
        (*INDEX, *HEAVY),
        {
            "assertions": {
                "categories:performance": ["error", {"minScore": 0.9}],
                "categories:accessibility": ["warn", {"minScore": 0.9}],
                "categories:seo": "error",
                "categories:best-practices": ["off", {"minScore": 1}],
                "document-title": "error",
                "image-alt": ["warn", {"minScore": 1}],
                "button-name": "error",
            }
        },
    ),
    ParityCase(
        "max-numeric-value-and-max-length",
        (*INDEX, *HEAVY),
        {
            "assertions": {
                "first-contentful-paint": ["error", {"maxNumericValue": 2000}],
                "largest-contentful-paint": ["warn", {"maxNumericValue": 4200}],
                "total-blocking-time": ["error", {"maxNumericValue": 5}],
                "cumulative-layout-shift": ["error", {"maxNumericValue": 0.1}],
                "unused-javascript": ["error", {"maxLength": 0}],
                "render-blocking-resources": ["warn", {"maxLength": 1, "minScore": 0.5}],
                "interactive": ["error", {"maxNumericValue": 4000, "minScore": 0.5}],
            }
        },
    ),
    *(
        ParityCase(
            f"aggregation-{method}",
            (*HEAVY, *SLOW_INDEX),
            {
                "aggregationMethod": method,
                "assertions": {
                    "first-contentful-paint": ["error", {"maxNumericValue": 3700}],
                    "largest-contentful-paint": ["error", {"maxNumericValue": 4200}],
                    "total-blocking-time": ["error", {"maxNumericValue": 200}],
                    "interactive": ["warn", {"maxNumericValue": 3400}],
                    "categories:performance": ["error", {"minScore": 0.75}],
                    "speed-index": ["error", {"minScore": 0.8}],
                    "server-response-time": ["error", {"maxNumericValue": 1}],
                },
            },
        )
        for method in ("median", "optimistic", "pessimistic", "median-run")
    ),
    ParityCase(
        "aggregation-per-assertion",
        SLOW_INDEX,
        {
            "aggregationMethod": "pessimistic",
            "assertions": {
                "total-blocking-time": [
                    "error",
                    {"maxNumericValue": 200, "aggregationMethod": "optimistic"},
                ],
                "interactive": ["error", {"maxNumericValue": 3400, "aggregationMethod": "median"}],
                "first-contentful-paint": [
                    "error",
                    {"maxNumericValue": 3000, "aggregationMethod": "median-run"},
                ],
                "categories:performance": ["error", {"minScore": 0.8}],
            },
        },
    ),
    ParityCase(
        "assert-matrix",
        (*INDEX, *HEAVY),
        {
            "assertMatrix": [
                {
                    "matchingUrlPattern": "heavy",
                    "preset": "lighthouse:no-pwa",
                    "assertions": {
                        "unused-css-rules": "warn",
                        "categories:performance": ["error", {"minScore": 0.8}],
                    },
                },
                {
                    "matchingUrlPattern": "index\\.html$",
                    "aggregationMethod": "median",
                    "assertions": {"first-contentful-paint": ["error", {"maxNumericValue": 800}]},
                },
            ]
        },
    ),
    ParityCase(
        "resource-summary-and-user-timings",
        (*INDEX, *SLOW_INDEX),
        {
            "assertions": {
                "resource-summary:script:size": ["error", {"maxNumericValue": 400}],
                "resource-summary.document.count": ["error", {"maxNumericValue": 1}],
                "resource-summary:total:count": ["warn", {"maxNumericValue": 1}],
                "resource-summary:font:size": ["error", {"maxNumericValue": 1}],
                "user-timings:hero-render": ["error", {"maxNumericValue": 100}],
                "user-timings:hero-start": ["warn", {"maxNumericValue": 50}],
                "user-timings:no-such-mark": ["warn", {"maxNumericValue": 50}],
            }
        },
    ),
    ParityCase(
        "key-spellings-and-missing-values",
        HEAVY,
        {
            "assertions": {
                "firstContentfulPaint": ["error", {"maxNumericValue": 1}],
                "largest-contentful-paint": ["error", {"maxLength": 0}],
                "viewport": ["error", {"maxNumericValue": 1}],
                "final-screenshot": ["error", {"maxNumericValue": 1}],
                "uses-http2": "error",
            }
        },
    ),
    ParityCase(
        "budget-json",
        (*INDEX, *HEAVY),
        budgets=[
            {
                "path": "/heavy*",
                "resourceSizes": [
                    {"resourceType": "script", "budget": 300},
                    {"resourceType": "total", "budget": 2000},
                ],
                "resourceCounts": [{"resourceType": "third-party", "budget": 0}],
                "timings": [{"metric": "interactive", "budget": 4200}],
            },
            {
                "path": "/index.html$",
                "timings": [
                    {"metric": "first-contentful-paint", "budget": 800},
                    {"metric": "cumulative-layout-shift", "budget": 0.01},
                ],
            },
        ],
    ),
)
