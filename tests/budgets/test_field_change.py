"""The field regression test: enough samples, a 10 % rise of the p75, and significance."""

from __future__ import annotations

import pytest

from collector.budgets.field.change import (
    MAX_P_VALUE,
    Quantiles,
    one_sided_p_value,
    share_above,
    worsening,
)


def uniform(low: float, high: float, count: int) -> Quantiles:
    """The percentiles of ``count`` values spread evenly over [low, high]."""
    span = high - low
    return Quantiles(count, *(low + span * f for f in (0.5, 0.75, 0.9, 0.95, 0.99)))


def test_share_above_interpolates_between_percentiles() -> None:
    current = uniform(1000, 2000, 500)
    assert share_above(1750, current) == pytest.approx(0.25)
    assert share_above(1600, current) == pytest.approx(0.4)
    # Below the median only "at least half" is known: no more is claimed.
    assert share_above(100, current) == pytest.approx(0.5)
    assert share_above(5000, current) == pytest.approx(0.01)


def test_a_clear_rise_with_enough_samples_is_flagged() -> None:
    found = worsening("LCP", uniform(1000, 2000, 400), uniform(1300, 2600, 400))
    assert found is not None
    assert found.relative_change == pytest.approx(0.3)
    assert found.share_above > 0.25
    assert found.p_value < MAX_P_VALUE


@pytest.mark.parametrize(
    ("previous", "current", "why"),
    [
        (uniform(1000, 2000, 400), uniform(1000, 2000, 400), "no change"),
        (uniform(1000, 2000, 400), uniform(1050, 2100, 400), "5 % is below the 10 % bar"),
        (uniform(1000, 2000, 40), uniform(1500, 3000, 40), "too few samples"),
        (uniform(1000, 2000, 400), uniform(700, 1400, 400), "it got better"),
        (uniform(1000, 2000, 100), uniform(1000, 2250, 100), "not significant at this size"),
    ],
)
def test_no_flag_without_all_three_conditions(
    previous: Quantiles, current: Quantiles, why: str
) -> None:
    assert worsening("LCP", previous, current) is None, why


def test_cls_rising_from_zero_is_measured_against_a_floor() -> None:
    previous = Quantiles(1000, 0.0, 0.0, 0.01, 0.02, 0.05)
    current = Quantiles(1000, 0.05, 0.12, 0.2, 0.25, 0.3)
    found = worsening("CLS", previous, current)
    assert found is not None
    assert found.relative_change == pytest.approx(12.0)


def test_p_value_shrinks_with_the_sample_size() -> None:
    small = one_sided_p_value(share=0.3, count=100, baseline=0.25, baseline_count=100)
    large = one_sided_p_value(share=0.3, count=10_000, baseline=0.25, baseline_count=10_000)
    assert large < MAX_P_VALUE < small
