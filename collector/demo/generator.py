"""Realistic Web Vitals for a demo shop: what a new user sees before sending real beacons.

Traffic follows the day (busier in the evening, quieter at night and on weekends),
60 % of it on mobile; values are log-normal around per-route, per-device medians
close to what field data of a mid-sized shop shows; LCP, INP and CLS carry
attribution like the web-vitals attribution build sends; and the product page
regresses (a heavier hero image, a slower click handler) in the last three days.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from collector.storage.records import EventRecord
from collector.vitals import rate

REGRESSED_ROUTE = "/product/:id"
REGRESSION_DAYS = 3


@dataclass(frozen=True, slots=True)
class DemoRoute:
    """A route of the demo shop: its share of traffic and how heavy its pages are."""

    route: str
    path: str
    weight: float
    lcp_ms: float
    inp_ms: float
    cls: float
    lcp_target: str
    lcp_url: str | None
    inp_targets: tuple[tuple[str, str], ...]
    cls_target: str


ROUTES = (
    DemoRoute(
        "/", "/", 0.24, 1900, 110, 0.04,
        "main > section.hero > img.hero-banner", "https://shop.example/img/hero-1600.webp",
        (("nav > button.menu-toggle", "pointer"), ("form#newsletter > button", "pointer")),
        "div.cookie-banner",
    ),
    DemoRoute(
        "/product/:id", "/product/{n}", 0.34, 2100, 150, 0.06,
        "#gallery > img.primary", "https://shop.example/img/products/{n}-large.jpg",
        (
            ("button#add-to-cart", "pointer"),
            ("select#size", "pointer"),
            ("div.swatches > button", "pointer"),
        ),
        "div.reviews-summary",
    ),
    DemoRoute(
        "/category/:id", "/category/{n}", 0.18, 2300, 130, 0.12,
        "ul.product-grid > li:nth-child(1) > img", "https://shop.example/img/products/{n}-thumb.jpg",
        (("aside.filters input[type=checkbox]", "pointer"), ("button.load-more", "pointer")),
        "ul.product-grid",
    ),
    DemoRoute(
        "/search", "/search", 0.10, 1700, 240, 0.03,
        "main > h1.results-title", None,
        (("input#search-box", "keyboard"), ("ul.suggestions > li", "pointer")),
        "ul.suggestions",
    ),
    DemoRoute(
        "/cart", "/cart", 0.07, 1500, 170, 0.02,
        "table.cart-items", None,
        (("button.quantity-plus", "pointer"), ("button#checkout", "pointer")),
        "div.shipping-estimate",
    ),
    DemoRoute(
        "/checkout", "/checkout", 0.05, 2000, 280, 0.08,
        "form#payment > h2", None,
        (("input#card-number", "keyboard"), ("button#pay", "pointer")),
        "iframe.payment-widget",
    ),
    DemoRoute(
        "/blog/:slug", "/blog/spring-sale-{n}", 0.02, 2600, 90, 0.15,
        "article > figure > img", "https://shop.example/img/blog/{n}.jpg",
        (("article a.read-more", "pointer"),),
        "div.ad-slot-top",
    ),
)  # fmt: skip

# (device, share, value multiplier, [(browser, share, os)])
MOBILE_BROWSERS = (
    ("chrome", 0.62, "android"),
    ("safari", 0.35, "ios"),
    ("samsung internet", 0.03, "android"),
)
DESKTOP_BROWSERS = (
    ("chrome", 0.58, "windows"),
    ("safari", 0.14, "macos"),
    ("edge", 0.16, "windows"),
    ("firefox", 0.12, "windows"),
)
TABLET_BROWSERS = (("safari", 0.7, "ios"), ("chrome", 0.3, "android"))
DEVICES = (
    ("mobile", 0.60, 1.45, MOBILE_BROWSERS),
    ("desktop", 0.35, 0.75, DESKTOP_BROWSERS),
    ("tablet", 0.05, 1.15, TABLET_BROWSERS),
)
CONNECTIONS = (("4g", 0.82, 1.0), ("3g", 0.12, 1.6), ("unknown", 0.06, 1.1))
NAVIGATIONS = (
    ("navigate", 0.80, 1.0),
    ("reload", 0.07, 0.9),
    ("back-forward", 0.06, 0.8),
    ("back-forward-cache", 0.05, 0.15),
    ("prerender", 0.02, 0.3),
)
COUNTRIES = (("us", 0.4), ("de", 0.2), ("gb", 0.15), ("fr", 0.1), ("in", 0.1), ("br", 0.05))
# Log-normal spread (sigma of the log) per metric: CLS and INP have long tails.
SPREAD = {"LCP": 0.45, "FCP": 0.4, "TTFB": 0.5, "INP": 0.7, "CLS": 0.9}


def hourly_views(moment: datetime, *, per_hour: float) -> float:
    """Expected page views in the hour starting at ``moment``: a daily and weekly rhythm."""
    daily = 1 + 0.6 * math.sin((moment.hour - 14) / 24 * 2 * math.pi + math.pi / 2)
    weekly = 0.8 if moment.weekday() >= 5 else 1.05
    return per_hour * daily * weekly


def _pick(rng: random.Random, options: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    return rng.choices(options, weights=[option[1] for option in options])[0]


def page_views(
    *, start: datetime, end: datetime, per_hour: float, seed: int = 7
) -> Iterator[list[EventRecord]]:
    """The demo's events hour by hour from ``start`` to ``end`` (one list per hour)."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not a secret
    routes = ROUTES
    weights = [route.weight for route in routes]
    regression_from = end - timedelta(days=REGRESSION_DAYS)
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        records: list[EventRecord] = []
        views = _poisson(rng, hourly_views(hour, per_hour=per_hour))
        for _ in range(views):
            moment = hour + timedelta(seconds=rng.uniform(0, 3600))
            if moment >= end:
                continue
            route = rng.choices(routes, weights=weights)[0]
            regressed = route.route == REGRESSED_ROUTE and moment >= regression_from
            records.extend(_one_view(rng, route, moment, regressed=regressed))
        yield records
        hour += timedelta(hours=1)


