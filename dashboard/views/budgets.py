"""The budgets and regressions view: CI budget checks, their regressions, and the field's."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from starlette.responses import Response

from collector.budgets.field import regressions as field_regressions
from collector.budgets.lab import service as budgets_service
from collector.budgets.lab.lab_vs_field import latest_lab_versus_field
from collector.budgets.lhci import projects as budget_projects
from collector.deps import Conn
from dashboard.deps import LoggedIn, ShownSite
from dashboard.rendering import render

router = APIRouter()

CHECKS_SHOWN = 20


@router.get("/sites/{key}/budgets", name="budgets")
async def budgets(request: Request, site: ShownSite, principal: LoggedIn, conn: Conn) -> Response:
    """Budget verdicts of CI builds with what failed and regressed; field regressions too."""
    checks = await budgets_service.list_checks(conn=conn, site_id=site.id, limit=CHECKS_SHOWN)
    projects = await budget_projects.list_projects(conn=conn, site_id=site.id)
    config = await budgets_service.get_site_config(conn=conn, site_id=site.id)
    flags = await field_regressions.list_regressions(conn=conn, site_id=site.id)
    lab_field = await latest_lab_versus_field(
        conn=conn, site=site, config=config, now=datetime.now(UTC)
    )
    return await render(
        request,
        "budgets.html",
        principal=principal,
        site=site,
        active="budgets",
        checks=checks,
        projects=projects,
        lab_field=lab_field,
        flags=flags,
        flag_window_days=field_regressions.WINDOW_DAYS,
        base_url=str(request.base_url).rstrip("/"),
    )
