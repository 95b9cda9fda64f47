"""Admin HTTP API for sites: ``/api/v1/sites`` and their read tokens (admin token)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from collector.deps import Conn
from collector.sites import service
from collector.sites.deps import AdminOnly, SiteCacheDep
from collector.sites.schemas import CreatedSite, RotatedReadToken, Site, SiteCreate, SitePolicy

router = APIRouter(prefix="/api/v1/sites", tags=["sites"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_site(_admin: AdminOnly, body: SiteCreate, conn: Conn) -> CreatedSite:
    """Create a site; the response holds its read token, shown this once."""
    return await service.create_site(conn=conn, name=body.name, origins=body.origins)


@router.get("")
async def list_sites(_admin: AdminOnly, conn: Conn) -> list[Site]:
    """List every site (without secrets)."""
    return await service.list_sites(conn=conn)


@router.patch("/{key}")
async def update_site_policy(
    key: str, body: SitePolicy, _admin: AdminOnly, conn: Conn, site_cache: SiteCacheDep
) -> Site:
    """Set the site's rate limit (null: the default) and the query parameters kept in page URLs."""
    site = await service.update_policy(conn=conn, key=key, policy=body)
    site_cache.clear()  # this process applies it at once
    return site


@router.post("/{key}/read-token")
async def rotate_read_token(key: str, _admin: AdminOnly, conn: Conn) -> RotatedReadToken:
    """Give the site a new read token, shown this once; the old one stops working at once."""
    token = await service.issue_new_read_token(conn=conn, key=key)
    return RotatedReadToken(key=key, read_token=token)


@router.delete("/{key}/read-token", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_read_token(key: str, _admin: AdminOnly, conn: Conn) -> Response:
    """Revoke the site's read token; reading needs a new one (rotate) or an admin token."""
    await service.revoke_read_token(conn=conn, key=key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
