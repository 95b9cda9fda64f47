"""Creating and finding sites. Knows nothing of HTTP."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Row, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import Conflict, NotFound, Unauthenticated
from collector.security.tokens import hash_token, new_read_token, new_site_key
from collector.sites.schemas import (
    CreatedSite,
    Site,
    SitePolicy,
    normalize_origin,
    stored_origin,
    validate_site_name,
)
from collector.storage.db import committed
from collector.storage.tables import sites

# What a revoked read token's hash is replaced with: never 64 hex digits, so no
# token hashes to it, and new each time, so sessions opened before end too.
_REVOKED_PREFIX = "revoked:"


async def create_site(
    *, conn: AsyncConnection, name: str, origins: Sequence[str], now: datetime | None = None
) -> CreatedSite:
    """Create a site with a fresh public key and read token, and commit."""
    name = validate_site_name(name)
    clean_origins = list(dict.fromkeys(normalize_origin(origin) for origin in origins))
    key, read_token = new_site_key(), new_read_token()
    created_at = now or datetime.now(UTC)
    try:
        async with committed(conn):
            result = await conn.execute(
                insert(sites)
                .values(
                    name=name,
                    public_key=key,
                    read_token_hash=hash_token(read_token),
                    origins=clean_origins,
                    created_at=created_at,
                )
                .returning(sites.c.id)
            )
            site_id = result.scalar_one()
    except IntegrityError:
        raise Conflict(f"a site named {name!r} already exists", details={"field": "name"}) from None
    return CreatedSite(
        id=site_id,
        name=name,
        key=key,
        origins=clean_origins,
        created_at=created_at,
        read_token=read_token,
    )


async def list_sites(*, conn: AsyncConnection) -> list[Site]:
    """Every site, oldest first."""
    rows = await conn.execute(select(sites).order_by(sites.c.id))
    return [_to_site(row) for row in rows]


async def get_site(*, conn: AsyncConnection, key: str) -> Site:
    """The site with public key ``key``, or NotFound."""
    row = (await conn.execute(select(sites).where(sites.c.public_key == key))).first()
    if row is None:
        raise NotFound(f"no site with key {key[:80]!r}")
    return _to_site(row)


async def get_site_by_id(*, conn: AsyncConnection, site_id: int) -> Site:
    """The site with id ``site_id``, or NotFound."""
    row = (await conn.execute(select(sites).where(sites.c.id == site_id))).first()
    if row is None:
        raise NotFound(f"no site with id {site_id}")
    return _to_site(row)


async def find_site_by_read_token(*, conn: AsyncConnection, token: str) -> Site:
    """The site whose read token this is, or Unauthenticated."""
    query = select(sites).where(sites.c.read_token_hash == hash_token(token))
    row = (await conn.execute(query)).first()
    if row is None:
        raise Unauthenticated("the token given is not a read token of any site")
    return _to_site(row)


def _to_site(row: Row[tuple[object, ...]]) -> Site:
    return Site(
        id=row.id,
        name=row.name,
        key=row.public_key,
        origins=list(dict.fromkeys(stored_origin(origin) for origin in row.origins)),
        created_at=row.created_at,
        rate_limit_per_minute=row.rate_limit_per_minute,
        kept_query_params=list(row.kept_query_params or ()),
    )


async def find_site_by_key(*, conn: AsyncConnection, key: str) -> Site | None:
    """The site with public key ``key``, or None."""
    row = (await conn.execute(select(sites).where(sites.c.public_key == key))).first()
    return None if row is None else _to_site(row)


async def find_sites_by_origin(*, conn: AsyncConnection, origin: str) -> list[Site]:
    """Every site that lists ``origin`` among its allowed origins."""
    # Origins live in a JSON list; the sites table is small, so filter here
    # rather than write a JSON containment query per dialect.
    rows = await conn.execute(select(sites).order_by(sites.c.id))
    return [site for site in map(_to_site, rows) if origin in site.origins]


# Every read API call asks this first: built once, its values bound.
_SITE_OR_READER = select(sites).where(
    or_(sites.c.public_key == bindparam("key"), sites.c.read_token_hash == bindparam("token_hash"))
)


async def get_site_for_reader(*, conn: AsyncConnection, key: str, read_token: str) -> Site:
    """The site with public key ``key`` when ``read_token`` is its read token.

    A token of another site gets NotFound, exactly like an unknown key, so a reader
    learns nothing about sites it may not read; a token of no site is Unauthenticated.
    """
    token_hash = hash_token(read_token)
    rows = await conn.execute(_SITE_OR_READER, {"key": key, "token_hash": token_hash})
    token_known = False
    for row in rows:
        matches = hmac.compare_digest(row.read_token_hash, token_hash)
        if matches and row.public_key == key:
            return _to_site(row)
        token_known = token_known or matches
    if token_known:
        raise NotFound(f"no site with key {key[:80]!r}")
    raise Unauthenticated("the token given is not a read token of any site")


async def update_policy(*, conn: AsyncConnection, key: str, policy: SitePolicy) -> Site:
    """Change the ingest policy of site ``key`` (only the fields ``policy`` sets) and commit.

    Collectors cache sites for ``PERFBEACON_SITE_CACHE_SECONDS``: the change reaches
    other processes within that time.
    """
    changes = policy.model_dump(exclude_unset=True)
    if "kept_query_params" in changes:
        changes["kept_query_params"] = list(dict.fromkeys(changes["kept_query_params"] or ()))
    if changes:
        async with committed(conn):
            result = await conn.execute(
                update(sites).where(sites.c.public_key == key).values(**changes)
            )
            if result.rowcount == 0:
                raise NotFound(f"no site with key {key[:80]!r}")
    return await get_site(conn=conn, key=key)


async def get_site_and_token_hash(*, conn: AsyncConnection, key: str) -> tuple[Site, str]:
    """The site with public key ``key`` and the hash of its current read token, or NotFound."""
    row = (await conn.execute(select(sites).where(sites.c.public_key == key))).first()
    if row is None:
        raise NotFound(f"no site with key {key[:80]!r}")
    return _to_site(row), row.read_token_hash


async def issue_new_read_token(*, conn: AsyncConnection, key: str) -> str:
    """Replace the read token of site ``key`` (the old one stops working) and commit."""
    token = new_read_token()
    await _replace_token_hash(conn, key, hash_token(token))
    return token


async def revoke_read_token(*, conn: AsyncConnection, key: str) -> None:
    """Make site ``key`` have no working read token (until rotated) and commit."""
    await _replace_token_hash(conn, key, _REVOKED_PREFIX + secrets.token_hex(16))


async def _replace_token_hash(conn: AsyncConnection, key: str, token_hash: str) -> None:
    # Every reader looks the hash up per request, so the old token stops working
    # in every running collector as soon as this commits.
    async with committed(conn):
        result = await conn.execute(
            update(sites).where(sites.c.public_key == key).values(read_token_hash=token_hash)
        )
        if result.rowcount == 0:
            raise NotFound(f"no site with key {key[:80]!r}")
