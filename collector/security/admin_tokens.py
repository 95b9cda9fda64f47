"""Admin tokens: the ``PERFBEACON_ADMIN_TOKEN`` setting and named tokens stored hashed.

Stored tokens can be created and revoked while collectors run (every request reads
the table), so an admin token is rotated by creating a new one and revoking the old.
Knows nothing of HTTP.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import SecretStr
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import Conflict, InvalidInput, NotFound
from collector.security.schemas import AdminCredential, AdminToken, CreatedAdminToken
from collector.security.tokens import (
    credential_fingerprint,
    hash_token,
    new_admin_token,
    secret_equals,
)
from collector.storage.db import committed
from collector.storage.tables import admin_tokens

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def validate_token_name(name: str) -> str:
    """An admin token name: 1–100 letters, digits, dots, dashes or underscores."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"bad admin token name {name[:120]!r}: use 1-100 letters, digits, '.', '-' or '_', "
            "starting with a letter or digit",
            details={"field": "name"},
        )
    return name


async def create_admin_token(
    *, conn: AsyncConnection, name: str, now: datetime | None = None
) -> CreatedAdminToken:
    """Store a new admin token called ``name`` (hashed) and commit; the secret is returned once."""
    name = validate_token_name(name)
    token = new_admin_token()
    created_at = now or datetime.now(UTC)
    try:
        async with committed(conn):
            await conn.execute(
                insert(admin_tokens).values(
                    name=name, token_hash=hash_token(token), created_at=created_at
                )
            )
    except IntegrityError:
        raise Conflict(
            f"an admin token named {name!r} already exists; revoke it first",
            details={"field": "name"},
        ) from None
    return CreatedAdminToken(name=name, created_at=created_at, token=token)


async def list_admin_tokens(*, conn: AsyncConnection) -> list[AdminToken]:
    """Every stored admin token (names and dates, never secrets), oldest first."""
    rows = await conn.execute(
        select(admin_tokens.c.name, admin_tokens.c.created_at).order_by(
            admin_tokens.c.created_at, admin_tokens.c.name
        )
    )
    return [AdminToken(name=row.name, created_at=row.created_at) for row in rows]


async def revoke_admin_token(*, conn: AsyncConnection, name: str) -> None:
    """Delete the admin token ``name`` and commit: it, and sessions opened with it, stop working."""
    async with committed(conn):
        result = await conn.execute(delete(admin_tokens).where(admin_tokens.c.name == name))
        if result.rowcount == 0:
            raise NotFound(f"no admin token named {name[:100]!r}")


async def find_admin_credential(
    *, conn: AsyncConnection, token: str, configured: SecretStr | None
) -> AdminCredential | None:
    """The admin credential ``token`` is, or None when it is no admin token."""
    if configured is not None and secret_equals(token, configured.get_secret_value()):
        return AdminCredential(name=None, token_hash=hash_token(token))
    # The lookup is by hash (an index probe): equal hashes mean equal tokens, and
    # timing reveals nothing about a secret that is 256 random bits.
    token_hash = hash_token(token)
    row = (
        await conn.execute(
            select(admin_tokens.c.name).where(admin_tokens.c.token_hash == token_hash)
        )
    ).first()
    return None if row is None else AdminCredential(name=row.name, token_hash=token_hash)


async def admin_credential_is_current(
    *, conn: AsyncConnection, name: str | None, fingerprint: str, configured: SecretStr | None
) -> bool:
    """Whether the admin credential a session names still exists with the same secret."""
    if name is None:
        if configured is None:
            return False
        current = credential_fingerprint(hash_token(configured.get_secret_value()))
        return secret_equals(current, fingerprint)
    row = (
        await conn.execute(select(admin_tokens.c.token_hash).where(admin_tokens.c.name == name))
    ).first()
    return row is not None and secret_equals(credential_fingerprint(row.token_hash), fingerprint)
