"""Filters from the URL: good values kept, bad ones dropped with a notice, URLs rebuilt."""

from __future__ import annotations

from dashboard.filters import Filters, parse_filters


def test_valid_filters_are_kept() -> None:
    parsed = parse_filters(
        {
            "window": "24h",
            "device": "desktop",
            "route": "/product/:id",
            "browser": "chrome",
            "nav": "reload",
        }
    )

    assert parsed.notices == []
    assert parsed.filters == Filters(
        window="24h",
        device="desktop",
        route="/product/:id",
        browser="chrome",
        navigation_type="reload",
    )


def test_bad_values_are_ignored_with_a_notice_naming_them_and_the_choices() -> None:
    parsed = parse_filters(
        {"window": "forever", "device": "fridge", "route": "no-slash", "nav": "teleport"}
    )

    assert parsed.filters == Filters()
    assert len(parsed.notices) == 4
    assert "Ignored window “forever”" in parsed.notices[0]
    assert "Showing last 7 days" in parsed.notices[0]
    assert "mobile, tablet, desktop" in parsed.notices[1]
    assert "route" in parsed.notices[2]


def test_long_bad_values_are_cut_in_the_notice() -> None:
    parsed = parse_filters({"browser": "X" * 5000})

    assert parsed.filters.browser is None
    assert len(parsed.notices[0]) < 200


def test_query_string_round_trips_and_leaves_defaults_out() -> None:
    filters = Filters(window="14d", device="mobile", route="/a b")

    query = filters.query_string()

    assert query == "?window=14d&device=mobile&route=%2Fa+b"
    assert Filters().query_string() == ""
    assert filters.query_string(device=None) == "?window=14d&route=%2Fa+b"
    from urllib.parse import parse_qsl

    assert parse_filters(dict(parse_qsl(query[1:]))).filters == filters
