"""The admin sites API: creation, listing, and clear 4xx for bad input and bad tokens."""

from __future__ import annotations

import httpx
import pytest

from collector.security.tokens import hash_token
from collector.storage.tables import sites


async def test_create_site_returns_key_and_token_once(
    client: httpx.AsyncClient, admin_headers: dict[str, str], engine: object
) -> None:
    response = await client.post(
        "/api/v1/sites",
        json={"name": "shop", "origins": ["https://Shop.Example/", "https://shop.example:8443"]},
        headers=admin_headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "shop"
    assert body["key"].startswith("pk_")
    assert body["read_token"].startswith("pbr_")
    assert body["origins"] == ["https://shop.example", "https://shop.example:8443"]

    listed = await client.get("/api/v1/sites", headers=admin_headers)
    assert listed.status_code == 200
    assert [site["key"] for site in listed.json()] == [body["key"]]
    assert "read_token" not in listed.json()[0]


async def test_read_token_is_stored_hashed(
    client: httpx.AsyncClient, admin_headers: dict[str, str], engine: object
) -> None:
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import AsyncEngine

    assert isinstance(engine, AsyncEngine)
    body = (await client.post("/api/v1/sites", json={"name": "shop"}, headers=admin_headers)).json()
    async with engine.connect() as conn:
        stored = (await conn.execute(select(sites.c.read_token_hash))).scalar_one()
    assert stored == hash_token(body["read_token"])
    assert body["read_token"] not in stored


async def test_duplicate_site_name_is_a_conflict(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    first = await client.post("/api/v1/sites", json={"name": "shop"}, headers=admin_headers)
    assert first.status_code == 201
    second = await client.post("/api/v1/sites", json={"name": "shop"}, headers=admin_headers)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "conflict"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": "bad/name"}, "bad site name"),
        ({"name": ""}, "bad site name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "shop", "origins": ["ftp://shop.example"]}, "scheme must be http or https"),
        ({"name": "shop", "origins": ["https://shop.example/path"]}, "no path"),
        ({"name": "shop", "origins": ["not a url"]}, "bad origin"),
        ({"name": "shop", "origins": ["https://shop.example:99999"]}, "port"),
        ({"name": "shop", "unknown": 1}, "unknown"),
        ({}, "name"),
    ],
)
async def test_bad_site_input_is_a_clear_4xx(
    client: httpx.AsyncClient, admin_headers: dict[str, str], body: dict[str, object], fragment: str
) -> None:
    response = await client.post("/api/v1/sites", json=body, headers=admin_headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert fragment in error["message"]


async def test_malformed_json_body_is_a_clear_4xx(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/sites",
        content=b"{not json",
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthenticated"),
        ({"Authorization": "Basic abc"}, 401, "unauthenticated"),
        ({"Authorization": "Bearer wrong-token-wrong-token"}, 401, "unauthenticated"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_admin_token_is_required(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, code: str, method: str
) -> None:
    response = await client.request(method, "/api/v1/sites", json={"name": "x"}, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
