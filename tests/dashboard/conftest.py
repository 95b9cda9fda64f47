"""Helpers for dashboard tests: log in through the real login form."""

from __future__ import annotations

import re

import httpx

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token_of(html: str) -> str:
    """The CSRF token a dashboard page put in its forms."""
    found = CSRF_INPUT.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


async def log_in(
    client: httpx.AsyncClient, token: str, next_path: str | None = None
) -> httpx.Response:
    """Open the login page and submit ``token`` with the page's CSRF token."""
    page = await client.get("/dashboard/")
    form = {"token": token, "csrf_token": csrf_token_of(page.text)}
    if next_path is not None:
        form["next"] = next_path
    return await client.post("/dashboard/login", data=form)
