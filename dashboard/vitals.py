"""The Web Vitals as the dashboard shows them: names, units, official thresholds, formats."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Rating(StrEnum):
    """The official three-way rating of a value; words and icons go with it, not colour alone."""

    GOOD = "good"
    NEEDS_IMPROVEMENT = "needs-improvement"
    POOR = "poor"

    @property
    def label(self) -> str:
        """The rating in words."""
        return {"good": "Good", "needs-improvement": "Needs improvement", "poor": "Poor"}[
            self.value
        ]

    @property
    def icon(self) -> str:
        """A shape that tells the rating apart without colour."""
        return {"good": "●", "needs-improvement": "▲", "poor": "■"}[self.value]


@dataclass(frozen=True, slots=True)
class Vital:
    """One metric: what it measures and where its good and poor thresholds lie."""

    name: str
    label: str
    unit: str
    good: float
    poor: float
    core: bool
    question: str

    def rate(self, value: float) -> Rating:
        """The official rating of ``value`` (thresholds are inclusive upper bounds)."""
        if value <= self.good:
            return Rating.GOOD
        if value <= self.poor:
            return Rating.NEEDS_IMPROVEMENT
        return Rating.POOR

    def format(self, value: float | None) -> str:
        """``value`` for people: ms under a second, seconds above, CLS with two decimals."""
        if value is None:
            return "–"
        if self.unit != "ms":
            return f"{value:.2f}"
        if value < 1000:
            return f"{value:.0f} ms"
        return f"{value / 1000:.2f} s"


VITALS: dict[str, Vital] = {
    vital.name: vital
    for vital in (
        Vital("LCP", "Largest Contentful Paint", "ms", 2500, 4000, True, "Loading"),
        Vital("INP", "Interaction to Next Paint", "ms", 200, 500, True, "Responsiveness"),
        Vital("CLS", "Cumulative Layout Shift", "", 0.1, 0.25, True, "Visual stability"),
        Vital("FCP", "First Contentful Paint", "ms", 1800, 3000, False, "First paint"),
        Vital("TTFB", "Time to First Byte", "ms", 800, 1800, False, "Server response"),
    )
}
CORE_VITALS = tuple(name for name, vital in VITALS.items() if vital.core)
OTHER_VITALS = tuple(name for name, vital in VITALS.items() if not vital.core)
