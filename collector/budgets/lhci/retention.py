"""Retention of Lighthouse data: full LHRs are dropped after ``lhr_retention_days`` (their
summaries, statistics and check reports stay), whole builds after ``retention_days``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.storage.tables import (
    budget_builds,
    budget_checks,
    budget_lhrs,
    budget_runs,
    budget_statistics,
)

PRUNE_INTERVAL = timedelta(hours=1)
logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one pass removed."""

    lhrs: int
    builds: int


async def prune(
    engine: AsyncEngine,
    *,
    lhr_retention_days: int,
    build_retention_days: int,
    now: datetime | None = None,
) -> PruneResult:
    """Delete full LHRs and builds past their retention, in one transaction."""
    now = now or datetime.now(UTC)
    async with engine.begin() as conn:
        lhrs = await conn.execute(
            delete(budget_lhrs).where(
                budget_lhrs.c.created_at < now - timedelta(days=lhr_retention_days)
            )
        )
        old = select(budget_builds.c.id).where(
            budget_builds.c.created_at < now - timedelta(days=build_retention_days)
        )
        # Children first: SQLite only cascades when foreign keys are enforced.
        old_runs = select(budget_runs.c.id).where(budget_runs.c.build_id.in_(old))
        await conn.execute(delete(budget_lhrs).where(budget_lhrs.c.run_id.in_(old_runs)))
        for table in (budget_runs, budget_statistics, budget_checks):
            await conn.execute(delete(table).where(table.c.build_id.in_(old)))
        builds = await conn.execute(delete(budget_builds).where(budget_builds.c.id.in_(old)))
    return PruneResult(lhrs=lhrs.rowcount or 0, builds=builds.rowcount or 0)


async def prune_and_log(
    engine: AsyncEngine, *, lhr_retention_days: int, build_retention_days: int
) -> None:
    """``prune``, logging what it removed (the lifespan runs it every ``PRUNE_INTERVAL``)."""
    result = await prune(
        engine, lhr_retention_days=lhr_retention_days, build_retention_days=build_retention_days
    )
    if result.lhrs or result.builds:
        logger.info("budget_retention_applied", lhrs=result.lhrs, builds=result.builds)
