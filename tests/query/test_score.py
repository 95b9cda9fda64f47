"""Performance scores: Lighthouse's log-normal curves and Sentry's weights."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.query.score import CONTROL_POINTS, WEIGHTS, log_normal_score, score_card


@pytest.mark.parametrize("metric", list(CONTROL_POINTS))
def test_the_curve_passes_its_control_points(metric: str) -> None:
    p10, median = CONTROL_POINTS[metric]
    assert log_normal_score(p10, p10=p10, median=median) == pytest.approx(0.9, abs=1e-9)
    assert log_normal_score(median, p10=p10, median=median) == pytest.approx(0.5, abs=1e-9)
    assert log_normal_score(0, p10=p10, median=median) == 1.0
    assert log_normal_score(median * 100, p10=p10, median=median) < 0.01


@given(st.floats(min_value=0, max_value=1e5), st.floats(min_value=0, max_value=1e5))
def test_slower_never_scores_higher(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert log_normal_score(low, p10=1200, median=2400) >= log_normal_score(
        high, p10=1200, median=2400
    )


def test_weights_are_sentrys_and_missing_metrics_give_theirs_away() -> None:
    assert WEIGHTS == {"LCP": 30, "INP": 30, "CLS": 15, "FCP": 15, "TTFB": 10}
    perfect = score_card({"LCP": 0.0, "INP": 0.0, "CLS": 0.0, "FCP": 0.0, "TTFB": 0.0})
    assert perfect.score == 100
    medians = score_card({metric: CONTROL_POINTS[metric][1] for metric in WEIGHTS})
    assert medians.score == pytest.approx(50)
    only_lcp = score_card({"LCP": CONTROL_POINTS["LCP"][0], "INP": None})
    assert only_lcp.score == pytest.approx(90)
    assert set(only_lcp.components) == {"LCP"}
    assert score_card({"LCP": None}).score is None


def test_a_mixed_card_weights_its_parts() -> None:
    card = score_card({"LCP": 1200.0, "INP": 500.0, "CLS": 0.1, "FCP": 1600.0, "TTFB": 200.0})
    expected = (30 * 0.9 + 30 * 0.5 + 15 * 0.9 + 15 * 0.5 + 10 * 0.9) / 100
    assert card.score == pytest.approx(100 * expected, abs=0.01)
