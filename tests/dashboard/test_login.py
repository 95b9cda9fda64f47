"""Logging in with a read token or the admin token, out again, and what a wrong token gets."""

from __future__ import annotations

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.security.tokens import hash_token, new_read_token
from collector.storage.tables import sites
from tests.conftest import ADMIN_TOKEN
from tests.dashboard.conftest import csrf_token_of, log_in
from tests.factories import make_site


async def test_read_token_opens_a_session_for_its_site_only(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    mine = await make_site(engine, name="mine")
    other = await make_site(engine, name="other")

    response = await log_in(client, mine.read_token)

    assert response.status_code == 303
    assert response.headers["location"] == f"/dashboard/sites/{mine.key}"
    cookie = response.headers["set-cookie"].lower()
    assert "perfbeacon_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    listing = await client.get("/dashboard/")
    assert "mine" in listing.text
    assert other.key not in listing.text
    assert (await client.get(f"/dashboard/sites/{other.key}")).status_code == 404


async def test_admin_token_sees_every_site(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    first = await make_site(engine, name="first")
    second = await make_site(engine, name="second")

    response = await log_in(client, ADMIN_TOKEN)

    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/"
    listing = await client.get("/dashboard/")
    assert first.key in listing.text
    assert second.key in listing.text
    assert "Admin" in listing.text


async def test_wrong_token_shows_the_login_page_with_a_clear_message(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await make_site(engine)

    response = await log_in(client, "pbr_not-a-real-token")

    assert response.status_code == 401
    assert "text/html" in response.headers["content-type"]
    assert "neither a site read token nor the admin token" in response.text
    assert 'role="alert"' in response.text
    assert "Traceback" not in response.text
    assert "perfbeacon_session" not in response.headers.get("set-cookie", "")


async def test_login_without_the_csrf_token_is_refused(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    await client.get("/dashboard/")

    forged = await client.post("/dashboard/login", data={"token": site.read_token})
    tampered = await client.post(
        "/dashboard/login", data={"token": site.read_token, "csrf_token": "x.y"}
    )

    for response in (forged, tampered):
        assert response.status_code == 403
        assert "expired or was sent from another site" in response.text
        assert "perfbeacon_session" not in response.headers.get("set-cookie", "")


async def test_a_form_too_large_to_read_is_a_400_that_says_so(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    page = await client.get("/dashboard/")
    form = {"token": site.read_token, "csrf_token": csrf_token_of(page.text)}

    response = await client.post("/dashboard/login", data={**form, "padding": "x" * 100_000})

    assert response.status_code == 400
    assert "could not be read (over 16 KiB, or not a form)" in response.text
    assert "perfbeacon_session" not in response.headers.get("set-cookie", "")
    assert (await client.post("/dashboard/login", data=form)).status_code == 303


async def test_a_cross_site_form_post_is_refused_even_with_a_token(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    page = await client.get("/dashboard/")

    response = await client.post(
        "/dashboard/login",
        data={"token": site.read_token, "csrf_token": csrf_token_of(page.text)},
        headers={"Sec-Fetch-Site": "cross-site"},
    )

    assert response.status_code == 403


async def test_logout_ends_the_session(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    site = await make_site(engine)
    await log_in(client, site.read_token)
    overview = await client.get("/dashboard/")

    response = await client.post(
        "/dashboard/logout", data={"csrf_token": csrf_token_of(overview.text)}
    )

    assert response.status_code == 303
    assert (await client.get(f"/dashboard/sites/{site.key}")).status_code == 303
    assert "You are logged out" in (await client.get(response.headers["location"])).text


async def test_logout_needs_the_csrf_token(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    site = await make_site(engine)
    await log_in(client, site.read_token)

    response = await client.post("/dashboard/logout", data={})

    assert response.status_code == 403
    still_in = await client.get("/dashboard/")
    assert "Log out" in still_in.text


async def test_rotating_the_read_token_ends_sessions_opened_with_the_old_one(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    await log_in(client, site.read_token)
    assert (await client.get("/dashboard/")).text.count("Log out") == 1

    async with engine.begin() as conn:
        await conn.execute(
            update(sites)
            .where(sites.c.public_key == site.key)
            .values(read_token_hash=hash_token(new_read_token()))
        )

    assert "Log in to perfbeacon" in (await client.get("/dashboard/")).text


async def test_a_forged_session_cookie_is_ignored(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    client.cookies.set("perfbeacon_session", '{"r": "admin", "s": null, "f": "x"}')

    response = await client.get(f"/dashboard/sites/{site.key}")

    assert response.status_code == 303
    assert response.headers["location"].startswith("/dashboard/?next=")


async def test_login_returns_to_the_page_asked_for_but_never_to_another_host(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    wanted = f"/dashboard/sites/{site.key}?window=24h"

    back = await log_in(client, site.read_token, next_path=wanted)
    client.cookies.clear()
    elsewhere = await log_in(client, site.read_token, next_path="//evil.example/dashboard/")

    assert back.headers["location"] == wanted
    assert elsewhere.headers["location"] == f"/dashboard/sites/{site.key}"
