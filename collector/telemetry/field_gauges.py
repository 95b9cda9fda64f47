"""Field data as Prometheus gauges: p75 per site × metric × device (and per listed route),
and the field regressions of each site's latest daily check.

The values are computed elsewhere on a timer and handed whole to ``replace``, never per
scrape: a scrape only reads the last snapshot. They are not written to
prometheus-client's multiprocess files at all: every process computes the same values
from the shared database, and the process answering a scrape exports its own snapshot,
so each series appears once, never summed across workers (which ``livesum`` would do)
nor left behind by a dead worker (which ``max`` would do).

>>> snapshot = FieldSnapshot()
>>> registry.register(FieldCollector(snapshot))
>>> snapshot.replace(device_p75={("shop", "LCP", "mobile"): 2100.0}, route_p75={}, regressions={})
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

Labels = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FieldValues:
    """One refresh's values, by label tuple."""

    device_p75: dict[Labels, float] = field(default_factory=dict)
    route_p75: dict[Labels, float] = field(default_factory=dict)
    regressions: dict[Labels, float] = field(default_factory=dict)


class FieldSnapshot:
    """The latest values; replaced whole by each refresh, read by scrapes."""

    def __init__(self) -> None:
        self.values = FieldValues()

    def replace(
        self,
        *,
        device_p75: dict[Labels, float],
        route_p75: dict[Labels, float],
        regressions: dict[Labels, float],
    ) -> None:
        """Swap in one refresh's values, all at once."""
        self.values = FieldValues(
            device_p75=device_p75, route_p75=route_p75, regressions=regressions
        )


class FieldCollector(Collector):
    """Exposes a snapshot's values as gauges at scrape time."""

    def __init__(self, snapshot: FieldSnapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """The three gauge families of the latest snapshot."""
        values = self._snapshot.values
        yield _family(
            "perfbeacon_field_p75",
            "p75 of a Web Vital from real users over the last window (ms; CLS unitless).",
            ["site", "metric", "device"],
            values.device_p75,
        )
        yield _family(
            "perfbeacon_field_route_p75",
            "p75 of a Web Vital on a route the site lists, over the window's whole UTC days.",
            ["site", "metric", "route"],
            values.route_p75,
        )
        yield _family(
            "perfbeacon_field_regression",
            "Relative p75 worsening flagged by the latest daily field check (route * = site).",
            ["site", "metric", "route"],
            values.regressions,
        )


def _family(
    name: str, documentation: str, labels: list[str], values: dict[Labels, float]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for label_values, value in sorted(values.items()):
        family.add_metric(list(label_values), value)
    return family
