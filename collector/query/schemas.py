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
    """One (route, element) pair and how bad the metric is where it is attributed."""

    route: str
    target: str
    count: int
    p75: float
    poor: float


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
