"""Dependencies of the dashboard's views: the session, the principal, the site shown."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import HTTPConnection

from collector.deps import Conn, engine_of, settings_of
from collector.security.instance_secrets import get_or_create_secret
from collector.sites.schemas import Site
from dashboard import auth
from dashboard.session import SESSION_COOKIE, Principal, SessionCodec

SESSION_SECRET_NAME = "dashboard-session"  # noqa: S105 - the name of a secret, not one


class LoginRequired(Exception):
    """The view needs a logged-in session; the handler sends the browser to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


async def session_codec(connection: HTTPConnection) -> SessionCodec:
    """The session codec, keyed by the configured secret or the installation's stored one."""
    state = connection.app.state
    codec: SessionCodec | None = getattr(state, "dashboard_session_codec", None)
    if codec is None:
        settings = settings_of(connection)
        configured = settings.session_secret
        if configured is not None:
            secret = configured.get_secret_value()
        else:
            async with engine_of(connection).connect() as conn:
                secret = await get_or_create_secret(conn=conn, name=SESSION_SECRET_NAME)
        codec = SessionCodec(secret=secret, max_age_seconds=settings.session_hours * 3600)
        state.dashboard_session_codec = codec
    return codec


Codec = Annotated[SessionCodec, Depends(session_codec)]


async def principal_of(
    connection: HTTPConnection, codec: SessionCodec, conn: AsyncConnection | None = None
) -> Principal | None:
    """The principal of a request's session cookie, if the cookie is genuine and current."""
    principal = codec.decode(connection.cookies.get(SESSION_COOKIE))
    if principal is None:
        return None
    admin_token = settings_of(connection).admin_token
    if conn is not None:
        valid = await auth.still_valid(conn=conn, principal=principal, admin_token=admin_token)
    else:
        async with engine_of(connection).connect() as own:
            valid = await auth.still_valid(conn=own, principal=principal, admin_token=admin_token)
    return principal if valid else None


async def optional_principal(request: Request, codec: Codec, conn: Conn) -> Principal | None:
    """The logged-in principal, or None for a visitor."""
    return await principal_of(request, codec, conn)


async def require_principal(request: Request, codec: Codec, conn: Conn) -> Principal:
    """The logged-in principal; a visitor is sent to the login page and then back here."""
    principal = await principal_of(request, codec, conn)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return principal


MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]
LoggedIn = Annotated[Principal, Depends(require_principal)]


async def visible_site(key: str, principal: LoggedIn, conn: Conn) -> Site:
    """The site named in the path, if the session may see it (a 404 page otherwise)."""
    return await auth.site_for(conn=conn, principal=principal, key=key)


ShownSite = Annotated[Site, Depends(visible_site)]
