"""The field-data views of a site: overview, pages, and one route."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from starlette.responses import Response

from collector.deps import Conn, RuntimeDep
from collector.errors import NotFound
from collector.storage import raw_reads
from dashboard import fielddata, fieldquery
from dashboard.charts import distribution_bar, histogram, trend_chart
from dashboard.deps import LoggedIn, ShownSite
from dashboard.filters import parse_filters
from dashboard.rendering import render
from dashboard.vitals import CORE_VITALS, VITALS

router = APIRouter()

SORTS = {"views": "Traffic", "LCP": "p75 LCP", "INP": "p75 INP", "CLS": "p75 CLS"}


def _charts(view: fielddata.FieldView, subject: str) -> dict[str, object]:
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


def _bars(view: fielddata.FieldView) -> dict[str, object]:
    return {
        name: distribution_bar(good=s.good, ni=s.needs_improvement, poor=s.poor)
        for name, s in view.summaries.items()
    }


def beacon_endpoint(request: Request) -> str:
    """The URL pages send beacons to on this server, as the browser reached it."""
    return str(request.base_url).rstrip("/") + "/api/vitals"


@router.get("/sites/{key}", name="overview")
async def overview(request: Request, site: ShownSite, principal: LoggedIn, conn: Conn) -> Response:
    """Cards, distribution and trends of every Web Vital for the filtered traffic."""
    parsed = parse_filters(request.query_params)
    view = await fieldquery.field_view(conn=conn, site=site, filters=parsed.filters)
    choices = await fielddata.filter_choices(conn=conn, site_id=site.id, filters=parsed.filters)
    busiest = view.routes[:12]
    slowest = sorted(busiest, key=lambda row: row.p75.get("LCP") or -1.0, reverse=True)[:5]
    return await render(
        request,
        "overview.html",
        slowest=slowest,
        principal=principal,
        site=site,
        active="",
        notices=parsed.notices,
        filters=parsed.filters,
        choices=choices,
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
    sort: str = "views",
) -> Response:
    """Routes ranked by traffic or by p75 of a Core Web Vital, each linking to its view."""
    parsed = parse_filters(request.query_params)
    notices = list(parsed.notices)
    if sort not in SORTS:
        notices.append(f"Ignored sort “{sort[:60]}”: use one of {', '.join(SORTS)}.")
        sort = "views"
    view = await fieldquery.field_view(conn=conn, site=site, filters=parsed.filters)
    choices = await fielddata.filter_choices(conn=conn, site_id=site.id, filters=parsed.filters)
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
        filters=parsed.filters,
        choices=choices,
        view=view,
        routes=routes,
        sort=sort,
        sorts=SORTS,
        core=CORE_VITALS,
        endpoint=beacon_endpoint(request),
    )


@router.get("/sites/{key}/routes/{route:path}", name="route")
async def route_view(
    request: Request,
    site: ShownSite,
    principal: LoggedIn,
    conn: Conn,
    runtime: RuntimeDep,
    route: str,
    metric: str | None = None,
) -> Response:
    """One route: its cards, trends, value histogram and the elements to blame."""
    route = "/" + route
    since = datetime.now(UTC) - timedelta(days=runtime.settings.retention_days)
    known = await raw_reads.has_samples(
        conn, site_id=site.id, since=since, dimensions={"route": route}
    )
    if not known:
        raise NotFound(f"No beacons from route “{route[:200]}” on {site.name}.")
    parsed = parse_filters(request.query_params)
    filters = parsed.filters.without_route()
    scoped = replace(filters, route=route)
    notices = list(parsed.notices)
    if metric is not None and metric not in VITALS:
        notices.append(f"Ignored metric “{metric[:60]}”: use one of {', '.join(VITALS)}.")
        metric = None
    view = await fieldquery.field_view(conn=conn, site=site, filters=scoped)
    culprits = await fielddata.attribution(conn=conn, site_id=site.id, filters=scoped)
    shown_metric = metric or "LCP"
    vital = VITALS[shown_metric]
    return await render(
        request,
        "route.html",
        principal=principal,
        site=site,
        active="pages",
        notices=notices,
        filters=filters,
        choices=await fielddata.filter_choices(conn=conn, site_id=site.id, filters=filters),
        route=route,
        view=view,
        charts=_charts(view, route),
        bars=_bars(view),
        metric=shown_metric,
        histogram=histogram(
            vital=vital,
            bins=fielddata.histogram_bins(
                shown_metric,
                await fielddata.metric_values(
                    conn=conn, site_id=site.id, filters=scoped, metric=shown_metric
                ),
            ),
            title=f"How {vital.name} values of {route} spread",
        ),
        culprits=culprits,
    )
