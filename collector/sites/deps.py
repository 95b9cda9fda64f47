"""FastAPI dependency aliases for who the caller is: an admin, or the reader of a site.

Each resolves the bearer token through ``collector.sites.access``, as the dashboard's
login and the live feed do.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from collector.deps import BearerToken, Conn, SettingsDep
from collector.errors import Forbidden, Unauthenticated
from collector.security import admin_tokens
from collector.security.schemas import AdminCredential
from collector.sites import access
from collector.sites.cache import SiteCache
from collector.sites.schemas import Site


async def admin_credential(
    token: BearerToken, settings: SettingsDep, conn: Conn
) -> AdminCredential | None:
    """The admin credential the caller's bearer token is, or None (never an error)."""
    if token is None:
        return None
    return await admin_tokens.find_admin_credential(
        conn=conn, token=token, configured=settings.admin_token
    )


AdminCaller = Annotated[AdminCredential | None, Depends(admin_credential)]


async def is_admin(credential: AdminCaller) -> bool:
    """Whether the caller presents an admin token."""
    return credential is not None


IsAdmin = Annotated[bool, Depends(is_admin)]


async def require_admin(
    token: BearerToken, credential: AdminCaller, settings: SettingsDep, conn: Conn
) -> None:
    """Allow only callers presenting an admin token."""
    if credential is not None:
        return
    if token is None:
        raise Unauthenticated("an admin token is required: Authorization: Bearer <token>")
    # A site's read token is a real credential that does not grant this; anything
    # else is a token of nobody.
    holder = await access.holder_of(conn=conn, token=token, admin_token=settings.admin_token)
    if holder.reader_of is None:
        raise Unauthenticated("the token given is not an admin token")
    raise Forbidden("a site read token does not grant admin access")


AdminOnly = Annotated[None, Depends(require_admin)]


async def require_site_token(token: BearerToken, settings: SettingsDep, conn: Conn) -> Site:
    """The site whose read token the caller presents (the token alone names the site)."""
    if token is None:
        raise Unauthenticated("a site read token is required: Authorization: Bearer <token>")
    holder = await access.holder_of(conn=conn, token=token, admin_token=settings.admin_token)
    if holder.admin is not None:
        raise Forbidden("these routes name their site by its read token; an admin token names none")
    if holder.reader_of is None:
        raise Unauthenticated("the token given is not a read token of any site")
    return holder.reader_of


SiteFromToken = Annotated[Site, Depends(require_site_token)]


async def require_read_token(
    key: str, token: BearerToken, settings: SettingsDep, conn: Conn
) -> Site:
    """The site named by the path's ``key``, for callers with its read token or an admin token."""
    if token is None:
        raise Unauthenticated("a read token is required: Authorization: Bearer <site read token>")
    return await access.readable_site(
        conn=conn, key=key, token=token, admin_token=settings.admin_token
    )


SiteReader = Annotated[Site, Depends(require_read_token)]


async def get_site_cache(request: Request) -> SiteCache:
    """This process's cache of sites, which beacons are matched against."""
    cache: SiteCache = request.app.state.runtime.site_cache
    return cache


SiteCacheDep = Annotated[SiteCache, Depends(get_site_cache)]
