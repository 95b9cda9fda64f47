"""Admin HTTP API for sites: ``POST/GET /api/v1/sites`` (admin token)."""

from __future__ import annotations

from fastapi import APIRouter, status

from collector.deps import AdminOnly, Conn
from collector.sites import service
from collector.sites.schemas import CreatedSite, Site, SiteCreate

router = APIRouter(prefix="/api/v1/sites", tags=["sites"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_site(_admin: AdminOnly, body: SiteCreate, conn: Conn) -> CreatedSite:
    """Create a site; the response holds its read token, shown this once."""
    return await service.create_site(conn=conn, name=body.name, origins=body.origins)


@router.get("")
async def list_sites(_admin: AdminOnly, conn: Conn) -> list[Site]:
    """List every site (without secrets)."""
    return await service.list_sites(conn=conn)
