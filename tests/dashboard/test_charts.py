"""Chart geometry: points inside the plot, bands in order, gaps, shares, bins, words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from collector.vitals import Rating
from dashboard.charts import (
    Bin,
    TrendPoint,
    distribution_bar,
    histogram,
    nice_ceiling,
    trend_chart,
)
from dashboard.vitals import VITALS

START = datetime(2026, 11, 1, tzinfo=UTC)


def _series(values: list[float | None]) -> list[TrendPoint]:
    return [
        TrendPoint(start=START + timedelta(hours=i), value=v, count=0 if v is None else 10)
        for i, v in enumerate(values)
    ]


def test_trend_points_lie_inside_the_plot_and_higher_values_are_higher() -> None:
    chart = trend_chart(
        vital=VITALS["LCP"],
        series=_series([1000.0, 3000.0, 9000.0]),
        start=START,
        end=START + timedelta(hours=3),
        title="t",
    )

    xs = [p.x for p in chart.points]
    ys = [p.y for p in chart.points]
    assert xs == sorted(xs)
    assert ys[0] > ys[1] > ys[2]
    assert all(chart.plot_left <= x <= chart.plot_right for x in xs)
    assert all(0 <= y <= chart.plot_bottom for y in ys)
    assert [p.rating for p in chart.points] == [Rating.GOOD, Rating.NEEDS_IMPROVEMENT, Rating.POOR]
    assert "9.00 s" in chart.points[2].label


def test_bands_stack_good_below_poor_and_are_labelled_with_thresholds() -> None:
    chart = trend_chart(
        vital=VITALS["INP"],
        series=_series([150.0]),
        start=START,
        end=START + timedelta(hours=1),
        title="t",
    )

    good, middle, poor = chart.bands
    assert good.y > middle.y > poor.y
    assert good.label == "Good ≤ 200 ms"
    assert poor.label == "Poor > 500 ms"
    assert middle.rating is Rating.NEEDS_IMPROVEMENT


def test_missing_periods_break_the_line_instead_of_joining_across_them() -> None:
    chart = trend_chart(
        vital=VITALS["CLS"],
        series=_series([0.05, 0.06, None, 0.3]),
        start=START,
        end=START + timedelta(hours=4),
        title="t",
    )

    assert len(chart.paths) == 2
    assert len(chart.points) == 3
    assert "from 0.05 to 0.30 (poor)" in chart.description


def test_an_empty_series_says_so() -> None:
    chart = trend_chart(
        vital=VITALS["LCP"],
        series=_series([None, None]),
        start=START,
        end=START + timedelta(hours=2),
        title="t",
    )

    assert chart.empty
    assert chart.points == []
    assert chart.description.startswith("No LCP samples")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.3, 0.5), (4000, 5000), (5000, 5000), (2100, 2500), (101, 200), (0, 1.0)],
)
def test_nice_ceiling(value: float, expected: float) -> None:
    assert nice_ceiling(value) == expected


def test_distribution_bar_segments_fill_the_bar_in_rating_order() -> None:
    bar = distribution_bar(good=0.7, ni=0.2, poor=0.1)

    assert [s.rating for s in bar.segments] == list(Rating)
    assert sum(s.width for s in bar.segments) == pytest.approx(100)
    assert bar.segments[1].x == pytest.approx(70)
    assert bar.description == "70% good, 20% needs improvement, 10% poor"


def test_distribution_bar_without_samples_is_empty() -> None:
    assert distribution_bar(good=None, ni=None, poor=None).empty


def test_histogram_marks_thresholds_and_rates_bars() -> None:
    bins = [Bin(i * 500.0, (i + 1) * 500.0, 10 - i) for i in range(10)]

    chart = histogram(vital=VITALS["LCP"], bins=bins, title="h")

    assert [t.label for t in chart.thresholds] == ["good ≤ 2.50 s", "poor > 4.00 s"]
    assert chart.bars[0].rating is Rating.GOOD
    assert chart.bars[-1].rating is Rating.POOR
    assert chart.bars[0].height > chart.bars[-1].height
    assert "55 LCP samples" in chart.description


@pytest.mark.parametrize(
    ("largest", "labels"),
    [
        (1, ["0", "1", "2"]),
        (2, ["0", "1", "2"]),
        (3, ["0", "3", "6"]),
        (20, ["0", "10", "20"]),
        (230, ["0", "125", "250"]),
        (1900, ["0", "1,000", "2,000"]),
    ],
)
def test_histogram_count_ticks_are_whole_distinct_numbers(largest: int, labels: list[str]) -> None:
    bins = [Bin(0.0, 500.0, largest), Bin(500.0, 1000.0, 0)]

    chart = histogram(vital=VITALS["LCP"], bins=bins, title="h")

    assert sorted((t.label for t in chart.y_ticks), key=lambda t: int(t.replace(",", ""))) == labels
