"""The Web Vitals as the dashboard shows them: labels, questions, formats.

Names, units, thresholds and ratings come from ``collector.vitals``; this module adds
only what a person reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.vitals import CORE_METRICS, CURRENT_METRICS, THRESHOLDS, UNITS, Rating, rate

# The rating in words and as a shape: the dashboard never tells ratings apart by colour alone.
RATING_WORDS: dict[Rating, str] = {
    Rating.GOOD: "Good",
    Rating.NEEDS_IMPROVEMENT: "Needs improvement",
    Rating.POOR: "Poor",
}
RATING_ICONS: dict[Rating, str] = {
    Rating.GOOD: "●",
    Rating.NEEDS_IMPROVEMENT: "▲",
    Rating.POOR: "■",
}


@dataclass(frozen=True, slots=True)
class Vital:
    """One metric: what it measures and where its good and poor thresholds lie."""

    name: str
    label: str
    question: str

    @property
    def unit(self) -> str:
        """``ms``, or empty for the unitless CLS."""
        return UNITS[self.name]

    @property
    def good(self) -> float:
        """The largest good value."""
        return THRESHOLDS[self.name][0]

    @property
    def poor(self) -> float:
        """The largest value that still needs improvement; above it is poor."""
        return THRESHOLDS[self.name][1]

    @property
    def core(self) -> bool:
        """Whether this is one of the three Core Web Vitals."""
        return self.name in CORE_METRICS

    def rate(self, value: float) -> Rating:
        """The official rating of ``value``."""
        return rate(self.name, value)

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


_LABELS: dict[str, tuple[str, str]] = {
    "LCP": ("Largest Contentful Paint", "Loading"),
    "INP": ("Interaction to Next Paint", "Responsiveness"),
    "CLS": ("Cumulative Layout Shift", "Visual stability"),
    "FCP": ("First Contentful Paint", "First paint"),
    "TTFB": ("Time to First Byte", "Server response"),
}
VITALS: dict[str, Vital] = {name: Vital(name, *_LABELS[name]) for name in CURRENT_METRICS}
CORE_VITALS = tuple(name for name, vital in VITALS.items() if vital.core)
OTHER_VITALS = tuple(name for name, vital in VITALS.items() if not vital.core)
