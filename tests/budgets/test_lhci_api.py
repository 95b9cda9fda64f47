"""The Lighthouse CI server API subset: projects, builds, runs, sealing, statistics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.budgets.lhci import projects
from collector.budgets.lhci.retention import prune
from collector.storage.tables import budget_lhrs, budget_runs, budget_statistics
from tests.budgets.helpers import lhr
from tests.factories import make_site


async def new_project(
    client: httpx.AsyncClient, admin_headers: dict[str, str], **extra: Any
) -> dict[str, Any]:
    body = {"name": "shop frontend", "externalUrl": "https://git.example/shop", **extra}
    response = await client.post("/v1/projects", json=body, headers=admin_headers)
    assert response.status_code == 201, response.text
    project: dict[str, Any] = response.json()
    return project


def build_body(hash: str, branch: str = "master", **extra: Any) -> dict[str, Any]:
    return {
        "lifecycle": "unsealed",
        "hash": hash,
        "branch": branch,
        "runAt": datetime.now(UTC).isoformat(),
        **extra,
    }


async def upload(
    client: httpx.AsyncClient, project: dict[str, Any], hash: str, names: list[str], **extra: Any
) -> dict[str, Any]:
    """What lhci upload does: create build, add runs, seal."""
    headers = {"x-lhci-build-token": project["token"]}
    created = await client.post(
        f"/v1/projects/{project['id']}/builds", json=build_body(hash, **extra), headers=headers
    )
    assert created.status_code == 200, created.text
    built: dict[str, Any] = created.json()
    for name in names:
        run = {
            "projectId": project["id"],
            "buildId": built["id"],
            "representative": False,
            "url": "http://127.0.0.1:8765/index.html",
            "lhr": json.dumps(lhr(name)),
        }
        added = await client.post(
            f"/v1/projects/{project['id']}/builds/{built['id']}/runs", json=run, headers=headers
        )
        assert added.status_code == 200, added.text
    sealed = await client.put(
        f"/v1/projects/{project['id']}/builds/{built['id']}/lifecycle",
        json="sealed",
        headers=headers,
    )
    assert sealed.status_code == 204, sealed.text
    return built


async def test_project_creation_needs_the_admin_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/projects", json={"name": "shop frontend"})
    assert response.status_code == 401


@pytest.mark.citus
async def test_project_linked_to_a_site_is_listed_for_it(
    client: httpx.AsyncClient, admin_headers: dict[str, str], engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    project = await new_project(client, admin_headers, siteKey=site.key, baseBranch="main")
    assert project["siteId"] == site.id
    async with engine.connect() as conn:
        linked = await projects.list_projects(conn=conn, site_id=site.id)
    assert [p.id for p in linked] == [project["id"]]
    unknown = await client.post(
        "/v1/projects", json={"name": "other one", "siteKey": "pk_nope"}, headers=admin_headers
    )
    assert unknown.status_code == 404
    short = await client.post("/v1/projects", json={"name": "abc"}, headers=admin_headers)
    assert short.status_code == 422


@pytest.mark.citus
async def test_lookup_create_build_add_runs_seal_and_read(
    client: httpx.AsyncClient, admin_headers: dict[str, str], engine: AsyncEngine
) -> None:
    project = await new_project(client, admin_headers)
    assert project["slug"] == "shop-frontend"
    assert project["baseBranch"] == "master"
    found = await client.post("/v1/projects/lookup", json={"token": project["token"]})
    assert found.json()["id"] == project["id"]
    assert (await client.post("/v1/projects/lookup", json={"token": "nope"})).status_code == 404

    built = await upload(client, project, "c1", ["v1-index-1", "v1-index-2", "v1-index-3"])
    headers = {"x-lhci-build-token": project["token"]}
    builds = (await client.get(f"/v1/projects/{project['id']}/builds", headers=headers)).json()
    assert [(b["id"], b["lifecycle"]) for b in builds] == [(built["id"], "sealed")]
    runs = (
        await client.get(f"/v1/projects/{project['id']}/builds/{built['id']}/runs", headers=headers)
    ).json()
    assert len(runs) == 3
    assert json.loads(runs[0]["lhr"]) == lhr("v1-index-1")
    representative = [r for r in runs if r["representative"]]
    assert len(representative) == 1
    only = await client.get(
        f"/v1/projects/{project['id']}/builds/{built['id']}/runs?representative=true",
        headers=headers,
    )
    assert [r["id"] for r in only.json()] == [representative[0]["id"]]

    stats = (
        await client.get(
            f"/v1/projects/{project['id']}/builds/{built['id']}/statistics", headers=headers
        )
    ).json()
    by_name = {s["name"]: s["value"] for s in stats}
    tti = sorted(lhr(f"v1-index-{i}")["audits"]["interactive"]["numericValue"] for i in (1, 2, 3))
    assert by_name["audit_interactive_median"] == pytest.approx(tti[1])
    assert by_name["category_performance_median"] == 1
    assert by_name["meta_lighthouse_version"] == 120601
    assert by_name["category_pwa_median"] == -1
    urls = await client.get(f"/v1/projects/{project['id']}/urls", headers=headers)
    assert urls.json() == [{"url": "http://127.0.0.1:8765/index.html"}]
    branches = await client.get(f"/v1/projects/{project['id']}/branches", headers=headers)
    assert branches.json() == [{"branch": "master"}]
    async with engine.connect() as conn:
        blobs = (
            await conn.execute(select(func.sum(func.length(budget_lhrs.c.lhr_gzip))))
        ).scalar_one()
        raw = (await conn.execute(select(func.sum(budget_runs.c.lhr_bytes)))).scalar_one()
    assert blobs * 4 < raw  # stored compressed


@pytest.mark.citus
async def test_duplicate_build_and_sealed_build_rules(
    client: httpx.AsyncClient, admin_headers: dict[str, str], engine: AsyncEngine
) -> None:
    project = await new_project(client, admin_headers)
    headers = {"x-lhci-build-token": project["token"]}
    built = await upload(client, project, "c1", ["v1-index-1"])
    again = await client.post(
        f"/v1/projects/{project['id']}/builds", json=build_body("c1"), headers=headers
    )
    assert again.status_code == 422
    assert "Build already exists" in again.text
    other_branch = await client.post(
        f"/v1/projects/{project['id']}/builds", json=build_body("c1", "feature"), headers=headers
    )
    assert other_branch.status_code == 200

    late = {"url": "http://x.test/", "lhr": json.dumps(lhr("v1-index-1"))}
    refused = await client.post(
        f"/v1/projects/{project['id']}/builds/{built['id']}/runs", json=late, headers=headers
    )
    assert refused.status_code == 422
    empty = other_branch.json()
    unsealable = await client.put(
        f"/v1/projects/{project['id']}/builds/{empty['id']}/lifecycle",
        json="sealed",
        headers=headers,
    )
    assert unsealable.status_code == 422
    assert "at least one run" in unsealable.json()["error"]["message"]
    bogus = await client.put(
        f"/v1/projects/{project['id']}/builds/{empty['id']}/lifecycle", json="open", headers=headers
    )
    assert bogus.status_code == 422


@pytest.mark.parametrize(
    ("lhr_text", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('{"audits": {}}', "'finalUrl'"),
        ("[1]", "must be a JSON object"),
    ],
)
async def test_malformed_lhr_is_refused_and_nothing_stored(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    engine: AsyncEngine,
    lhr_text: str,
    fragment: str,
) -> None:
    project = await new_project(client, admin_headers)
    headers = {"x-lhci-build-token": project["token"]}
    built = (
        await client.post(
            f"/v1/projects/{project['id']}/builds", json=build_body("c9"), headers=headers
        )
    ).json()
    response = await client.post(
        f"/v1/projects/{project['id']}/builds/{built['id']}/runs",
        json={"url": "http://x.test/", "lhr": lhr_text},
        headers=headers,
    )
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(budget_runs))).scalar_one() == 0


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"x-lhci-build-token": "wrong"}, 403)])
async def test_build_token_is_required(
    client: httpx.AsyncClient, admin_headers: dict[str, str], headers: dict[str, str], status: int
) -> None:
    project = await new_project(client, admin_headers)
    write = await client.post(
        f"/v1/projects/{project['id']}/builds", json=build_body("c1"), headers=headers
    )
    assert write.status_code == status
    read = await client.get(f"/v1/projects/{project['id']}/builds", headers=headers)
    assert read.status_code == status
    assert (
        await client.get(f"/v1/projects/{project['id']}/builds", headers=admin_headers)
    ).status_code == 200


@pytest.mark.citus
async def test_ancestor_is_the_ancestor_hash_else_the_nearest_base_build(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    project = await new_project(client, admin_headers)
    headers = {"x-lhci-build-token": project["token"]}
    now = datetime.now(UTC)
    first = await upload(
        client, project, "m1", ["v1-index-1"], runAt=(now - timedelta(hours=3)).isoformat()
    )
    second = await upload(
        client, project, "m2", ["v1-index-1"], runAt=(now - timedelta(hours=2)).isoformat()
    )
    by_hash = await upload(
        client,
        project,
        "f1",
        ["v1-index-1"],
        branch="feature",
        ancestorHash="m1",
        runAt=now.isoformat(),
    )
    by_time = await upload(
        client, project, "f2", ["v1-index-1"], branch="feature", runAt=now.isoformat()
    )

    async def ancestor(build: dict[str, Any]) -> httpx.Response:
        return await client.get(
            f"/v1/projects/{project['id']}/builds/{build['id']}/ancestor", headers=headers
        )

    assert (await ancestor(by_hash)).json()["id"] == first["id"]
    assert (await ancestor(by_time)).json()["id"] == second["id"]
    assert (await ancestor(second)).json()["id"] == first["id"]
    assert (await ancestor(first)).status_code == 404


@pytest.mark.citus
async def test_retention_drops_full_lhrs_but_keeps_summaries(
    client: httpx.AsyncClient, admin_headers: dict[str, str], engine: AsyncEngine
) -> None:
    project = await new_project(client, admin_headers)
    built = await upload(client, project, "c1", ["v1-index-1"])
    later = datetime.now(UTC) + timedelta(days=31)
    result = await prune(engine, lhr_retention_days=30, build_retention_days=90, now=later)
    assert (result.lhrs, result.builds) == (1, 0)
    headers = {"x-lhci-build-token": project["token"]}
    runs = (
        await client.get(f"/v1/projects/{project['id']}/builds/{built['id']}/runs", headers=headers)
    ).json()
    summary = json.loads(runs[0]["lhr"])
    assert (
        summary["audits"]["interactive"]["numericValue"]
        == lhr("v1-index-1")["audits"]["interactive"]["numericValue"]
    )
    result = await prune(
        engine, lhr_retention_days=30, build_retention_days=90, now=later + timedelta(days=60)
    )
    assert result.builds == 1
    async with engine.connect() as conn:
        assert (
            await conn.execute(select(func.count()).select_from(budget_statistics))
        ).scalar_one() == 0


async def test_the_build_diff_link_lhci_prints_leads_to_the_sites_budgets_page(
    client: httpx.AsyncClient, engine: AsyncEngine, admin_headers: dict[str, str]
) -> None:
    site = await make_site(engine)
    linked = await new_project(client, admin_headers, siteKey=site.key, slug="shop-web")
    unlinked = await new_project(client, admin_headers, slug="shop-app")

    followed = await client.get("/app/projects/shop-web/compare/b1")
    assert followed.status_code == 303
    assert followed.headers["location"] == f"/dashboard/sites/{site.key}/budgets"
    alone = await client.get("/app/projects/shop-app/compare/b1")
    assert alone.status_code == 404
    assert f"/v1/projects/{unlinked['id']}/builds" in alone.json()["error"]["message"]
    assert (await client.get("/app/projects/nope/compare/b1")).status_code == 404
    assert linked["slug"] == "shop-web"
