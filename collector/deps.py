"""FastAPI dependency aliases, declared once so routes read like sentences."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import Forbidden, Unauthenticated
from collector.runtime import Runtime
from collector.security.tokens import secret_equals


def get_runtime(request: Request) -> Runtime:
    """The runtime the lifespan stored on the app."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_conn(runtime: RuntimeDep) -> AsyncIterator[AsyncConnection]:
    """A database connection for the duration of the request; services commit."""
    async with runtime.engine.connect() as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(get_conn)]


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_admin(request: Request, runtime: RuntimeDep) -> None:
    """Allow only callers presenting the admin token."""
    expected = runtime.settings.admin_token
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("the admin token is required: Authorization: Bearer <token>")
    if expected is None:
        raise Forbidden("admin API disabled: set PERFBEACON_ADMIN_TOKEN to enable it")
    if not secret_equals(token, expected.get_secret_value()):
        raise Forbidden("the token given is not the admin token")


AdminOnly = Annotated[None, Depends(require_admin)]
