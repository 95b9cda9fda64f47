"""Beacons from crawlers and headless browsers are dropped by default, stored when allowed."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.app import create_app
from collector.config import Settings
from collector.sites.schemas import CreatedSite
from tests.ingest.conftest import ANDROID_CHROME, post_beacon, stored

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HEADLESS_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/131.0.0.0 Safari/537.36"
)
BEACON = [{"name": "LCP", "value": 1200, "id": "v5-1-1", "delta": 1200}]


@pytest.mark.parametrize("user_agent", [GOOGLEBOT, HEADLESS_CHROME])
async def test_bots_are_dropped_by_default(
    client: httpx.AsyncClient, site: CreatedSite, engine: AsyncEngine, user_agent: str
) -> None:
    answer = await post_beacon(client, BEACON, key=site.key, headers={"User-Agent": user_agent})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "bot_dropped"
    assert await stored(engine) == []
    # A visitor's browser beside it is stored.
    visitor = await post_beacon(
        client, BEACON, key=site.key, headers={"User-Agent": ANDROID_CHROME}
    )
    assert visitor.status_code == 204
    assert len(await stored(engine)) == 1


async def test_bots_are_stored_when_the_filter_is_off(
    settings: Settings, engine: AsyncEngine, site: CreatedSite
) -> None:
    app: FastAPI = create_app(settings.model_copy(update={"drop_bots": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answer = await post_beacon(
                client, BEACON, key=site.key, headers={"User-Agent": HEADLESS_CHROME}
            )
    assert answer.status_code == 204
    assert [record.browser for record in await stored(engine)] == ["headlesschrome"]
