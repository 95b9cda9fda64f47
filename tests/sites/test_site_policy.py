"""A site's ingest policy: its own rate limit and the query parameters its page URLs keep."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.sites.schemas import CreatedSite
from collector.storage.tables import events
from tests.factories import make_site
from tests.ingest.conftest import post_beacon
from tests.processes import perfbeacon_env, run_perfbeacon

PAGE = "https://shop.example/landing/42?utm_source=news&token=secret&utm_medium=mail#top"


@pytest.fixture
async def site(engine: AsyncEngine) -> CreatedSite:
    return await make_site(engine)


def beacon(number: int, page: str = "https://shop.example/") -> list[dict[str, object]]:
    return [{"name": "LCP", "value": 1200, "id": f"v5-1-{number}", "page": page}]


async def stored_pages(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(events.c.page_path, events.c.route))
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_a_site_keeps_only_the_query_parameters_it_names(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    site: CreatedSite,
    engine: AsyncEngine,
) -> None:
    changed = await client.patch(
        f"/api/v1/sites/{site.key}",
        json={"kept_query_params": ["utm_source", "utm_medium", "utm_source"]},
        headers=admin_headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["kept_query_params"] == ["utm_source", "utm_medium"]

    assert (await post_beacon(client, beacon(1, PAGE), key=site.key)).status_code == 204

    # The route groups the path alone; the token never reaches the database.
    assert await stored_pages(engine) == [
        ("/landing/42?utm_source=news&utm_medium=mail", "/landing/:id")
    ]


async def test_without_kept_parameters_page_urls_lose_their_query(
    client: httpx.AsyncClient, site: CreatedSite, engine: AsyncEngine
) -> None:
    assert (await post_beacon(client, beacon(1, PAGE), key=site.key)).status_code == 204
    assert await stored_pages(engine) == [("/landing/42", "/landing/:id")]


async def test_a_site_rate_limit_overrides_the_default_and_null_restores_it(
    client: httpx.AsyncClient, admin_headers: dict[str, str], site: CreatedSite
) -> None:
    url = f"/api/v1/sites/{site.key}"
    changed = await client.patch(url, json={"rate_limit_per_minute": 2}, headers=admin_headers)
    assert changed.json()["rate_limit_per_minute"] == 2

    answers = [(await post_beacon(client, beacon(n), key=site.key)).status_code for n in range(3)]
    assert answers == [204, 204, 429]

    restored = await client.patch(url, json={"rate_limit_per_minute": None}, headers=admin_headers)
    assert restored.json()["rate_limit_per_minute"] is None
    # The default (6000 a minute) applies again.
    assert (await post_beacon(client, beacon(9), key=site.key)).status_code == 204


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"rate_limit_per_minute": -1}, 422),
        ({"kept_query_params": ["bad param"]}, 422),
        ({"kept_query_params": [f"p{n}" for n in range(21)]}, 422),
        ({"origins": ["https://other.example"]}, 422),
    ],
)
async def test_bad_policies_are_refused_and_change_nothing(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    site: CreatedSite,
    body: dict[str, object],
    status: int,
) -> None:
    refused = await client.patch(f"/api/v1/sites/{site.key}", json=body, headers=admin_headers)
    assert refused.status_code == status
    assert "error" in refused.json()
    listed = (await client.get("/api/v1/sites", headers=admin_headers)).json()
    assert listed[0]["rate_limit_per_minute"] is None
    assert listed[0]["kept_query_params"] == []


async def test_an_unknown_site_is_not_found(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    answer = await client.patch(
        "/api/v1/sites/pk_nope", json={"rate_limit_per_minute": 5}, headers=admin_headers
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_the_cli_updates_a_site_policy(database_url: str, tmp_path: Path) -> None:
    env = perfbeacon_env(database_url)
    created = json.loads(
        run_perfbeacon("site", "create", "shop", env=env, cwd=tmp_path, timeout=120).stdout
    )

    updated = run_perfbeacon(
        "site", "update", created["key"], "--rate-limit", "30", "--keep-param", "utm_source",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    site = json.loads(updated.stdout)
    assert (site["rate_limit_per_minute"], site["kept_query_params"]) == (30, ["utm_source"])

    reset = run_perfbeacon(
        "site", "update", created["key"], "--default-rate-limit", "--strip-all-params",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert reset.returncode == 0, reset.stderr
    assert json.loads(reset.stdout)["kept_query_params"] == []

    for args, message in (
        (["--rate-limit", "5", "--default-rate-limit"], "not both"),
        ([], "nothing to change"),
        (["--keep-param", "bad param"], "bad site policy"),
    ):
        refused = run_perfbeacon("site", "update", created["key"], *args, env=env, cwd=tmp_path)
        assert refused.returncode == 2
        assert message in refused.stderr
    unknown = run_perfbeacon(
        "site", "update", "pk_nope", "--rate-limit", "5", env=env, cwd=tmp_path
    )
    assert unknown.returncode != 0
    assert "pk_nope" in unknown.stderr
