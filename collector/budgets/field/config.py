"""Field (RUM) budgets: limits on a percentile of real users' Web Vitals, validated strictly.

A field budget reads like ``p75 LCP ≤ 2500 ms on mobile for /checkout over 7 days``::

    {"metric": "LCP", "percentile": 75, "max": 2500, "route": "/checkout",
     "device": "mobile", "window": "7d", "level": "error"}

A warn-level limit is a second entry with ``"level": "warn"``. They come as a list,
in a perfbeacon budget file (``{"fieldBudgets": [...]}``), under a lighthouserc's
``perfbeacon.fieldBudgets`` key, or as the check API's ``field_budgets``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from collector.errors import InvalidInput
from collector.route_groups import route_of
from collector.vitals import CURRENT_METRICS, DEVICE_CLASSES

# The Core Web Vitals and their diagnostics; FID is retired from web-vitals.
FIELD_METRICS = CURRENT_METRICS
PERCENTILES: tuple[int, ...] = (50, 75, 90, 95, 99)
WINDOWS: dict[str, timedelta] = {
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "14d": timedelta(days=14),
    "28d": timedelta(days=28),
}
DEVICES = DEVICE_CLASSES
LEVELS: tuple[str, ...] = ("warn", "error")
REQUIRED = ("metric", "max")
OPTIONS = frozenset({"metric", "percentile", "max", "route", "device", "window", "level"})
MAX_FIELD_BUDGETS = 200
MAX_ROUTE_LENGTH = 512
DEFAULT_PERCENTILE = 75
DEFAULT_WINDOW = "7d"


@dataclass(frozen=True, slots=True)
class FieldBudget:
    """One validated field budget."""

    metric: str
    max: float
    percentile: int = DEFAULT_PERCENTILE
    route: str | None = None
    device: str | None = None
    window: str = DEFAULT_WINDOW
    level: str = "error"

    @property
    def filters(self) -> dict[str, str]:
        """The query filters this budget selects its data with."""
        chosen = {"route": self.route, "device": self.device}
        return {name: value for name, value in chosen.items() if value is not None}

    @property
    def scope(self) -> str:
        """Where the budget applies, as people say it: ``/checkout on mobile``."""
        where = self.route or "all routes"
        return f"{where} on {self.device}" if self.device else where

    def describe(self) -> str:
        """``p75 LCP ≤ 2500 on /checkout on mobile over 7d``."""
        limit = f"{self.max:g}"
        return f"p{self.percentile} {self.metric} ≤ {limit} on {self.scope} over {self.window}"

    def to_json(self) -> dict[str, Any]:
        """The stored form (every option spelled out)."""
        out: dict[str, Any] = {
            "metric": self.metric,
            "percentile": self.percentile,
            "max": self.max,
            "window": self.window,
            "level": self.level,
        }
        if self.route is not None:
            out["route"] = self.route
        if self.device is not None:
            out["device"] = self.device
        return out


def validate_field_budgets(document: object, *, where: str = "fieldBudgets") -> list[FieldBudget]:
    """Validated field budgets from a list of entries, or InvalidInput naming the problem."""
    if not isinstance(document, list):
        raise InvalidInput(f"{where}: must be a list of field budgets")
    if len(document) > MAX_FIELD_BUDGETS:
        raise InvalidInput(f"{where}: at most {MAX_FIELD_BUDGETS} field budgets")
    return [_field_budget(entry, where=f"{where}[{i}]") for i, entry in enumerate(document)]


def _field_budget(entry: object, *, where: str) -> FieldBudget:
    if not isinstance(entry, dict):
        raise InvalidInput(f"{where}: must be an object like {{'metric': 'LCP', 'max': 2500}}")
    unknown = sorted(str(k)[:40] for k in set(entry) - OPTIONS)
    if unknown:
        raise _bad(where, f"unknown option(s) {', '.join(unknown)}", sorted(OPTIONS))
    missing = [name for name in REQUIRED if name not in entry]
    if missing:
        raise InvalidInput(f"{where}: {' and '.join(missing)} missing")
    return FieldBudget(
        metric=_choice(entry["metric"], FIELD_METRICS, where=f"{where}.metric"),
        max=_limit(entry["max"], where=f"{where}.max"),
        percentile=_percentile(entry.get("percentile", DEFAULT_PERCENTILE), where=where),
        route=_route(entry.get("route"), where=f"{where}.route"),
        device=_optional_choice(entry.get("device"), DEVICES, where=f"{where}.device"),
        window=_choice(
            entry.get("window", DEFAULT_WINDOW), tuple(WINDOWS), where=f"{where}.window"
        ),
        level=_choice(entry.get("level", "error"), LEVELS, where=f"{where}.level"),
    )


def _bad(where: str, problem: str, allowed: Sequence[str | int]) -> InvalidInput:
    return InvalidInput(
        f"{where}: {problem}; allowed: {', '.join(str(a) for a in allowed)}",
        details={"field": where, "allowed": list(allowed)},
    )


def _choice(value: object, allowed: tuple[str, ...], *, where: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _bad(where, f"unknown value {str(value)[:40]!r}", allowed)
    return value


def _optional_choice(value: object, allowed: tuple[str, ...], *, where: str) -> str | None:
    return None if value is None else _choice(value, allowed, where=where)


def _limit(value: object, *, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{where}: must be a number (the metric's unit: ms, CLS unitless)")
    if value < 0:
        raise InvalidInput(f"{where}: must not be negative")
    return float(value)


def _percentile(value: object, *, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value not in PERCENTILES:
        raise _bad(f"{where}.percentile", f"unsupported value {str(value)[:20]!r}", PERCENTILES)
    return int(value)


def _route(value: object, *, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/") or len(value) > MAX_ROUTE_LENGTH:
        raise InvalidInput(
            f"{where}: must be a route as the ingest groups it, starting with '/' "
            f"(e.g. /product/:id), at most {MAX_ROUTE_LENGTH} characters"
        )
    if "\x00" in value:
        raise InvalidInput(f"{where}: contains a NUL character")
    # A path such as /product/42 means its group, as beacons from it are filed.
    return route_of(value)


def field_budgets_of_rc(rc: object) -> object:
    """The ``perfbeacon.fieldBudgets`` list of a lighthouserc, or None."""
    if not isinstance(rc, dict):
        return None
    section = rc.get("perfbeacon")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise InvalidInput("lighthouserc.perfbeacon: must be an object")
    unknown = sorted(str(k)[:40] for k in set(section) - {"fieldBudgets"})
    if unknown:
        raise _bad(
            "lighthouserc.perfbeacon", f"unknown option(s) {', '.join(unknown)}", ["fieldBudgets"]
        )
    return section.get("fieldBudgets")
