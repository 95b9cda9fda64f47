"""Read and admin tokens: random, stored hashed, rotated and revoked at once, sessions ended."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.errors import Conflict, InvalidInput, NotFound
from collector.security import admin_tokens
from collector.security.tokens import hash_token, new_admin_token, new_read_token
from collector.storage.tables import admin_tokens as admin_tokens_table
from collector.storage.tables import sites
from tests.dashboard.conftest import log_in
from tests.factories import make_site


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_carry_at_least_128_random_bits() -> None:
    tokens = {new_read_token() for _ in range(1000)} | {new_admin_token() for _ in range(1000)}
    assert len(tokens) == 2000
    # token_urlsafe(32): 43 base64url characters, 6 bits each, after a 4-character prefix.
    assert all(len(token) - 4 >= 43 for token in tokens)


async def test_rotating_a_read_token_through_the_api_ends_the_old_one_at_once(
    client: httpx.AsyncClient, admin_headers: dict[str, str], engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    summary = f"/api/v1/sites/{site.key}/summary"
    assert (await client.get(summary, headers=_bearer(site.read_token))).status_code == 200

    rotated = await client.post(f"/api/v1/sites/{site.key}/read-token", headers=admin_headers)

    assert rotated.status_code == 200, rotated.text
    new_token = rotated.json()["read_token"]
    assert rotated.json()["key"] == site.key
    assert new_token.startswith("pbr_")
    assert new_token != site.read_token
    assert (await client.get(summary, headers=_bearer(site.read_token))).status_code == 401
    assert (await client.get(summary, headers=_bearer(new_token))).status_code == 200
    async with engine.connect() as conn:
        stored = (
            await conn.execute(select(sites.c.read_token_hash).where(sites.c.id == site.id))
        ).scalar_one()
    assert stored == hash_token(new_token)


async def test_revoking_a_read_token_ends_it_and_its_dashboard_sessions(
    client: httpx.AsyncClient, admin_headers: dict[str, str], engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    summary = f"/api/v1/sites/{site.key}/summary"
    await log_in(client, site.read_token)
    assert (await client.get(f"/dashboard/sites/{site.key}")).status_code == 200

    revoked = await client.delete(f"/api/v1/sites/{site.key}/read-token", headers=admin_headers)

    assert revoked.status_code == 204
    assert (await client.get(summary, headers=_bearer(site.read_token))).status_code == 401
    assert (await client.get(f"/dashboard/sites/{site.key}")).status_code == 303
    assert (await log_in(client, site.read_token)).status_code == 401
    # The admin still reads the site, and rotating gives it a working token again.
    assert (await client.get(summary, headers=admin_headers)).status_code == 200
    rotated = await client.post(f"/api/v1/sites/{site.key}/read-token", headers=admin_headers)
    fresh = rotated.json()["read_token"]
    assert (await client.get(summary, headers=_bearer(fresh))).status_code == 200


async def test_rotating_or_revoking_an_unknown_site_is_a_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for method in ("POST", "DELETE"):
        response = await client.request(
            method, "/api/v1/sites/pk_nope/read-token", headers=admin_headers
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


async def test_a_site_token_may_not_rotate_tokens(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    url = f"/api/v1/sites/{site.key}/read-token"

    as_viewer = await client.post(url, headers=_bearer(site.read_token))
    as_nobody = await client.delete(url, headers=_bearer("pbr_not-a-token"))

    assert as_viewer.status_code == 403
    assert as_nobody.status_code == 401
    assert (
        await client.get(f"/api/v1/sites/{site.key}/summary", headers=_bearer(site.read_token))
    ).status_code == 200


async def test_a_stored_admin_token_works_until_revoked(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    async with engine.connect() as conn:
        created = await admin_tokens.create_admin_token(conn=conn, name="ops-1")
        stored = (await conn.execute(select(admin_tokens_table.c.token_hash))).scalar_one()
    assert created.token.startswith("pba_")
    assert stored == hash_token(created.token)
    await log_in(client, created.token)
    assert (await client.get(f"/dashboard/sites/{site.key}")).status_code == 200
    assert (await client.get("/api/v1/sites", headers=_bearer(created.token))).status_code == 200

    async with engine.connect() as conn:
        await admin_tokens.revoke_admin_token(conn=conn, name="ops-1")

    assert (await client.get("/api/v1/sites", headers=_bearer(created.token))).status_code == 401
    assert (await client.get(f"/dashboard/sites/{site.key}")).status_code == 303


async def test_rotating_a_stored_admin_token_under_the_same_name_ends_old_sessions(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with engine.connect() as conn:
        first = await admin_tokens.create_admin_token(conn=conn, name="ops")
    await log_in(client, first.token)
    assert "Log out" in (await client.get("/dashboard/")).text

    async with engine.connect() as conn:
        await admin_tokens.revoke_admin_token(conn=conn, name="ops")
        second = await admin_tokens.create_admin_token(conn=conn, name="ops")

    assert "Log in to perfbeacon" in (await client.get("/dashboard/")).text
    assert (await client.get("/api/v1/sites", headers=_bearer(second.token))).status_code == 200


async def test_admin_token_names_and_duplicates_are_checked(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await admin_tokens.create_admin_token(conn=conn, name="ci")
        with pytest.raises(Conflict):
            await admin_tokens.create_admin_token(conn=conn, name="ci")
        with pytest.raises(InvalidInput):
            await admin_tokens.create_admin_token(conn=conn, name="bad name/")
        with pytest.raises(NotFound):
            await admin_tokens.revoke_admin_token(conn=conn, name="nope")
        listed = await admin_tokens.list_admin_tokens(conn=conn)
    assert [token.name for token in listed] == ["ci"]
    assert "token" not in listed[0].model_dump()
