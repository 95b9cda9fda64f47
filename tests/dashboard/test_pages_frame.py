"""What every dashboard response carries: security headers, styled 404s, cacheable assets."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.dashboard.conftest import log_in
from tests.factories import make_site

ASSET = re.compile(r'(?:href|src)="(/dashboard/static/[^"]+)"')


async def test_pages_send_a_strict_content_security_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard/")

    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy
    assert "http" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["cache-control"] == "no-store"


async def test_pages_hold_no_inline_script_and_no_other_origin(client: httpx.AsyncClient) -> None:
    html = (await client.get("/dashboard/")).text

    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert re.search(r"\son[a-z]+=", html) is None
    assert re.search(r'(?:src|href)="(?:https?:)?//', html) is None


async def test_assets_are_served_with_hashed_names_and_cached_for_a_year(
    client: httpx.AsyncClient,
) -> None:
    html = (await client.get("/dashboard/")).text
    urls = ASSET.findall(html)

    assert {url.rsplit(".", 1)[1] for url in urls} >= {"css", "js", "svg"}
    for url in urls:
        response = await client.get(url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
    stale = urls[0].replace(urls[0].split(".")[-2], "0000000000")
    assert (await client.get(stale)).status_code == 404


async def test_unknown_pages_are_404_pages_in_the_dashboards_style(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    await log_in(client, site.read_token)

    for path in (
        "/dashboard/nothing-here",
        "/dashboard/sites/pk_unknown",
        f"/dashboard/sites/{site.key}/nope",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]
        assert "<h1>Not found</h1>" in response.text
        assert 'href="/dashboard/static/app.' in response.text
        assert "content-security-policy" in response.headers


async def test_a_visitor_is_sent_to_log_in_first(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)

    response = await client.get(f"/dashboard/sites/{site.key}/pages")

    assert response.status_code == 303
    assert response.headers["location"] == (
        f"/dashboard/?next=%2Fdashboard%2Fsites%2F{site.key}%2Fpages"
    )
