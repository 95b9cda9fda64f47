"""Every route × every kind of caller → the expected status, on the real app.

The route list comes from the app itself, so a new route without an expectation
fails ``test_every_route_has_an_expectation``.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import BaseRoute, Mount, WebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from collector.app import EXACT_ROUTES, create_app
from collector.config import Settings
from collector.security.tokens import hash_token
from collector.storage.tables import sites
from tests.budgets.helpers import FAST_ASSERTIONS, lhr, runs
from tests.budgets.test_lhci_api import upload
from tests.conftest import ADMIN_TOKEN
from tests.dashboard.conftest import csrf_token_of, log_in
from tests.factories import make_site, sample, store_events
from tests.security.auth_matrix import (
    CASES,
    FORGED_SESSION,
    Case,
    Surface,
    Who,
    World,
    route_of,
)

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def app_routes(routes: list[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    """(method, path) of every route of the app, mounted apps included."""
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, Mount):
            found |= app_routes(route.routes, prefix + route.path)
        elif isinstance(route, WebSocketRoute) or type(route).__name__ == "APIWebSocketRoute":
            found.add(("WEBSOCKET", prefix + (context.path or "")))
        else:
            for method in context.methods or ():
                if method != "HEAD":
                    found.add((method, prefix + (context.path or "")))
    return found


def case_routes() -> set[tuple[str, str]]:
    return {(case.method, route_of(case.path)) for case in CASES}


def test_every_route_has_an_expectation() -> None:
    app = create_app(Settings(_env_file=None, database_url="sqlite+aiosqlite:///unused.db"))  # type: ignore[call-arg]
    routes = app_routes(app.routes)

    assert len(routes) > 40
    assert routes - case_routes() == set(), "routes without an expected status per caller"
    # Cases for routes that no longer exist are stale; /api/vitals sits below the router.
    served_below = {("POST", path) for path in EXACT_ROUTES}
    assert case_routes() - routes - served_below == set()


async def _world(app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine) -> World:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    site = await make_site(engine, name="matrix-a")
    other_site = await make_site(engine, name="matrix-b")
    await store_events(engine, [sample(site.id, "LCP", 1800.0, route="/")])
    projects = []
    for target in (site, other_site):
        created = await client.post(
            "/v1/projects",
            json={"name": f"project {target.name}", "siteKey": target.key, "baseBranch": "master"},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        projects.append(created.json())
    project, other_project = projects
    await upload(client, project, "a1", ["v1-index-1"])
    sealed = await upload(client, project, "a2", ["v1-index-1"])
    build_token = {"x-lhci-build-token": project["token"]}
    unsealed = []
    for hash in ("r1", "s1"):
        made = await client.post(
            f"/v1/projects/{project['id']}/builds",
            json={"lifecycle": "unsealed", "hash": hash, "branch": "feature"},
            headers=build_token,
        )
        assert made.status_code == 200, made.text
        unsealed.append(made.json()["id"])
    # Only a build with runs can be sealed.
    added = await client.post(
        f"/v1/projects/{project['id']}/builds/{unsealed[1]}/runs",
        json={"url": "http://127.0.0.1:8765/index.html", "lhr": json.dumps(lhr("v1-index-1"))},
        headers=build_token,
    )
    assert added.status_code == 200, added.text
    check = await client.post(
        "/api/v1/budgets/check",
        json={
            "build": {"hash": "k1", "branch": "main"},
            "lhrs": runs("v1-index"),
            "assert": FAST_ASSERTIONS,
        },
        headers={"Authorization": f"Bearer {site.read_token}"},
    )
    assert check.status_code == 200, check.text
    return World(
        site=site,
        other_site=other_site,
        project=project,
        other_project=other_project,
        sealed_build_id=sealed["id"],
        runs_build_id=unsealed[0],
        seal_build_id=unsealed[1],
        check_build_id=check.json()["build"]["id"],
        asset=app.state.dashboard.assets.url_path("app.css"),
    )


async def _restore_read_token(engine: AsyncEngine, world: World) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(sites)
            .where(sites.c.id == world.site.id)
            .values(read_token_hash=hash_token(world.site.read_token))
        )


async def _call_api(client: httpx.AsyncClient, world: World, case: Case, who: Who) -> int:
    body = case.body(world, who) if case.body is not None else None
    response = await client.request(
        case.method,
        case.url(world),
        headers=world.headers(case.surface, who),
        json=body,
    )
    assert response.status_code < 500, (case.path, who, response.text)
    return response.status_code


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine) -> World:
    return await _world(app, client, engine)


def _mismatch_report(mismatches: list[tuple[str, str, Who, int, int]]) -> str:
    return "\n".join(
        f"{method} {path} as {who}: expected {expected}, got {got}"
        for method, path, who, expected, got in mismatches
    )


async def test_api_routes_answer_each_caller_as_expected(
    client: httpx.AsyncClient, engine: AsyncEngine, world: World
) -> None:
    mismatches = []
    for case in CASES:
        if case.surface not in (Surface.API, Surface.LHCI):
            continue
        for who in Who:
            got = await _call_api(client, world, case, who)
            if case.restores_token:
                await _restore_read_token(engine, world)
            if got != case.expected_for(who):
                mismatches.append((case.method, case.path, who, case.expected_for(who), got))
    assert not mismatches, _mismatch_report(mismatches)


async def _dashboard_client(app: FastAPI, world: World, who: Who) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://perfbeacon.test"
    )
    await _become(client, world, who)
    return client


async def _become(client: httpx.AsyncClient, world: World, who: Who) -> None:
    client.cookies.clear()
    if who in (Who.OTHER, Who.VIEWER, Who.ADMIN):
        logged_in = await log_in(client, world.login_token(who))
        assert logged_in.status_code == 303, logged_in.text
        return
    await client.get("/dashboard/")
    if who is Who.WRONG:
        client.cookies.set("perfbeacon_session", FORGED_SESSION)


async def _call_dashboard(client: httpx.AsyncClient, world: World, case: Case, who: Who) -> int:
    if case.form is None:
        response = await client.request(case.method, case.url(world))
    else:
        page = await client.get("/dashboard/")
        form = {**case.form(world, who), "csrf_token": csrf_token_of(page.text)}
        response = await client.post(case.url(world), data=form)
        # Logging in or out changes the client's session: put the caller back.
        await _become(client, world, who)
    assert response.status_code < 500, (case.path, who, response.text[:500])
    return response.status_code


@SQLITE_ONLY
async def test_dashboard_routes_answer_each_caller_as_expected(app: FastAPI, world: World) -> None:
    mismatches = []
    clients = {who: await _dashboard_client(app, world, who) for who in Who}
    try:
        for case in CASES:
            if case.surface is not Surface.DASHBOARD:
                continue
            for who, client in clients.items():
                got = await _call_dashboard(client, world, case, who)
                if got != case.expected_for(who):
                    mismatches.append((case.method, case.path, who, case.expected_for(who), got))
    finally:
        for client in clients.values():
            await client.aclose()
    assert not mismatches, _mismatch_report(mismatches)


async def _handshake(url: str, headers: dict[str, str]) -> int:
    try:
        async with connect(url, additional_headers=headers) as socket:
            await asyncio.wait_for(socket.recv(), 5)
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


@SQLITE_ONLY
async def test_the_live_feed_answers_each_caller_as_expected(served: str, world: World) -> None:
    (case,) = [case for case in CASES if case.surface is Surface.WEBSOCKET]
    mismatches = []
    for who in Who:
        got = await _handshake(f"ws://{served}{case.url(world)}", world.headers(Surface.API, who))
        if got != case.expected_for(who):
            mismatches.append((case.method, case.path, who, case.expected_for(who), got))
    assert not mismatches, _mismatch_report(mismatches)
