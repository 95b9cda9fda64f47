"""LHRs with wrong types anywhere inside never crash the engine, statistics or summaries:
the result is a verdict or an InvalidInput, never another exception."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.budgets.lab.assert_config import evaluate_assertions
from collector.budgets.lab.regressions import samples_from_summaries
from collector.budgets.lhci.statistics import compute_statistics
from collector.budgets.lhr import parse_lhr_text, summarize, validate_lhr
from collector.errors import InvalidInput
from tests.budgets.helpers import lhr

BASE = lhr("v1-heavy-1")
AUDIT_IDS = sorted(BASE["audits"])
OPTIONS = {
    "preset": "lighthouse:all",
    "assertions": {
        "categories:performance": ["error", {"minScore": 0.5, "aggregationMethod": "median-run"}],
        "resource-summary:script:size": ["error", {"maxNumericValue": 1}],
        "user-timings:hero-render": ["warn", {"maxNumericValue": 1}],
        "interactive": ["error", {"maxNumericValue": 1, "aggregationMethod": "pessimistic"}],
        "unused-javascript": ["error", {"maxLength": 0, "aggregationMethod": "median"}],
    },
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
fields = st.sampled_from(["score", "scoreDisplayMode", "numericValue", "details", "title"])
edits = st.lists(st.tuples(st.sampled_from(AUDIT_IDS), fields, json_values), max_size=12)
category_edits = st.lists(
    st.tuples(
        st.sampled_from(sorted(BASE["categories"])),
        st.sampled_from(["score", "auditRefs"]),
        json_values,
    ),
    max_size=4,
)


def mutated(audit_edits: list[Any], cat_edits: list[Any]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for audit_id, field, value in audit_edits:
        data["audits"][audit_id][field] = value
    for category_id, field, value in cat_edits:
        data["categories"][category_id][field] = value
    return data


@settings(max_examples=100, deadline=None)
@given(edits, category_edits, edits)
def test_hostile_values_give_a_verdict_or_invalid_input(
    first: list[Any], cats: list[Any], second: list[Any]
) -> None:
    try:
        lhrs = [
            validate_lhr(mutated(first, cats), source="a"),
            validate_lhr(mutated(second, []), source="b"),
        ]
        results = evaluate_assertions(OPTIONS, lhrs)
    except InvalidInput:
        return
    assert results
    summaries = [summarize(one) for one in lhrs]
    assert compute_statistics(summaries)
    assert samples_from_summaries(summaries, ["interactive"])


def test_nesting_past_the_decoders_limit_is_invalid_input() -> None:
    # LHCI uploads send the LHR as a string, so the request body itself is flat.
    with pytest.raises(InvalidInput, match="lhr: nested too deeply to read"):
        parse_lhr_text("[" * 100_000 + "]" * 100_000, source="lhr")
