"""The live view (``/dashboard/sites/{key}/live``) and its WebSocket feed (``/ws/live``)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from starlette.responses import Response

from collector.deps import Conn, bearer_token, engine_of, settings_of
from collector.errors import NotFound, Unauthenticated
from collector.query.beacons import recent_beacons
from collector.sites import access
from collector.sites import service as sites_service
from collector.sites.schemas import Site
from dashboard.deps import LoggedIn, ShownSite, principal_of, session_codec
from dashboard.live import LiveFull, LiveHub, Subscription
from dashboard.rendering import render
from dashboard.views.field import beacon_endpoint
from dashboard.vitals import VITALS

router = APIRouter()
socket_router = APIRouter()

RECENT_SHOWN = 30
SEND_TIMEOUT_SECONDS = 5.0
# WebSocket close codes: policy violation (not allowed) and try again later.
CLOSE_FORBIDDEN = 1008
CLOSE_TRY_LATER = 1013
# How often an open feed checks that its credential still grants the site.
RECHECK_SECONDS = 30.0


@router.get("/sites/{key}/live", name="live")
async def live_page(request: Request, site: ShownSite, principal: LoggedIn, conn: Conn) -> Response:
    """Recent beacons as the page loads; new ones stream in over the WebSocket."""
    recent = await recent_beacons(
        conn=conn,
        site_id=site.id,
        metrics=tuple(VITALS),
        since=datetime.now(UTC) - timedelta(days=1),
        limit=RECENT_SHOWN,
    )
    return await render(
        request,
        "live.html",
        principal=principal,
        site=site,
        active="live",
        recent=recent,
        endpoint=beacon_endpoint(request),
    )


@socket_router.websocket("/ws/live")
async def live_feed(websocket: WebSocket, site: str = "") -> None:
    """Stream a site's committed beacons to a logged-in dashboard or a read-token holder."""
    hub: LiveHub = websocket.app.state.live_hub
    watched = await _authorized_site(websocket, site)
    if watched is None:
        await websocket.close(code=CLOSE_FORBIDDEN)
        return
    try:
        with hub.subscribe(site_id=watched.id) as subscription:
            await websocket.accept()
            await websocket.send_json({"type": "hello", "site": watched.key})
            await _stream(websocket, subscription, site)
    except LiveFull as exc:
        await websocket.close(code=CLOSE_TRY_LATER, reason=exc.message[:120])
    except (WebSocketDisconnect, TimeoutError, RuntimeError):
        # The client went away or stalled mid-send; its subscription is already gone.
        return


async def _stream(websocket: WebSocket, subscription: Subscription, site: str) -> None:
    """Send the site's beacons until the client leaves, lags or loses its access.

    The credential is checked again every ``RECHECK_SECONDS``: a feed opened with a read
    token or a session ends soon after that token is rotated or revoked.
    """
    loop = asyncio.get_running_loop()
    listener = asyncio.create_task(_until_disconnect(websocket))
    getter: asyncio.Future[bytes | None] | None = None
    recheck_at = loop.time() + RECHECK_SECONDS
    try:
        while not listener.done():
            if getter is None:
                getter = asyncio.ensure_future(subscription.next_message())
            waited: set[asyncio.Future[Any]] = {getter, listener}
            await asyncio.wait(
                waited,
                timeout=max(0.0, recheck_at - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if getter.done():
                message, getter = getter.result(), None
                if message is None:
                    break
                async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                    await websocket.send_text(message.decode())
            if loop.time() >= recheck_at:
                if await _authorized_site(websocket, site) is None:
                    await websocket.close(code=CLOSE_FORBIDDEN, reason="access revoked")
                    return
                recheck_at = loop.time() + RECHECK_SECONDS
        if subscription.dropped.is_set():
            await websocket.close(code=CLOSE_TRY_LATER, reason="too slow; reconnect")
    finally:
        for task in (listener, getter):
            if task is not None:
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await listener


async def _until_disconnect(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _authorized_site(websocket: WebSocket, key: str) -> Site | None:
    """The site to stream if the caller may read it: a dashboard session or its read token."""
    if not key or not _same_origin(websocket):
        return None
    async with engine_of(websocket).connect() as conn:
        token = bearer_token(websocket)
        if token is not None:
            try:
                return await access.readable_site(
                    conn=conn, key=key, token=token, admin_token=settings_of(websocket).admin_token
                )
            except (NotFound, Unauthenticated):
                return None
        try:
            site = await sites_service.get_site(conn=conn, key=key)
        except NotFound:
            return None
    principal = await principal_of(websocket, await session_codec(websocket))
    return site if principal is not None and principal.may_see(site.key) else None


def _same_origin(websocket: WebSocket) -> bool:
    """Browsers send Origin on WebSocket handshakes; refuse pages of other origins."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    host = websocket.headers.get("host", "")
    return origin.split("://", 1)[-1] == host
