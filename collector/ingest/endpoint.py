"""``POST /api/vitals`` as a pure ASGI layer, below FastAPI's routing and middleware.

The hot path: it reads the body with a cap while it streams in, hands it to the
ingestor, and answers once the batch holding the beacon has committed. Every other
request passes through to the app unchanged.

>>> app.add_middleware(VitalsEndpoint)   # after GZip/CORS, so it sits outside them
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol
from urllib.parse import parse_qs

import msgspec
import structlog

from collector.config import Settings
from collector.errors import (
    MethodNotAllowed,
    PerfbeaconError,
    TooLarge,
    UnsupportedMediaType,
    retry_after_of,
)
from collector.http_errors import error_body, status_for
from collector.ingest.service import BeaconIngestor, BeaconRequest
from collector.telemetry.service import Telemetry

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

VITALS_PATH = "/api/vitals"
MAX_BODY_BYTES = 64 * 1024
ALLOWED_METHODS = "POST, OPTIONS"
PREFLIGHT_MAX_AGE = "86400"

# sendBeacon(string) sends text/plain; sendBeacon(Blob) may send no type at all.
_ACCEPTED_TYPES = frozenset({b"", b"text/plain", b"application/json"})
_JSON = (b"content-type", b"application/json")
_encode = msgspec.json.Encoder().encode

logger = structlog.get_logger(__name__)


class IngestRuntime(Protocol):
    """What the endpoint reads of the running collector, which the lifespan stores as
    ``app.state.runtime``."""

    settings: Settings
    ingestor: BeaconIngestor
    telemetry: Telemetry


class ClientGone(Exception):
    """The client disconnected before its body arrived."""


class VitalsEndpoint:
    """Answers ``/api/vitals`` itself; passes every other request on to ``app``."""

    def __init__(self, app: ASGIApp, path: str = VITALS_PATH) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        runtime: IngestRuntime = scope["app"].state.runtime
        headers = _Headers(scope["headers"], runtime.settings.country_header)
        cors = _cors_headers(headers.origin)
        try:
            if scope["method"] == "POST":
                await self._post(scope, receive, send, runtime.ingestor, headers, cors)
                runtime.telemetry.metrics.beacon_accepted()
            elif scope["method"] == "OPTIONS":
                await self._preflight(scope, send, runtime.ingestor, headers, cors)
            else:
                raise MethodNotAllowed(f"{scope['method']} is not allowed on {self.path}")
        except ClientGone:
            return
        except PerfbeaconError as error:
            if scope["method"] == "POST":
                runtime.telemetry.metrics.beacon_rejected(reason=error.code)
            if isinstance(error, MethodNotAllowed):
                cors = [*cors, (b"allow", ALLOWED_METHODS.encode())]
            await _respond_error(send, error, cors)
        except Exception as exc:
            # Bad input never lands here (it is a PerfbeaconError); this is a bug.
            # Answer in the error shape rather than let the server send a bare 500.
            logger.exception("vitals_endpoint_failed", error=repr(exc))
            await _respond_error(
                send, PerfbeaconError("internal error; the event was logged"), cors, status=500
            )

    async def _post(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        ingestor: BeaconIngestor,
        headers: _Headers,
        cors: list[tuple[bytes, bytes]],
    ) -> None:
        if headers.media_type not in _ACCEPTED_TYPES:
            sent = headers.content_type[:100].decode("latin-1")
            raise UnsupportedMediaType(
                f"send the beacon as text/plain or application/json, not '{sent}'"
            )
        if headers.content_length is not None and headers.content_length > MAX_BODY_BYTES:
            raise TooLarge(f"the body is over {MAX_BODY_BYTES} bytes")
        body = await _read_body(receive, MAX_BODY_BYTES)
        request = BeaconRequest(
            origin=headers.origin,
            site_key=_site_param(scope["query_string"]),
            user_agent=headers.user_agent,
            country=headers.country,
            referer=headers.referer,
            client_address=scope["client"][0] if scope.get("client") else None,
        )
        result = await ingestor.ingest(body=body, request=request)
        if result.complete:
            await _respond(send, 204, cors, b"")
        else:
            await _respond(send, 200, [*cors, _JSON], _encode(result.partial_body()))

    async def _preflight(
        self,
        scope: Scope,
        send: Send,
        ingestor: BeaconIngestor,
        headers: _Headers,
        cors: list[tuple[bytes, bytes]],
    ) -> None:
        # A page's fetch() with JSON is preflighted; answer only origins a site allows.
        if headers.origin is not None:
            await ingestor.resolve_site(
                key=_site_param(scope["query_string"]), origin=headers.origin
            )
        allow = [
            (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
            (b"access-control-allow-headers", b"Content-Type"),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode()),
        ]
        await _respond(send, 204, [*cors, *allow], b"")


class _Headers:
    """The request headers the endpoint reads, found in one pass."""

    __slots__ = ("content_length", "content_type", "country", "origin", "referer", "user_agent")

    def __init__(self, raw: list[tuple[bytes, bytes]], country_header: str | None) -> None:
        self.content_type = b""
        self.content_length: int | None = None
        self.origin: str | None = None
        self.user_agent: str | None = None
        self.referer: str | None = None
        self.country: str | None = None
        country_name = country_header.lower().encode() if country_header else None
        for name, value in raw:
            if name == b"content-type":
                self.content_type = value
            elif name == b"content-length":
                self.content_length = int(value) if value.isdigit() else None
            elif name == b"origin":
                origin = value.decode("latin-1")
                self.origin = None if origin == "null" else origin
            elif name == b"user-agent":
                self.user_agent = value.decode("latin-1")
            elif name == b"referer":
                self.referer = value.decode("latin-1")
            elif name == country_name:
                self.country = value.decode("latin-1")

    @property
    def media_type(self) -> bytes:
        """The content type without parameters, lower case."""
        return self.content_type.split(b";", 1)[0].strip().lower()


def _cors_headers(origin: str | None) -> list[tuple[bytes, bytes]]:
    if origin is None:
        return []
    # sendBeacon sends credentials; a preflighted one needs the origin echoed and
    # credentials allowed. perfbeacon reads no cookie, so this exposes nothing.
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"Origin"),
    ]


def _site_param(query_string: bytes) -> str | None:
    if not query_string:
        return None
    if query_string.startswith(b"site=") and b"&" not in query_string and b"%" not in query_string:
        # The common case, ?site=KEY, without a general query parser.
        return query_string[5:].decode("latin-1")
    values = parse_qs(query_string.decode("latin-1")).get("site")
    return values[-1] if values else None


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, or TooLarge as soon as it passes ``limit`` bytes."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise TooLarge(f"the body is over {limit} bytes")
        return body
    chunks, size = [body], len(body)
    while True:
        if size > limit:
            raise TooLarge(f"the body is over {limit} bytes")
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            if size > limit:
                raise TooLarge(f"the body is over {limit} bytes")
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    if status != 204:  # a 204 carries no Content-Length
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _respond_error(
    send: Send,
    error: PerfbeaconError,
    headers: list[tuple[bytes, bytes]],
    status: int | None = None,
) -> None:
    body = _encode(error_body(error.code, error.message, error.details))
    code = status if status is not None else status_for(error)
    headers = [*headers, _JSON]
    if (retry_after := retry_after_of(error)) is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await _respond(send, code, headers, body)
