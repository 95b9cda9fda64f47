"""Throw-away databases for tests: a SQLite file, or a PostgreSQL schema or database.

Each test gets its own, so runs never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from collector.storage.db import create_engine
from collector.storage.migrate import upgrade

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def postgres_admin_url() -> str:
    """The PostgreSQL server tests create their schemas and databases on."""
    return os.environ.get("PERFBEACON_TEST_DATABASE_URL", DEFAULT_POSTGRES_URL)


def sqlite_url(directory: Path) -> str:
    """A SQLite database file in ``directory``."""
    return f"sqlite+aiosqlite:///{directory / 'perfbeacon-test.db'}"


def _unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def postgres_schema(server_url: str | None = None) -> AsyncIterator[str]:
    """A fresh schema on the test server (or the database at ``server_url``); yields a URL
    selecting it, drops it after."""
    schema = _unique_name("pbt")
    server_url = server_url or postgres_admin_url()
    admin = create_async_engine(server_url, poolclass=NullPool)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield f"{server_url}?search_path={schema}"
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


@asynccontextmanager
async def postgres_engine(
    revision: str | None = "head",
    *,
    pool_size: int = 10,
    application_name: str = "perfbeacon",
    server_url: str | None = None,
) -> AsyncIterator[AsyncEngine]:
    """perfbeacon's engine on a fresh schema (of the test server, or of the database at
    ``server_url``), migrated to ``revision`` (``None``: left empty); disposed of, and the
    schema dropped, after."""
    async with postgres_schema(server_url) as url:
        engine = create_engine(url, pool_size=pool_size, application_name=application_name)
        try:
            if revision is not None:
                await upgrade(engine, revision)
            yield engine
        finally:
            await engine.dispose()


async def create_postgres_database() -> str:
    """Create a fresh database on the test server; return its URL."""
    name = _unique_name("pbt")
    await _run_autocommit(f'CREATE DATABASE "{name}"')
    return make_url(postgres_admin_url()).set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(url: str) -> None:
    """Drop a database made by ``create_postgres_database``, even with sessions open."""
    name = make_url(url).database
    await _run_autocommit(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _run_autocommit(statement: str, server_url: str | None = None) -> None:
    admin = create_async_engine(
        server_url or postgres_admin_url(), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        async with admin.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await admin.dispose()


@contextmanager
def postgres_database_for_process() -> Iterator[str]:
    """A fresh database for synchronous tests that run perfbeacon as a process."""
    url = asyncio.run(create_postgres_database())
    try:
        yield url
    finally:
        asyncio.run(drop_postgres_database(url))


@contextmanager
def postgres_schema_for_process(server_url: str | None = None) -> Iterator[str]:
    """A fresh schema (of the test server, or of the database at ``server_url``) for
    synchronous tests that run perfbeacon as a process; its URL."""
    schema = _unique_name("pbt")
    server_url = server_url or postgres_admin_url()
    asyncio.run(_run_autocommit(f'CREATE SCHEMA "{schema}"', server_url))
    try:
        yield f"{server_url}?search_path={schema}"
    finally:
        asyncio.run(_run_autocommit(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', server_url))
