"""FastAPI dependency aliases every router may use, declared once so routes read like
sentences: the settings, a database connection, the caller's bearer token.

They reach the lifespan's objects through ``app.state.runtime`` without importing the
runtime, so any package's router can use them and the packages stay free of cycles.
Every dependency is a coroutine, however trivial: FastAPI runs a plain function in its
thread pool, a hand-off to another thread and back on every request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import HTTPConnection

from collector.config import Settings


def settings_of(connection: HTTPConnection) -> Settings:
    """The settings the running app was built with (for requests and WebSockets)."""
    settings: Settings = connection.app.state.runtime.settings
    return settings


def engine_of(connection: HTTPConnection) -> AsyncEngine:
    """The running app's database engine (for requests and WebSockets)."""
    engine: AsyncEngine = connection.app.state.runtime.engine
    return engine


async def get_settings(request: Request) -> Settings:
    """The settings the running app was built with."""
    return settings_of(request)


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_engine(request: Request) -> AsyncEngine:
    """The running app's database engine, for work that outlives one connection."""
    return engine_of(request)


EngineDep = Annotated[AsyncEngine, Depends(get_engine)]


_READ_METHODS = frozenset({"GET", "HEAD"})


async def get_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    """A database connection for the duration of the request; services commit.

    GET and HEAD change nothing, so their statements run without a transaction: that
    saves the ``BEGIN`` and ``ROLLBACK`` round trips around every read.
    """
    async with engine_of(request).connect() as conn:
        if request.method in _READ_METHODS:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


Conn = Annotated[AsyncConnection, Depends(get_conn)]


def bearer_token(connection: HTTPConnection) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, if any."""
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def get_bearer_token(request: Request) -> str | None:
    """The caller's bearer token, if any."""
    return bearer_token(request)


BearerToken = Annotated[str | None, Depends(get_bearer_token)]


async def lhci_build_token(request: Request) -> str | None:
    """The Lighthouse CI build token of an ``x-lhci-build-token`` header, if any."""
    return request.headers.get("x-lhci-build-token") or None


LhciBuildToken = Annotated[str | None, Depends(lhci_build_token)]
