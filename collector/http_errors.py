"""One mapping from errors to the JSON error shape ``{"error": {code, message, details}}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from collector.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    PerfbeaconError,
    RateLimited,
    TooLarge,
    Unauthenticated,
    Unavailable,
    Unprocessable,
    UnsupportedMediaType,
    retry_after_of,
)
from collector.storage.errors import is_unstorable_text

STATUS_BY_ERROR: dict[type[PerfbeaconError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    MethodNotAllowed: 405,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedMediaType: 415,
    Unprocessable: 422,
    RateLimited: 429,
    Unavailable: 503,
}

_CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}

_NUL_IN_BODY = "text with a NUL character (\\u0000) cannot be stored"
_NUL_IN_URL = "the URL has a NUL character (%00); no path or parameter may hold one"

logger = structlog.get_logger(__name__)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The JSON body every error response carries."""
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSONResponse in the error shape."""
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def status_for(error: PerfbeaconError) -> int:
    """The HTTP status of a domain error (its nearest mapped base class)."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PerfbeaconError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    if (retry_after := retry_after_of(exc)) is not None:
        headers = {"Retry-After": str(retry_after)}
    return error_response(status_for(exc), exc.code, exc.message, exc.details, headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODE_BY_STATUS.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    path = request.url.path[:200]
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route matches {path}"
    elif exc.status_code == 405 and message == "Method Not Allowed":
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {path}; allowed: {allowed}"
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"location": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
        for error in exc.errors()
    ]
    summary = "; ".join(f"{p['location']}: {p['message']}" for p in problems[:3])
    return error_response(422, "invalid_request", summary or "invalid request", problems)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if is_unstorable_text(exc):
        return error_response(400, "invalid_input", _NUL_IN_BODY)
    return await _unexpected_error(request, exc)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled_error", path=request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error; the event was logged")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the JSON error shape."""
    app.add_exception_handler(PerfbeaconError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)


class RefuseNulInUrl:
    """Answers 400 to a URL with a NUL character, before any route sees it.

    Path and query values become lookups in the database, and PostgreSQL fails on a
    NUL in text; refusing here covers every route, the dashboard and sockets alike.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and (
            "\x00" in scope["path"] or b"%00" in scope["query_string"]
        ):
            if scope["type"] == "websocket":
                # Closing before accepting is how ASGI refuses a handshake (403).
                await send({"type": "websocket.close", "code": 1008})
                return
            await error_response(400, "invalid_input", _NUL_IN_URL)(scope, receive, send)
            return
        await self.app(scope, receive, send)
