"""Budget checks over HTTP: ``/api/v1/budgets/...`` with a site's read token. Thin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from collector.budgets.lab import service
from collector.budgets.lab.config import build_config
from collector.budgets.lab.schemas import CheckReport, CheckRequest, ConfigRequest
from collector.deps import Conn
from collector.sites.deps import SiteFromToken
from collector.telemetry.deps import TelemetryDep

router = APIRouter(prefix="/api/v1/budgets", tags=["budgets"])


@router.post("/check")
async def check(
    body: CheckRequest, site: SiteFromToken, conn: Conn, telemetry: TelemetryDep
) -> CheckReport:
    """Evaluate a build's LHRs and/or bundle files, store it, answer the verdict."""
    report = await service.check(
        conn=conn,
        site=site,
        context=body.build,
        lhrs=body.lhrs,
        documents={
            "assert": body.assert_options,
            "lighthouserc": body.lighthouserc,
            "budgets": body.budgets,
            "bundle_budgets": body.bundle_budgets,
            "field_budgets": body.field_budgets,
        },
        bundle_stats=body.bundle_stats,
    )
    telemetry.metrics.budget_checked(verdict=report.verdict)
    return report


@router.put("/config")
async def put_config(body: ConfigRequest, site: SiteFromToken, conn: Conn) -> dict[str, object]:
    """Store the site's budget configuration, used by checks that send none."""
    config = build_config(
        assert_options=body.assert_options,
        lighthouserc=body.lighthouserc,
        budgets=body.budgets,
        bundle_budgets=body.bundle_budgets,
        field_budgets=body.field_budgets,
    )
    await service.set_site_config(conn=conn, site_id=site.id, config=config)
    return config.to_json()


@router.get("/config")
async def get_config(site: SiteFromToken, conn: Conn) -> dict[str, object]:
    """The site's stored budget configuration (404 when none)."""
    return (await service.require_site_config(conn=conn, site_id=site.id)).to_json()


@router.get("/checks")
async def list_checks(
    site: SiteFromToken,
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=500)] = service.DEFAULT_CHECK_LIST_LIMIT,
) -> list[CheckReport]:
    """The site's budget checks, newest first."""
    return await service.list_checks(conn=conn, site_id=site.id, limit=limit)


@router.get("/checks/{build_id}")
async def get_check(build_id: str, site: SiteFromToken, conn: Conn) -> CheckReport:
    """One stored check of the site."""
    return await service.get_check(conn=conn, site_id=site.id, build_id=build_id)
