"""How the dashboard writes values and changes of the Web Vitals."""

from __future__ import annotations

import pytest

from dashboard.vitals import VITALS


@pytest.mark.parametrize(
    ("metric", "value", "shown"),
    [
        ("LCP", 999.4, "999 ms"),
        ("LCP", 2345.0, "2.35 s"),
        ("INP", 180.0, "180 ms"),
        ("CLS", 0.0349, "0.03"),
        ("CLS", None, "–"),
    ],
)
def test_values_are_written_in_the_metrics_own_units(
    metric: str, value: float | None, shown: str
) -> None:
    assert VITALS[metric].format(value) == shown


@pytest.mark.parametrize(
    ("metric", "before", "after", "shown"),
    [
        ("LCP", 2950.0, 3740.0, "2.95 s → 3.74 s"),
        ("CLS", 0.081, 0.12, "0.08 → 0.12"),
        # Equal at two decimals: the flagged rise must still be visible.
        ("CLS", 0.0301, 0.0346, "0.030 → 0.035"),
        ("CLS", 0.03001, 0.03004, "0.0300 → 0.0300"),
        ("INP", 200.2, 200.4, "200.2 ms → 200.4 ms"),
        ("LCP", None, 2500.0, "– → 2.50 s"),
    ],
)
def test_a_change_shows_enough_digits_to_tell_its_ends_apart(
    metric: str, before: float | None, after: float | None, shown: str
) -> None:
    assert VITALS[metric].format_change(before, after) == shown
