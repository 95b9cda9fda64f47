"""FastAPI dependency aliases, declared once so routes read like sentences.

Every dependency is a coroutine, however trivial: FastAPI runs a plain function in its
thread pool, a hand-off to another thread and back on every request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import Forbidden, NotFound, Unauthenticated
from collector.runtime import Runtime
from collector.security import admin_tokens
from collector.security.schemas import AdminCredential
from collector.sites import service as sites_service
from collector.sites.schemas import Site


async def get_runtime(request: Request) -> Runtime:
    """The runtime the lifespan stored on the app."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


_READ_METHODS = frozenset({"GET", "HEAD"})


async def get_conn(request: Request, runtime: RuntimeDep) -> AsyncIterator[AsyncConnection]:
    """A database connection for the duration of the request; services commit.

    GET and HEAD change nothing, so their statements run without a transaction: that
    saves the ``BEGIN`` and ``ROLLBACK`` round trips around every read.
    """
    async with runtime.engine.connect() as conn:
        if request.method in _READ_METHODS:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


Conn = Annotated[AsyncConnection, Depends(get_conn)]


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def admin_credential(
    request: Request, runtime: RuntimeDep, conn: Conn
) -> AdminCredential | None:
    """The admin credential the caller's bearer token is, or None (never an error)."""
    token = bearer_token(request)
    if token is None:
        return None
    return await admin_tokens.find_admin_credential(
        conn=conn, token=token, configured=runtime.settings.admin_token
    )


AdminCaller = Annotated[AdminCredential | None, Depends(admin_credential)]


async def is_admin(credential: AdminCaller) -> bool:
    """Whether the caller presents an admin token."""
    return credential is not None


IsAdmin = Annotated[bool, Depends(is_admin)]


async def require_admin(request: Request, credential: AdminCaller, conn: Conn) -> None:
    """Allow only callers presenting an admin token."""
    if credential is not None:
        return
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("an admin token is required: Authorization: Bearer <token>")
    # A site's read token is a real credential that does not grant this; anything
    # else is a token of nobody.
    try:
        await sites_service.find_site_by_read_token(conn=conn, token=token)
    except Unauthenticated:
        raise Unauthenticated("the token given is not an admin token") from None
    raise Forbidden("a site read token does not grant admin access")


AdminOnly = Annotated[None, Depends(require_admin)]


async def require_site_token(request: Request, admin: IsAdmin, conn: Conn) -> Site:
    """The site whose read token the caller presents (the token alone names the site)."""
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("a site read token is required: Authorization: Bearer <token>")
    if admin:
        raise Forbidden("these routes name their site by its read token; an admin token names none")
    return await sites_service.find_site_by_read_token(conn=conn, token=token)


SiteFromToken = Annotated[Site, Depends(require_site_token)]


async def lhci_build_token(request: Request) -> str | None:
    """The Lighthouse CI build token of an ``x-lhci-build-token`` header, if any."""
    return request.headers.get("x-lhci-build-token") or None


LhciBuildToken = Annotated[str | None, Depends(lhci_build_token)]


async def require_read_token(key: str, request: Request, runtime: RuntimeDep, conn: Conn) -> Site:
    """The site named by the path's ``key``, for callers with its read token or an admin token."""
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("a read token is required: Authorization: Bearer <site read token>")
    try:
        return await sites_service.get_site_for_reader(conn=conn, key=key, read_token=token)
    except (NotFound, Unauthenticated):
        # Read tokens are the common case, so they cost the one lookup; an admin token,
        # which reads any site, is looked for only when the token is no reader's.
        if await admin_credential(request, runtime, conn) is None:
            raise
    return await sites_service.get_site(conn=conn, key=key)


SiteReader = Annotated[Site, Depends(require_read_token)]
