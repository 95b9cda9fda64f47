"""Templates and the one helper every view renders through.

Autoescaping is on for every template (HTML and the SVG inside it), undefined
names fail loudly, and every page gets the CSRF token of its browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from dashboard.assets import Assets
from dashboard.deps import session_codec
from dashboard.session import CSRF_COOKIE, CSRF_FIELD, Principal, new_csrf_nonce
from dashboard.vitals import CORE_VITALS, RATING_ICONS, RATING_WORDS, VITALS

PREFIX = "/dashboard"


@dataclass(frozen=True, slots=True)
class DashboardKit:
    """What the dashboard builds once: its templates and its static assets."""

    env: Environment
    assets: Assets


def build_environment(assets: Assets) -> Environment:
    """The Jinja environment: autoescaped, strict, with the dashboard's helpers."""
    env = Environment(
        loader=PackageLoader("dashboard", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        asset=lambda name: f"{PREFIX}/static/{assets.url_path(name)}",
        site_url=site_url,
        route_url=route_url,
        vitals=VITALS,
        core_vitals=CORE_VITALS,
        csrf_field=CSRF_FIELD,
    )
    env.filters["percent"] = lambda share: "–" if share is None else f"{share:.0%}"
    env.filters["thousands"] = lambda count: f"{count:,}"
    env.filters["number"] = format_number
    env.filters["rating_words"] = RATING_WORDS.__getitem__
    env.filters["rating_icon"] = RATING_ICONS.__getitem__
    return env


def format_number(value: float | None) -> str:
    """A measured number for people: thousands separators, three significant decimals."""
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def site_url(key: str, view: str = "") -> str:
    """The URL of a site's view (``""`` for the overview, or ``pages``, ``budgets``, ``live``)."""
    base = f"{PREFIX}/sites/{quote(key, safe='')}"
    return f"{base}/{view}" if view else base


def route_url(key: str, route: str) -> str:
    """The URL of a route's view; the route is percent-encoded, its slashes kept."""
    return f"{site_url(key, 'routes')}/{quote(route.lstrip('/'), safe='/:')}"


async def render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    principal: Principal | None = None,
    notices: Sequence[str] = (),
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` with the page's common context; sets the CSRF cookie if missing."""
    kit: DashboardKit = request.app.state.dashboard
    codec = await session_codec(request)
    nonce = request.cookies.get(CSRF_COOKIE)
    fresh_nonce = None
    if not nonce:
        nonce = fresh_nonce = new_csrf_nonce()
    html = kit.env.get_template(template).render(
        request=request,
        principal=principal,
        notices=list(notices),
        csrf_token=codec.csrf_token(nonce),
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    if fresh_nonce is not None:
        set_csrf_cookie(response, request, fresh_nonce)
    return response


def set_csrf_cookie(response: Response, request: Request, nonce: str) -> None:
    """Give the browser its CSRF nonce (only this origin's dashboard forms can echo it)."""
    response.set_cookie(
        CSRF_COOKIE,
        nonce,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
