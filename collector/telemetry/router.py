"""``GET /metrics``: Prometheus text format, or OpenMetrics when the scraper asks for it."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from collector.deps import BearerToken, SettingsDep
from collector.errors import Unauthenticated
from collector.security.tokens import secret_equals
from collector.telemetry.deps import TelemetryDep

router = APIRouter(tags=["telemetry"])


@router.get("/metrics", include_in_schema=False)
async def metrics(
    request: Request, settings: SettingsDep, token: BearerToken, telemetry: TelemetryDep
) -> Response:
    """Every metric of every worker, in the format the ``Accept`` header prefers.

    Open unless ``PERFBEACON_METRICS_TOKEN`` is set: the field gauges name sites and
    routes, which some installations keep to those who may read them.
    """
    required = settings.metrics_token
    if required is not None and not secret_equals(token or "", required.get_secret_value()):
        raise Unauthenticated("a metrics token is required: Authorization: Bearer <token>")
    body, content_type = telemetry.scrape(accept=request.headers.get("accept", ""))
    return Response(content=body, media_type=content_type)
