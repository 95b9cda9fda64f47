"""Dashboard filters, read from and written to the URL so that a view can be shared.

A bad value never breaks a page: it is dropped and a notice says which value was
ignored and what would have been accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from urllib.parse import urlencode

from collector.vitals import DEVICES, NAVIGATION_TYPES

WINDOWS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "14d": timedelta(days=14),
    "28d": timedelta(days=28),
}
WINDOW_LABELS = {
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "14d": "Last 14 days",
    "28d": "Last 28 days",
}
DEFAULT_WINDOW = "7d"
_WORD = re.compile(r"^[a-z0-9][a-z0-9 ._-]{0,63}$")
_MAX_ROUTE_LENGTH = 512
_MAX_SHOWN_VALUE = 60

FILTER_NAMES = ("window", "device", "route", "browser", "connection", "nav")


@dataclass(frozen=True, slots=True)
class Filters:
    """The slice of data a view shows; ``None`` means "all"."""

    window: str = DEFAULT_WINDOW
    device: str | None = None
    route: str | None = None
    browser: str | None = None
    connection: str | None = None
    navigation_type: str | None = None

    @property
    def span(self) -> timedelta:
        """The length of the time window."""
        return WINDOWS[self.window]

    @property
    def window_label(self) -> str:
        """The window in words."""
        return WINDOW_LABELS[self.window]

    def as_params(self) -> dict[str, str]:
        """The filters as URL query parameters (defaults left out, so URLs stay short)."""
        params = {
            "window": None if self.window == DEFAULT_WINDOW else self.window,
            "device": self.device,
            "route": self.route,
            "browser": self.browser,
            "connection": self.connection,
            "nav": self.navigation_type,
        }
        return {name: value for name, value in params.items() if value is not None}

    def query_string(self, **changes: str | None) -> str:
        """``?…`` for these filters with some changed (``None`` removes one), or ``""``."""
        params = self.as_params()
        for name, value in changes.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
        return "?" + urlencode(params) if params else ""

    def without_route(self) -> Filters:
        """The same filters for a view that names its route in the path instead."""
        return replace(self, route=None)

    @property
    def narrowed(self) -> bool:
        """Whether any dimension filter (not only the window) is set."""
        return any(
            value is not None
            for value in (
                self.device,
                self.route,
                self.browser,
                self.connection,
                self.navigation_type,
            )
        )


@dataclass(slots=True)
class ParsedFilters:
    """Filters read from a URL, with a notice for each value that was ignored."""

    filters: Filters
    notices: list[str] = field(default_factory=list)


def parse_filters(params: Mapping[str, str]) -> ParsedFilters:
    """Read the filters of a view from its query parameters, ignoring bad values."""
    notices: list[str] = []

    def pick(name: str, valid: bool, allowed: str, fallback: str = "all") -> str | None:
        value = params.get(name)
        if value is None or value == "":
            return None
        if valid:
            return value
        shown = value if len(value) <= _MAX_SHOWN_VALUE else value[:_MAX_SHOWN_VALUE] + "…"
        notices.append(f"Ignored {name} “{shown}”: {allowed}. Showing {fallback} instead.")
        return None

    window_value = params.get("window", "")
    window = pick(
        "window",
        window_value in WINDOWS,
        "use " + ", ".join(WINDOWS),
        WINDOW_LABELS[DEFAULT_WINDOW].lower(),
    )
    route_value = params.get("route", "")
    device_value = params.get("device", "")
    nav_value = params.get("nav", "")
    filters = Filters(
        window=window or DEFAULT_WINDOW,
        device=pick("device", device_value in DEVICES, "use " + ", ".join(DEVICES)),
        route=pick(
            "route",
            route_value.startswith("/") and len(route_value) <= _MAX_ROUTE_LENGTH,
            "a route starts with / (e.g. /product/:id)",
        ),
        browser=pick(
            "browser", bool(_WORD.match(params.get("browser", ""))), "use a lower-case browser name"
        ),
        connection=pick(
            "connection",
            bool(_WORD.match(params.get("connection", ""))),
            "use a lower-case connection type such as 4g",
        ),
        navigation_type=pick(
            "nav", nav_value in NAVIGATION_TYPES, "use " + ", ".join(NAVIGATION_TYPES)
        ),
    )
    return ParsedFilters(filters=filters, notices=notices)
