"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import text

from collector.deps import EngineDep
from collector.errors import Unavailable
from collector.ingest.writer import EventWriter

router = APIRouter(tags=["health"])

READY_TIMEOUT_SECONDS = 2.0


class NotReady(Unavailable):
    """A dependency the collector needs to accept work is unavailable."""

    code = "not_ready"


async def get_writer(request: Request) -> EventWriter:
    """This process's event writer."""
    writer: EventWriter = request.app.state.runtime.writer
    return writer


WriterDep = Annotated[EventWriter, Depends(get_writer)]


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(writer: WriterDep, engine: EngineDep) -> dict[str, object]:
    """The database answers and the event writer keeps up; 503 with the reason otherwise."""
    if writer.saturated:
        raise NotReady(
            "the event writer is saturated",
            details={"writer": f"{writer.queued} metrics queued"},
        )
    if not writer.database_reachable:
        raise NotReady(
            "the event writer cannot reach the database; beacons go to the spool",
            details={"database": "unreachable", "spool_bytes": writer.spooled_bytes},
        )
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        raise NotReady(f"database unreachable: {reason}", details={"database": reason}) from exc
    return {"status": "ready", "checks": {"database": "ok"}}
