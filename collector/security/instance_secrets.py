"""Secrets generated once per installation and kept in the database.

Every collector process reads the same value, so a cookie signed by one worker is
accepted by all of them and survives restarts, with nothing to configure.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.storage.db import committed
from collector.storage.tables import instance_secrets


async def get_or_create_secret(*, conn: AsyncConnection, name: str) -> str:
    """The secret called ``name``, generated (256 random bits) and stored the first time."""
    found = await _read(conn, name)
    if found is not None:
        return found
    try:
        async with committed(conn):
            await conn.execute(
                insert(instance_secrets).values(
                    name=name, value=secrets.token_urlsafe(32), created_at=datetime.now(UTC)
                )
            )
    except IntegrityError:
        # Another process stored it first; its value is the one everybody uses.
        pass
    stored = await _read(conn, name)
    if stored is None:
        raise RuntimeError(f"instance secret {name!r} vanished right after it was stored")
    return stored


async def _read(conn: AsyncConnection, name: str) -> str | None:
    result = await conn.execute(
        select(instance_secrets.c.value).where(instance_secrets.c.name == name)
    )
    value = result.scalar_one_or_none()
    await conn.commit()
    return value
