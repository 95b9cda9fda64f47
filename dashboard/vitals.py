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

    def format(self, value: float | None, extra_digits: int = 0) -> str:
        """``value`` for people: ms under a second, seconds above, CLS with two decimals
        (each with ``extra_digits`` more)."""
        if value is None:
            return "–"
        if self.unit != "ms":
            return f"{value:.{2 + extra_digits}f}"
        if value < 1000:
            return f"{value:.{extra_digits}f} ms"
        return f"{value / 1000:.{2 + extra_digits}f} s"

    def format_change(self, before: float | None, after: float | None) -> str:
        """``before → after``, with as many more digits (two at most) as it takes for a
        flagged change not to read as "0.03 → 0.03"."""
        for extra_digits in range(3):
            shown = self.format(before, extra_digits), self.format(after, extra_digits)
            if shown[0] != shown[1]:
                break
        return f"{shown[0]} → {shown[1]}"


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
