"""A NUL character anywhere a client controls is a 4xx, never a 500.

PostgreSQL refuses NUL in text and jsonb, so every value that reaches a lookup or an
insert could fail deep in the database. Every GET operation of the API is tried with
NUL in each path and query parameter, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.factories import make_site

NUL = "%00"


def get_operations(app: FastAPI) -> list[tuple[str, list[str]]]:
    """Each GET path of the OpenAPI schema with the names of its query parameters."""
    operations = []
    for path, methods in app.openapi()["paths"].items():
        if "get" in methods:
            parameters: list[dict[str, Any]] = methods["get"].get("parameters", [])
            query = [p["name"] for p in parameters if p["in"] == "query"]
            operations.append((path, query))
    return operations


def requests_with_nul(path: str, query: list[str], site_key: str) -> list[str]:
    """``path`` with NUL in each path parameter in turn, then in each query parameter."""
    names = re.findall(r"{(\w+)}", path)

    def filled(nul_in: str | None) -> str:
        url = path
        for name in names:
            value = f"a{NUL}b" if name == nul_in else (site_key if name == "key" else "x1")
            url = url.replace(f"{{{name}}}", value)
        return url

    urls = [filled(name) for name in names]
    urls += [f"{filled(None)}?{name}={NUL}" for name in query]
    return urls


def assert_refused_in_json(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.request.url, response.text)
    assert "error" in response.json(), response.text


async def test_every_get_operation_refuses_nul_in_its_path_and_query(
    app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine, admin_headers: dict[str, str]
) -> None:
    site = await make_site(engine)
    tried = 0
    for path, query in get_operations(app):
        for url in requests_with_nul(path, query, site.key):
            for headers in (admin_headers, {"Authorization": f"Bearer {site.read_token}"}):
                assert_refused_in_json(await client.get(url, headers=headers))
                tried += 1
    assert tried > 100  # the schema was read: dozens of operations and parameters


@pytest.mark.parametrize(
    "url",
    [
        "/dashboard/sites/{key}/routes/{nul}",
        "/dashboard/sites/{key}?route={nul}",
        "/api/vitals?site=pk{nul}",
    ],
)
async def test_the_dashboard_and_the_beacon_endpoint_refuse_nul_in_the_url(
    client: httpx.AsyncClient, engine: AsyncEngine, url: str
) -> None:
    site = await make_site(engine)
    response = await client.post(url.format(key=site.key, nul=NUL), content=b"[]")
    if url.startswith("/dashboard"):
        response = await client.get(url.format(key=site.key, nul=NUL))
    assert_refused_in_json(response)


async def test_a_beacon_naming_its_site_with_nul_is_refused(client: httpx.AsyncClient) -> None:
    # The beacon endpoint sits above the URL guard and reads its site key itself.
    metric = {"name": "LCP", "value": 1200, "id": "v5-nul-1", "delta": 1200}
    response = await client.post(
        "/api/vitals",
        content=json.dumps({"site": "pk\u0000x", "metrics": [metric]}),
        headers={"Content-Type": "text/plain"},
    )
    assert_refused_in_json(response)


async def test_a_nul_character_in_a_stored_body_is_a_400_where_it_cannot_be_stored(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    headers = {"Authorization": f"Bearer {site.read_token}"}
    config = {"assert": {"assertions": {"a\u0000b": ["error", {"maxNumericValue": 1}]}}}
    response = await client.put("/api/v1/budgets/config", json=config, headers=headers)
    stored = await client.get("/api/v1/budgets/config", headers=headers)
    if engine.dialect.name == "postgresql":
        assert_refused_in_json(response)
        assert response.json()["error"]["message"].startswith("text with a NUL character")
        assert stored.status_code == 404, stored.text  # nothing was stored
    else:  # SQLite stores the character: the name comes back as sent
        assert response.status_code == 200, response.text
        assert stored.json()["assert"] == config["assert"]


async def test_the_live_feed_refuses_nul_in_its_handshake(served: str, engine: AsyncEngine) -> None:
    site = await make_site(engine)
    headers = {"Authorization": f"Bearer {site.read_token}"}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://{served}/ws/live?site=pk{NUL}x", additional_headers=headers):
            pass
    assert refused.value.response.status_code == 403
