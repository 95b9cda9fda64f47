"""The live feed: bounded fan-out, slow clients dropped, publishing never blocks, access checked."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State
from websockets.typing import Origin

from collector.sites import service as sites_service
from collector.sites.schemas import CreatedSite
from dashboard.live import MAX_BEACONS_PER_MESSAGE, QUEUE_SIZE, LiveFull, LiveHub
from dashboard.views import live as live_views
from tests.dashboard.conftest import log_in
from tests.factories import make_site, sample
from tests.waiting import wait_until_async


async def test_a_client_receives_its_sites_beacons_only() -> None:
    hub = LiveHub()
    with hub.subscribe(site_id=1) as mine, hub.subscribe(site_id=2) as other:
        hub.publish([sample(1, "LCP", 1234.5, page_path="/a"), sample(3, "LCP", 1.0)])

        message = json.loads(await asyncio.wait_for(mine.next_message(), 1) or b"")
        assert [b["page"] for b in message["beacons"]] == ["/a"]
        assert message["beacons"][0]["value"] == 1234.5
        assert other.queue.empty()
    assert hub.clients == 0


async def test_a_slow_client_is_dropped_and_publishing_never_blocks() -> None:
    hub = LiveHub()
    with hub.subscribe(site_id=1) as slow, hub.subscribe(site_id=1) as quick:
        for i in range(QUEUE_SIZE + 5):
            hub.publish([sample(1, "TTFB", float(i))])
            await quick.queue.get()

        assert slow.dropped.is_set()
        assert await slow.next_message() is None
        assert not quick.dropped.is_set()
        assert hub.dropped_total == 1


async def test_big_batches_are_cut_to_the_newest_beacons() -> None:
    hub = LiveHub()
    with hub.subscribe(site_id=1) as client:
        hub.publish([sample(1, "CLS", i / 1000) for i in range(MAX_BEACONS_PER_MESSAGE + 30)])

        message = json.loads(await client.next_message() or b"")
    assert len(message["beacons"]) == MAX_BEACONS_PER_MESSAGE
    assert message["omitted"] == 30


def test_the_number_of_clients_is_bounded() -> None:
    counts: list[int] = []
    hub = LiveHub(
        max_clients=3,
        max_clients_per_site=2,
        on_connect=lambda: counts.append(hub.clients),
        on_disconnect=lambda: counts.append(hub.clients),
    )
    with hub.subscribe(site_id=1), hub.subscribe(site_id=1):
        with pytest.raises(LiveFull):
            hub.subscribe(site_id=1).__enter__()
        with hub.subscribe(site_id=2), pytest.raises(LiveFull):
            hub.subscribe(site_id=3).__enter__()
    assert counts == [1, 2, 3, 2, 1, 0]


async def _session_cookie(host: str, token: str) -> str:
    async with httpx.AsyncClient(base_url=f"http://{host}") as client:
        await log_in(client, token)
        return f"perfbeacon_session={client.cookies['perfbeacon_session']}"


async def test_a_logged_in_dashboard_gets_live_beacons(
    served: str, app: FastAPI, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    cookie = await _session_cookie(served, site.read_token)
    hub: LiveHub = app.state.live_hub

    async with connect(
        f"ws://{served}/ws/live?site={site.key}",
        additional_headers={"Cookie": cookie},
        origin=Origin(f"http://{served}"),
    ) as socket:
        assert json.loads(await socket.recv()) == {"type": "hello", "site": site.key}
        async with httpx.AsyncClient() as client:
            scraped = (await client.get(f"http://{served}/metrics")).text
        assert re.search(r"^perfbeacon_websocket_clients 1\.0$", scraped, re.M), scraped[:2000]
        hub.publish([sample(site.id, "INP", 88.0, page_path="/live")])
        message = json.loads(await asyncio.wait_for(socket.recv(), 5))

    assert message["beacons"][0]["page"] == "/live"
    assert message["beacons"][0]["metric"] == "INP"

    async def clients() -> int:
        return hub.clients

    # The server sees the close when it next reads; a busy one, later.
    assert await wait_until_async(clients, done=lambda count: count == 0, within=10) == 0


def _feed_by_read_token(served: str, site: CreatedSite) -> connect:
    """The site's live feed, opened with its read token."""
    return connect(
        f"ws://{served}/ws/live?site={site.key}",
        additional_headers={"Authorization": f"Bearer {site.read_token}"},
    )


async def test_a_read_token_header_opens_the_feed_too(served: str, engine: AsyncEngine) -> None:
    site = await make_site(engine)

    async with _feed_by_read_token(served, site) as socket:
        assert json.loads(await socket.recv())["type"] == "hello"


@pytest.mark.parametrize(
    "case", ["no credentials", "wrong token", "other site's token", "other origin", "unknown site"]
)
async def test_the_feed_refuses_who_may_not_read_the_site(
    served: str, engine: AsyncEngine, case: str
) -> None:
    site = await make_site(engine)
    other = await make_site(engine)
    key, headers = site.key, {}
    if case == "wrong token":
        headers = {"Authorization": "Bearer pbr_wrong"}
    elif case == "other site's token":
        headers = {"Authorization": f"Bearer {other.read_token}"}
    elif case == "other origin":
        headers = {
            "Cookie": await _session_cookie(served, site.read_token),
            "Origin": "https://evil.example",
        }
    elif case == "unknown site":
        key, headers = "pk_nope", {"Authorization": f"Bearer {site.read_token}"}

    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://{served}/ws/live?site={key}", additional_headers=headers):
            pass
    assert refused.value.response.status_code == 403


async def test_after_commit_publishes_first_reports_and_new_values_of_re_reports() -> None:
    hub = LiveHub()
    first = sample(1, "CLS", 0.05, page_path="/first")
    old = sample(1, "INP", 100.0, page_path="/again", metric_id="v5-x")
    new = sample(1, "INP", 300.0, page_path="/again", metric_id="v5-x")
    with hub.subscribe(site_id=1) as client:
        hub.after_commit([first], [(old, new)])

        message = json.loads(await client.next_message() or b"")
    assert [(b["page"], b["value"]) for b in message["beacons"]] == [
        ("/first", 0.05),
        ("/again", 300.0),
    ]


async def test_an_open_feed_ends_when_its_token_is_revoked(
    served: str, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_views, "RECHECK_SECONDS", 0.2)
    site = await make_site(engine)

    async with _feed_by_read_token(served, site) as socket:
        assert json.loads(await socket.recv())["type"] == "hello"
        await asyncio.sleep(0.5)  # rechecked at least once, and still allowed
        assert socket.state is State.OPEN
        async with engine.begin() as conn:
            await sites_service.revoke_read_token(conn=conn, key=site.key)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
