"""The field-data views of a site: overview, pages, and one route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from fastapi import APIRouter, Request
from starlette.responses import Response

from collector.deps import Conn, SettingsDep
from collector.errors import InvalidInput, NotFound
from collector.query.beacons import route_seen
from collector.query.deps import Watermarks
from collector.query.schemas import AttributionRow
from dashboard import figures
from dashboard.charts import Bin, distribution_bar, histogram, trend_chart
from dashboard.deps import LoggedIn, ShownSite
from dashboard.filters import WINDOW_LABELS, WINDOWS, Filters, parse_filters
from dashboard.rendering import render
from dashboard.vitals import CORE_VITALS, VITALS

router = APIRouter()

SORTS = {"views": "Traffic", "LCP": "p75 LCP", "INP": "p75 INP", "CLS": "p75 CLS"}
# Filters no rollup level keeps together are read from raw rows, for a week at most.
RAW_WINDOW = "7d"

_Built = TypeVar("_Built")


def _charts(view: figures.FieldView, subject: str) -> dict[str, object]:
    return {
        name: trend_chart(
            vital=VITALS[name],
            series=view.trends[name],
            start=view.start,
            end=view.end,
            title=f"p75 {name} of {subject}",
        )
        for name in VITALS
    }


def _bars(view: figures.FieldView) -> dict[str, object]:
    return {
        name: distribution_bar(good=s.good, ni=s.needs_improvement, poor=s.poor)
        for name, s in view.summaries.items()
    }


def beacon_endpoint(request: Request) -> str:
    """The URL pages send beacons to on this server, as the browser reached it."""
    return str(request.base_url).rstrip("/") + "/api/vitals"


async def _within_raw_limits(
    build: Callable[[Filters], Awaitable[_Built]], filters: Filters, notices: list[str]
) -> tuple[_Built, Filters]:
    """``build(filters)``; for filters only raw rows answer, over a week at most, with a notice."""
    try:
        return await build(filters), filters
    except InvalidInput:
        if filters.span <= WINDOWS[RAW_WINDOW]:
            raise
    shorter = replace(filters, window=RAW_WINDOW)
    notices.append(
        f"These filters together are read from raw beacons, for up to 7 days: showing the "
        f"{WINDOW_LABELS[RAW_WINDOW].lower()} instead of the {filters.window_label.lower()}."
    )
    return await build(shorter), shorter


@router.get("/sites/{key}", name="overview")
async def overview(
    request: Request, site: ShownSite, principal: LoggedIn, conn: Conn, watermarks: Watermarks
) -> Response:
    """Cards, distribution and trends of every Web Vital for the filtered traffic."""
    parsed = parse_filters(request.query_params)
    notices = list(parsed.notices)

    async def build(filters: Filters) -> figures.FieldView:
        return await figures.field_view(
            conn=conn, site=site, filters=filters, watermarks=watermarks
        )

    view, filters = await _within_raw_limits(build, parsed.filters, notices)
    busiest = view.routes[:12]
    slowest = sorted(busiest, key=lambda row: row.p75.get("LCP") or -1.0, reverse=True)[:5]
    return await render(
        request,
        "overview.html",
        slowest=slowest,
        principal=principal,
        site=site,
        active="",
        notices=notices,
        filters=filters,
        choices=await figures.filter_choices(
            conn=conn, site=site, window=view.window, watermarks=watermarks
        ),
        view=view,
        charts=_charts(view, site.name),
        bars=_bars(view),
        endpoint=beacon_endpoint(request),
    )


@router.get("/sites/{key}/pages", name="pages")
async def pages(
    request: Request,
    site: ShownSite,
    principal: LoggedIn,
    conn: Conn,
    watermarks: Watermarks,
    sort: str = "views",
) -> Response:
    """Routes ranked by traffic or by p75 of a Core Web Vital, each linking to its view."""
    parsed = parse_filters(request.query_params)
    notices = list(parsed.notices)
    if sort not in SORTS:
        notices.append(f"Ignored sort “{sort[:60]}”: use one of {', '.join(SORTS)}.")
        sort = "views"

    async def build(filters: Filters) -> figures.FieldView:
        window = figures.view_window(filters)
        dims = figures.dimensions_of(filters)
        return figures.FieldView(
            window=window,
            summaries=await figures.cards(
                conn=conn, site=site, window=window, dims=dims, watermarks=watermarks
            ),
            routes=await figures.table(
                conn=conn, site=site, window=window, dims=dims, by="route", watermarks=watermarks
            ),
        )

    view, filters = await _within_raw_limits(build, parsed.filters, notices)
    routes = view.routes
    if sort != "views":
        routes = sorted(routes, key=lambda row: row.p75.get(sort) or -1.0, reverse=True)
    return await render(
        request,
        "pages.html",
        principal=principal,
        site=site,
        active="pages",
        notices=notices,
        filters=filters,
        choices=await figures.filter_choices(
            conn=conn, site=site, window=view.window, watermarks=watermarks
        ),
        view=view,
        routes=routes,
        sort=sort,
        sorts=SORTS,
        core=CORE_VITALS,
        endpoint=beacon_endpoint(request),
    )


@dataclass(frozen=True, slots=True)
class RouteDetails:
    """What the route view shows beyond the overview's figures."""

    culprits: dict[str, list[AttributionRow]]
    bins: list[Bin]


