"""``GET /metrics``: Prometheus text format, or OpenMetrics when the scraper asks for it."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from collector.deps import RuntimeDep

router = APIRouter(tags=["telemetry"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    """Every metric of every worker, in the format the ``Accept`` header prefers."""
    body, content_type = runtime.telemetry.scrape(accept=request.headers.get("accept", ""))
    return Response(content=body, media_type=content_type)
