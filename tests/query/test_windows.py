"""Windows: durations and ISO times, snapped to whole rollup periods; levels cover them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.errors import InvalidInput
from collector.query.levels import (
    LEVELS,
    PeriodRange,
    cover,
    covering_level,
    dimensions_of,
    level_of,
)
from collector.query.windows import parse_duration, resolve_window
from collector.vitals import DAY, HOUR

NOW = datetime(2026, 11, 26, 10, 17, 42, 5000, tzinfo=UTC)


def test_durations() -> None:
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("24h") == timedelta(hours=24)
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("2w") == timedelta(weeks=2)
    assert parse_duration("7 days") is None


def test_a_short_window_snaps_to_hours() -> None:
    window = resolve_window("24h", None, now=NOW)
    assert window.start == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert window.end == datetime(2026, 11, 26, 11, tzinfo=UTC)


def test_a_long_window_snaps_to_whole_days() -> None:
    window = resolve_window("7d", None, now=NOW)
    assert window.start == datetime(2026, 11, 19, tzinfo=UTC)
    assert window.end == datetime(2026, 11, 27, tzinfo=UTC)


def test_iso_times_without_offset_are_utc_and_aligned_ends_stay() -> None:
    window = resolve_window("2026-11-01", "2026-11-08T00:00:00+00:00", now=NOW)
    assert (window.start, window.end) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 8, tzinfo=UTC),
    )
    shifted = resolve_window("2026-11-01T02:00:00+02:00", "2026-11-01T05:30:00Z", now=NOW)
    assert (shifted.start.hour, shifted.end.hour) == (0, 6)


def test_a_timeseries_window_snaps_to_its_interval() -> None:
    window = resolve_window("3h", None, now=NOW, snap=900)
    assert window.start == datetime(2026, 11, 26, 7, 15, tzinfo=UTC)
    assert window.end == datetime(2026, 11, 26, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("500d", None, "too long"),
        ("2026-11-02", "2026-11-01", "empty"),
        ("soon", None, "not a time"),
        (None, "later", "not a time"),
        (None, "9999-12-31T23:59:59", "out of range"),
        ("0001-01-01", None, "out of range"),
        ("999999w", "1970-01-02", "too long"),
    ],
)
def test_bad_windows_are_refused(start: str | None, end: str | None, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        resolve_window(start, end, now=NOW)


@given(st.integers(0, 10**6), st.integers(0, 3000))
def test_cover_is_exact_and_uses_coarse_periods(start_hours: int, hours: int) -> None:
    start, end = start_hours * HOUR, (start_hours + hours) * HOUR
    ranges = cover(start, end, grains=(HOUR, DAY))
    position = start
    for period_range in ranges:
        assert period_range.start == position
        assert period_range.start % period_range.grain == 0
        assert (period_range.end - period_range.start) % period_range.grain == 0
        position = period_range.end
    assert position == end
    hour_ranges = [r for r in ranges if r.grain == HOUR]
    assert sum(r.end - r.start for r in hour_ranges) <= 2 * (DAY - HOUR)


@given(st.integers(0, 10**6), st.integers(1, 3000), st.sampled_from([(HOUR,), (DAY,), (HOUR, DAY)]))
def test_cover_takes_the_coarsest_grain_in_one_range(
    start_hours: int, hours: int, grains: tuple[int, ...]
) -> None:
    coarsest = max(grains)
    start = start_hours * HOUR // coarsest * coarsest
    end = start + hours * coarsest
    assert cover(start, end, grains=grains) == [PeriodRange(coarsest, start, end)]


def test_levels_cover_the_common_views_and_not_rare_ones() -> None:
    assert covering_level([]) == 0
    assert dimensions_of(covering_level(["route", "device"]) or 0) == ("route", "device")
    assert covering_level(["device", "country"]) == level_of(["device", "country"])
    assert covering_level(["route", "browser"]) is None
    # Hourly rows exist for the small levels only.
    assert covering_level([], start=HOUR, end=2 * HOUR) == 0
    assert covering_level(["route"], start=HOUR, end=2 * HOUR) is None
    assert covering_level(["route"], start=DAY, end=3 * DAY) == level_of(["route"])
    assert covering_level(["device"], interval=900) is None
    assert len(set(LEVELS)) == len(LEVELS)
