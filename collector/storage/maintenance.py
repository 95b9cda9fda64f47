"""The periodic storage housekeeping every collector runs: partitions ahead, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.storage.metric_ids import expire_claims
from collector.storage.partitions import RetentionResult, apply_retention, ensure_partitions

MAINTENANCE_INTERVAL = timedelta(hours=1)
RETRY_INTERVAL = timedelta(minutes=1)

logger = structlog.get_logger(__name__)


async def maintain_once(
    engine: AsyncEngine, *, retention_days: int, ahead_days: int, now: datetime | None = None
) -> RetentionResult:
    """Create partitions from yesterday to ``ahead_days`` ahead, apply retention, and
    forget metric id claims past the re-report window."""
    now = now or datetime.now(UTC)
    today = now.date()
    async with engine.begin() as conn:
        # Yesterday too: a collector whose clock lags must still find a partition.
        await ensure_partitions(conn, first_day=today - timedelta(days=1), days=ahead_days + 2)
    async with engine.begin() as conn:
        await expire_claims(conn, now=now)
    async with engine.begin() as conn:
        return await apply_retention(conn, retention_days=retention_days, today=today)


async def maintain_and_log(engine: AsyncEngine, *, retention_days: int, ahead_days: int) -> None:
    """``maintain_once``, logging what retention removed."""
    result = await maintain_once(engine, retention_days=retention_days, ahead_days=ahead_days)
    if result.dropped_partitions or result.deleted_rows:
        logger.info(
            "retention_applied",
            dropped_partitions=list(result.dropped_partitions),
            deleted_rows=result.deleted_rows,
        )


async def try_maintain_once(engine: AsyncEngine, *, retention_days: int, ahead_days: int) -> bool:
    """``maintain_and_log``, logging instead of raising; True when the pass succeeded."""
    try:
        await maintain_and_log(engine, retention_days=retention_days, ahead_days=ahead_days)
    except Exception:
        # Partitions are made days ahead, so a missed pass costs nothing yet.
        logger.exception("storage_maintenance_failed")
        return False
    return True
