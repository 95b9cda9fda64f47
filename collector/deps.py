"""FastAPI dependency aliases, declared once so routes read like sentences."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import Forbidden, Unauthenticated
from collector.runtime import Runtime
from collector.security.tokens import secret_equals
from collector.sites import service as sites_service
from collector.sites.schemas import Site


def get_runtime(request: Request) -> Runtime:
    """The runtime the lifespan stored on the app."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_conn(runtime: RuntimeDep) -> AsyncIterator[AsyncConnection]:
    """A database connection for the duration of the request; services commit."""
    async with runtime.engine.connect() as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(get_conn)]


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_admin(request: Request, runtime: RuntimeDep) -> None:
    """Allow only callers presenting the admin token."""
    expected = runtime.settings.admin_token
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("the admin token is required: Authorization: Bearer <token>")
    if expected is None:
        raise Forbidden("admin API disabled: set PERFBEACON_ADMIN_TOKEN to enable it")
    if not secret_equals(token, expected.get_secret_value()):
        raise Forbidden("the token given is not the admin token")


AdminOnly = Annotated[None, Depends(require_admin)]


async def require_site_token(request: Request, conn: Conn) -> Site:
    """The site whose read token the caller presents (the token alone names the site)."""
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("a site read token is required: Authorization: Bearer <token>")
    return await sites_service.find_site_by_read_token(conn=conn, token=token)


SiteFromToken = Annotated[Site, Depends(require_site_token)]


def lhci_build_token(request: Request) -> str | None:
    """The Lighthouse CI build token of an ``x-lhci-build-token`` header, if any."""
    return request.headers.get("x-lhci-build-token") or None


LhciBuildToken = Annotated[str | None, Depends(lhci_build_token)]


def is_admin(request: Request, runtime: RuntimeDep) -> bool:
    """Whether the caller presents the admin token (no error when it does not)."""
    expected = runtime.settings.admin_token
    token = bearer_token(request)
    return bool(
        token and expected is not None and secret_equals(token, expected.get_secret_value())
    )


IsAdmin = Annotated[bool, Depends(is_admin)]


async def require_read_token(key: str, request: Request, runtime: RuntimeDep, conn: Conn) -> Site:
    """The site named by the path's ``key``, for callers with its read token or the admin token."""
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("a read token is required: Authorization: Bearer <site read token>")
    admin = runtime.settings.admin_token
    if admin is not None and secret_equals(token, admin.get_secret_value()):
        return await sites_service.get_site(conn=conn, key=key)
    return await sites_service.get_site_for_reader(conn=conn, key=key, read_token=token)


SiteReader = Annotated[Site, Depends(require_read_token)]
