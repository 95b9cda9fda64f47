"""Shapes of query answers, shared by the read API and the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["rollups", "raw"]


class _Windowed(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    site: str
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    source: Source


class MetricStats(BaseModel):
    """Count, percentiles and rating shares of one metric (null percentiles when empty)."""

    count: int
    p50: float | None
    p75: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    good: float | None
    needs_improvement: float | None
    poor: float | None


class Summary(_Windowed):
    """Per-metric statistics over a window."""

    metrics: dict[str, MetricStats]


class TimeseriesPoint(BaseModel):
    """One interval of a timeseries."""

    start: datetime
    count: int
    value: float | None


class Timeseries(_Windowed):
    """A percentile of one metric per interval."""

    metric: str
    interval: str
    percentile: float
    points: list[TimeseriesPoint]


class BreakdownRow(MetricStats):
    """The statistics of one value of the breakdown dimension."""

    value: str | None


class Breakdown(_Windowed):
    """The top groups of one dimension."""

    metric: str
    by: str
    order: str
    groups: int
    rows: list[BreakdownRow]


class AttributionRow(BaseModel):
    """One (route, element) pair, how bad the metric is there, and what its reports detail."""

    route: str
    target: str
    count: int
    p75: float
    poor: float
    detail: str | None = None
    parts: dict[str, float] = Field(default_factory=dict)


class Attribution(_Windowed):
    """The worst attributed elements of one metric."""

    metric: str
    rows: list[AttributionRow]


class ScoreCard(BaseModel):
    """A 0-100 performance score from the p75 of each metric, and its parts."""

    score: float | None
    p75: dict[str, float | None]
    components: dict[str, float]


class RouteScore(ScoreCard):
    """The score of one route."""

    route: str
    count: int


class Scores(_Windowed):
    """The site's score and its busiest routes' scores, worst first."""

    site_score: ScoreCard
    routes: list[RouteScore]


class DistributionBin(BaseModel):
    """Observations with ``low <= value < high`` (the last bin also holds larger values)."""

    low: float
    high: float
    count: int


class Distribution(_Windowed):
    """How one metric's values spread, in equal-width bins from 0."""

    metric: str
    count: int
    bins: list[DistributionBin]


class MetricChange(BaseModel):
    """One metric in a window and in the window of the same length just before it."""

    now: MetricStats
    before: MetricStats
    p75_change: float | None = Field(
        description="relative change of p75 (0.1: 10 % higher); null without both p75s"
    )


class Comparison(_Windowed):
    """Each metric now and in the previous window of the same length."""

    previous_start: datetime = Field(serialization_alias="previous_from")
    metrics: dict[str, MetricChange]


class Worsening(BaseModel):
    """A route whose p75 of a metric got clearly worse than in the previous window."""

    route: str
    metric: str
    before: float
    now: float
    count: int
    change: float
