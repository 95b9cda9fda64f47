"""``GET /api/v1/sites/{key}/regressions``: the field regressions flagged by the daily check."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from collector.budgets.field import regressions as field_regressions
from collector.deps import Conn
from collector.sites.deps import SiteReader

router = APIRouter(prefix="/api/v1/sites", tags=["budgets"])


@router.get("/{key}/regressions")
async def regressions(
    site: SiteReader,
    conn: Conn,
    days: Annotated[int, Query(ge=1, le=400)] = field_regressions.LIST_DAYS,
) -> dict[str, Any]:
    """Flags of the last ``days`` days, newest day first, worst first."""
    found = await field_regressions.list_regressions(conn=conn, site_id=site.id, days=days)
    return {
        "site": site.key,
        "days": days,
        "regressions": field_regressions.regressions_json(found),
    }
