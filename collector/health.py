"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from sqlalchemy import text

from collector.deps import RuntimeDep
from collector.errors import Unavailable

router = APIRouter(tags=["health"])

READY_TIMEOUT_SECONDS = 2.0


class NotReady(Unavailable):
    """A dependency the collector needs to accept work is unavailable."""

    code = "not_ready"


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(runtime: RuntimeDep) -> dict[str, object]:
    """The database answers and the event writer keeps up; 503 with the reason otherwise."""
    if runtime.writer.saturated:
        raise NotReady(
            "the event writer is saturated",
            details={"writer": f"{runtime.writer.queued} metrics queued"},
        )
    if not runtime.writer.database_reachable:
        raise NotReady(
            "the event writer cannot reach the database; beacons go to the spool",
            details={"database": "unreachable", "spool_bytes": runtime.writer.spooled_bytes},
        )
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with runtime.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        raise NotReady(f"database unreachable: {reason}", details={"database": reason}) from exc
    return {"status": "ready", "checks": {"database": "ok"}}
