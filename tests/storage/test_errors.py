"""Database errors told apart by SQLSTATE and type, as the real servers raise them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.storage.db import create_engine
from collector.storage.errors import (
    asyncpg_connection,
    is_connection_error,
    is_refused_data,
    is_unreachable,
    is_unstorable_text,
    may_be_missing_partition,
    sqlstate,
)
from collector.storage.events import insert_events
from collector.storage.tables import events
from tests.databases import postgres_engine, sqlite_url
from tests.factories import make_event


@pytest.fixture
async def pg_engine() -> AsyncIterator[AsyncEngine]:
    """Migrated, without any partition of the events table."""
    async with postgres_engine() as engine:
        yield engine


async def _error_of(engine: AsyncEngine, statement: str, **values: object) -> Exception:
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement), values)
    except Exception as exc:
        return exc
    raise AssertionError(f"{statement!r} did not fail")


async def test_a_row_without_its_partition_is_told_by_sqlstate(pg_engine: AsyncEngine) -> None:
    record = make_event(ts=datetime(2026, 3, 1, tzinfo=UTC))
    with pytest.raises(Exception) as inserted:  # noqa: PT011 - the classification is the test
        async with pg_engine.begin() as conn:
            await conn.execute(insert(events), [msgspec.structs.asdict(record)])
    with pytest.raises(Exception) as copied:  # noqa: PT011
        async with pg_engine.begin() as conn:
            await insert_events(conn, [record])  # binary COPY: asyncpg's own error
    for error in (inserted.value, copied.value):
        assert sqlstate(error) == "23514"
        assert may_be_missing_partition(error)
        assert is_refused_data(error)
        assert not is_unreachable(error)


async def test_a_check_constraint_is_not_a_missing_partition(pg_engine: AsyncEngine) -> None:
    async with pg_engine.begin() as conn:
        await conn.execute(text("CREATE TABLE positive (n integer CHECK (n > 0))"))
    error = await _error_of(pg_engine, "INSERT INTO positive VALUES (-1)")
    assert sqlstate(error) == "23514"
    assert not may_be_missing_partition(error)
    assert is_refused_data(error)


async def test_a_nul_in_text_is_unstorable(pg_engine: AsyncEngine) -> None:
    for cast in ("text", "jsonb"):
        value = "a\x00b" if cast == "text" else '{"a": "\\u0000"}'
        error = await _error_of(pg_engine, f"SELECT CAST(:value AS {cast})", value=value)
        assert is_unstorable_text(error), error
        assert is_refused_data(error)
        assert not may_be_missing_partition(error)


async def test_a_server_nobody_runs_is_unreachable() -> None:
    # Nothing listens on port 1: every connection attempt is refused at once.
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        with pytest.raises(Exception) as raised:  # noqa: PT011
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
    assert is_connection_error(raised.value)
    assert is_unreachable(raised.value)
    assert not is_refused_data(raised.value)


async def test_sqlite_errors_are_told_by_type(tmp_path: Path) -> None:
    engine = create_engine(sqlite_url(tmp_path))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE once (n integer PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO once VALUES (1)"))
        error = await _error_of(engine, "INSERT INTO once VALUES (1)")
    finally:
        await engine.dispose()
    assert sqlstate(error) is None
    assert is_refused_data(error)
    assert not may_be_missing_partition(error)
    assert not is_unreachable(error)


def test_other_errors_are_none_of_these() -> None:
    error = ValueError("no partition of relation")
    assert sqlstate(error) is None
    assert not may_be_missing_partition(error)
    assert not is_refused_data(error)
    assert not is_unreachable(error)
    assert not is_unstorable_text(error)


async def test_the_driver_connection_is_asyncpg_on_postgresql_only(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        driver = asyncpg_connection(conn)
        if engine.dialect.name == "postgresql":
            assert driver is not None
            assert not driver.is_closed()
        else:
            assert driver is None