@router.get("/sites/{key}/routes/{route:path}", name="route")
async def route_view(
    request: Request,
    site: ShownSite,
    principal: LoggedIn,
    conn: Conn,
    settings: SettingsDep,
    watermarks: Watermarks,
    route: str,
    metric: str | None = None,
) -> Response:
    """One route: its cards, trends, value histogram and the elements to blame."""
    route = "/" + route
    now = datetime.now(UTC)
    since = now - timedelta(days=settings.retention_days)
    if not await route_seen(
        conn=conn, site=site, route=route, since=since, until=now, watermarks=watermarks
    ):
        raise NotFound(f"No beacons from route “{route[:200]}” on {site.name}.")
    parsed = parse_filters(request.query_params)
    notices = list(parsed.notices)
    if metric is not None and metric not in VITALS:
        notices.append(f"Ignored metric “{metric[:60]}”: use one of {', '.join(VITALS)}.")
        metric = None
    shown_metric = metric or "LCP"

    async def build(filters: Filters) -> tuple[figures.FieldView, RouteDetails]:
        view = await figures.field_view(
            conn=conn, site=site, filters=filters, watermarks=watermarks
        )
        dims = figures.dimensions_of(filters)
        details = RouteDetails(
            culprits=await figures.culprits(conn=conn, site=site, window=view.window, dims=dims),
            bins=await figures.histogram_bins(
                conn=conn,
                site=site,
                window=view.window,
                dims=dims,
                metric=shown_metric,
                watermarks=watermarks,
            ),
        )
        return view, details

    scoped = replace(parsed.filters.without_route(), route=route)
    (view, details), scoped = await _within_raw_limits(build, scoped, notices)
    filters = scoped.without_route()
    vital = VITALS[shown_metric]
    return await render(
        request,
        "route.html",
        principal=principal,
        site=site,
        active="pages",
        notices=notices,
        filters=filters,
        choices=await figures.filter_choices(
            conn=conn, site=site, window=view.window, watermarks=watermarks
        ),
        route=route,
        view=view,
        charts=_charts(view, route),
        bars=_bars(view),
        metric=shown_metric,
        histogram=histogram(
            vital=vital, bins=details.bins, title=f"How {vital.name} values of {route} spread"
        ),
        culprits=details.culprits,
        part_labels=figures.PART_LABELS,
        attribution_clipped=figures.attribution_window(view.window) != view.window,
    )