def _poisson(rng: random.Random, mean: float) -> int:
    # Normal approximation: exact enough for counts of dozens, and fast.
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


def _one_view(
    rng: random.Random, route: DemoRoute, moment: datetime, *, regressed: bool
) -> list[EventRecord]:
    device, _, device_factor, browsers = _pick(rng, DEVICES)
    browser, _, os_name = _pick(rng, browsers)
    connection, _, network_factor = _pick(rng, CONNECTIONS)
    navigation, _, navigation_factor = _pick(rng, NAVIGATIONS)
    country = _pick(rng, COUNTRIES)[0]
    number = rng.randint(100, 4999)
    path = route.path.format(n=number)
    view_id = f"v5-{int(moment.timestamp() * 1000)}-{rng.getrandbits(40):x}"
    load = device_factor * network_factor * navigation_factor

    ttfb = _lognormal(rng, 420 * network_factor * navigation_factor, "TTFB")
    fcp = ttfb + _lognormal(rng, 700 * device_factor * navigation_factor, "FCP")
    lcp = max(fcp, fcp + _lognormal(rng, (route.lcp_ms - 1300) * load, "LCP"))
    if regressed:
        lcp *= 1.55
    inp = _lognormal(rng, route.inp_ms * 0.75 * device_factor * (1.6 if regressed else 1.0), "INP")
    cls = _lognormal(rng, route.cls * (0.8 if device == "mobile" else 0.5), "CLS")

    def record(metric: str, value: float, attribution: dict[str, Any] | None) -> EventRecord:
        rounded = round(value, 4) if metric == "CLS" else round(value, 1)
        return EventRecord(
            site_id=0,
            ts=moment,
            metric=metric,
            value=rounded,
            delta=rounded,
            rating=rate(metric, rounded).value,
            metric_id=f"{view_id}-{metric}",
            navigation_type=navigation,
            page_path=path,
            route=route.route,
            device=device,
            browser=browser,
            os=os_name,
            connection=connection,
            device_memory=rng.choice((2.0, 4.0, 8.0)),
            country=country,
            attribution=attribution,
        )

    target, interaction = rng.choice(route.inp_targets)
    input_delay = inp * rng.uniform(0.1, 0.3)
    presentation = inp * rng.uniform(0.15, 0.3)
    fcp_parts = {"timeToFirstByte": round(ttfb, 1), "firstByteToFCP": round(fcp - ttfb, 1)}
    shift = {
        "largestShiftTarget": route.cls_target,
        "largestShiftValue": round(cls * 0.7, 4),
        "loadState": "complete",
    }
    records = [
        record("TTFB", ttfb, None),
        record("FCP", fcp, fcp_parts),
        record("LCP", lcp, _lcp_attribution(route, number, ttfb, lcp)),
        record("CLS", cls, shift),
    ]
    if rng.random() < 0.72:  # INP needs an interaction; many views have none
        records.append(
            record(
                "INP",
                inp,
                {
                    "interactionTarget": target,
                    "interactionType": interaction,
                    "inputDelay": round(input_delay, 1),
                    "processingDuration": round(inp - input_delay - presentation, 1),
                    "presentationDelay": round(presentation, 1),
                    "loadState": "complete",
                },
            )
        )
    return records


def _lcp_attribution(route: DemoRoute, number: int, ttfb: float, lcp: float) -> dict[str, Any]:
    rest = lcp - ttfb
    attribution: dict[str, Any] = {
        "target": route.lcp_target,
        "timeToFirstByte": round(ttfb, 1),
        "resourceLoadDelay": round(rest * 0.25, 1),
        "resourceLoadDuration": round(rest * (0.5 if route.lcp_url else 0.0), 1),
        "elementRenderDelay": round(rest * (0.25 if route.lcp_url else 0.75), 1),
    }
    if route.lcp_url:
        attribution["url"] = route.lcp_url.format(n=number)
    return attribution


def _lognormal(rng: random.Random, median: float, metric: str) -> float:
    return max(median, 0.001) * math.exp(rng.gauss(0, SPREAD[metric]))
