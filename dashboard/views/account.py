"""Logging in and out, and the list of sites a session may see (``/dashboard/``)."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from collector.deps import Conn, SettingsDep
from collector.errors import Unauthenticated
from collector.query.deps import Watermarks
from dashboard import auth, figures
from dashboard.deps import Codec, MaybePrincipal
from dashboard.rendering import PREFIX, render, set_csrf_cookie, site_url
from dashboard.session import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    SessionCodec,
    new_csrf_nonce,
)

router = APIRouter()

_MAX_FORM_BYTES = 16 * 1024
_EXPIRED_FORM = (
    "This form expired or was sent from another site, so nothing happened. Please try again."
)
_UNREADABLE_FORM = (
    f"This form could not be read (over {_MAX_FORM_BYTES // 1024} KiB, or not a form), "
    "so nothing happened. Please try again."
)


@router.get("/", name="home")
async def home(
    request: Request,
    principal: MaybePrincipal,
    conn: Conn,
    watermarks: Watermarks,
    next: str | None = None,
) -> Response:
    """The login form for a visitor; the list of visible sites for a logged-in session."""
    if principal is None:
        notices = ["You are logged out."] if "logged_out" in request.query_params else []
        return await render(request, "login.html", next=safe_next(next), notices=notices)
    sites = await auth.visible_sites(conn=conn, principal=principal)
    glances = [
        await figures.site_glance(conn=conn, site=site, watermarks=watermarks) for site in sites
    ]
    return await render(
        request, "sites.html", principal=principal, sites=list(zip(sites, glances, strict=True))
    )


@router.post("/login", name="login")
async def login(request: Request, conn: Conn, settings: SettingsDep, codec: Codec) -> Response:
    """Exchange a read token or the admin token for a signed session cookie."""
    form = await read_form(request)
    if form is None:
        return await _login_again(request, None, _UNREADABLE_FORM, status=400)
    next_path = safe_next(form.get("next"))
    if not form_is_genuine(request, codec, form):
        return await _login_again(request, next_path, _EXPIRED_FORM, status=403)
    try:
        principal = await auth.log_in(
            conn=conn, token=form.get("token", ""), admin_token=settings.admin_token
        )
    except Unauthenticated as exc:
        return await _login_again(request, next_path, exc.message, status=401)
    if next_path is None:
        next_path = f"{PREFIX}/" if principal.site_key is None else site_url(principal.site_key)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        codec.encode(principal),
        max_age=codec.max_age_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    # A new session gets a new CSRF nonce, so a token planted before login is useless after.
    set_csrf_cookie(response, request, new_csrf_nonce())
    return response


@router.post("/logout", name="logout")
async def logout(request: Request, codec: Codec) -> Response:
    """End the session (the cookie is removed; the form must carry its CSRF token)."""
    form = await read_form(request)
    if form is None or not form_is_genuine(request, codec, form):
        return await _login_again(request, None, _EXPIRED_FORM, status=403)
    response = RedirectResponse(f"{PREFIX}/?logged_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


async def _login_again(
    request: Request, next_path: str | None, message: str, *, status: int
) -> Response:
    return await render(request, "login.html", status=status, next=next_path, error=message)


async def read_form(request: Request) -> dict[str, str] | None:
    """The fields of a small url-encoded form, or None when the body is too large or odd."""
    if request.headers.get("content-type", "").split(";")[0].strip() not in (
        "application/x-www-form-urlencoded",
        "",
    ):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode(), max_num_fields=10, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[-1] for name, values in fields.items()}


def form_is_genuine(request: Request, codec: SessionCodec, form: dict[str, str]) -> bool:
    """Whether a form came from this origin's own page (signed double-submit CSRF check)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    return codec.csrf_valid(token=form.get(CSRF_FIELD), nonce=request.cookies.get(CSRF_COOKIE))


def safe_next(value: str | None) -> str | None:
    """A dashboard path to return to after login; anything else (another host) is dropped."""
    if not value or not value.startswith(f"{PREFIX}/") or "\\" in value or "//" in value:
        return None
    if any(ord(char) < 0x20 for char in value) or len(value) > 2000:
        return None
    return value
