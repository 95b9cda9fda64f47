"""The FastAPI dependency alias for the running app's telemetry."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from collector.telemetry.service import Telemetry


async def get_telemetry(request: Request) -> Telemetry:
    """The running app's telemetry: its metrics, tracing and logs."""
    telemetry: Telemetry = request.app.state.runtime.telemetry
    return telemetry


TelemetryDep = Annotated[Telemetry, Depends(get_telemetry)]
