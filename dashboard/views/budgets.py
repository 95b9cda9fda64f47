"""The budgets and regressions view of a site."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from dashboard.deps import LoggedIn, ShownSite
from dashboard.rendering import render

router = APIRouter()


@router.get("/sites/{key}/budgets", name="budgets")
async def budgets(request: Request, site: ShownSite, principal: LoggedIn) -> Response:
    """Budget verdicts of CI runs and field regressions; says what will appear when empty."""
    return await render(request, "budgets.html", principal=principal, site=site, active="budgets")
