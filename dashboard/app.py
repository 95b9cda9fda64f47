"""The dashboard as an ASGI app of its own, mounted at ``/dashboard`` by ``create_app``.

It has its own error pages (HTML in the dashboard's style, never JSON or a
traceback) and its own security headers; it shares the collector's state, so its
views use the same runtime, engine and dependencies as the API.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import structlog
from fastapi import FastAPI, Request
from starlette.datastructures import State
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from collector.errors import NotFound
from dashboard.assets import IMMUTABLE, Assets
from dashboard.deps import LoginRequired, principal_of, session_codec
from dashboard.headers import SecurityHeadersMiddleware
from dashboard.rendering import PREFIX, DashboardKit, build_environment, render
from dashboard.views import account, budgets, field, live

STATIC_DIRECTORY = Path(__file__).parent / "static"

logger = structlog.get_logger(__name__)


def create_dashboard(*, state: State) -> FastAPI:
    """Build the dashboard app; ``state`` is the collector's (where the runtime appears)."""
    dashboard = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    dashboard.state = state
    assets = Assets.from_directory(STATIC_DIRECTORY)
    state.dashboard = DashboardKit(env=build_environment(assets), assets=assets)

    @dashboard.get("/static/{name}", include_in_schema=False)
    async def static(name: str, request: Request) -> Response:
        asset = assets.find(name)
        if asset is None:
            raise StarletteHTTPException(404)
        return Response(
            asset.body, media_type=asset.media_type, headers={"Cache-Control": IMMUTABLE}
        )

    dashboard.include_router(account.router)
    dashboard.include_router(field.router)
    dashboard.include_router(budgets.router)
    dashboard.include_router(live.router)
    dashboard.add_exception_handler(LoginRequired, _to_login)
    dashboard.add_exception_handler(NotFound, _not_found)
    dashboard.add_exception_handler(StarletteHTTPException, _http_error)
    dashboard.add_exception_handler(Exception, _unexpected_error)
    dashboard.add_middleware(SecurityHeadersMiddleware)
    return dashboard


async def _to_login(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"{PREFIX}/?{urlencode({'next': exc.next_path})}", status_code=303)


async def _not_found(request: Request, exc: Exception) -> Response:
    message = exc.message if isinstance(exc, NotFound) else "There is no dashboard page here."
    principal = await principal_of(request, await session_codec(request))
    return await render(request, "not_found.html", status=404, principal=principal, message=message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return await _not_found(request, exc)
    return await render(
        request,
        "error.html",
        status=exc.status_code,
        title=f"Error {exc.status_code}",
        message=exc.detail if isinstance(exc.detail, str) else "The request was not accepted.",
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.error("dashboard_error", path=request.url.path, exc_info=exc)
    return await render(
        request,
        "error.html",
        status=500,
        title="Something went wrong",
        message="This page could not be shown; the error was logged. Try again in a moment.",
    )
