"""Backpressure: a full writer queue answers 503 with Retry-After at once, memory stays bounded."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Sequence

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector.config import Settings
from collector.runtime import Runtime
from collector.sites.schemas import CreatedSite
from collector.storage.records import EventRecord
from tests.conftest import ADMIN_TOKEN
from tests.ingest.conftest import post_beacon, stored
from tests.waiting import wait_until_async

QUEUE_LIMIT = 100
METRICS_PER_BEACON = 4


@pytest.fixture
def settings(database_url: str) -> Settings:
    """A collector whose writer queue holds only ``QUEUE_LIMIT`` metrics."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
        ingest_queue_max_metrics=QUEUE_LIMIT,
        # The gate holds a commit while the test fills the queue, which on a busy machine
        # took over the default 10 s: the writer then took the hold for an outage and
        # spooled the batch (tested in test_spool), to be stored only after the check.
        ingest_commit_timeout=300,
    )


def lcp_beacon(n: int) -> list[dict[str, object]]:
    return [
        {"name": "LCP", "value": 1000 + i, "id": f"v5-{n}-{i}", "delta": 1000 + i}
        for i in range(METRICS_PER_BEACON)
    ]


async def _refuse(client: httpx.AsyncClient, site: CreatedSite, numbers: range) -> None:
    for n in numbers:
        refused = await post_beacon(client, lcp_beacon(n), key=site.key)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "overloaded"


class Gate:
    """A batch hook that holds every commit until opened: a database that stalls."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.entered = asyncio.Event()

    async def hook(
        self,
        _conn: AsyncConnection,
        _inserted: Sequence[EventRecord],
        _replaced: Sequence[object],
    ) -> None:
        self.entered.set()
        await self.opened.wait()


async def test_a_full_queue_answers_503_with_retry_after_and_loses_nothing(
    app: FastAPI, client: httpx.AsyncClient, site: CreatedSite, engine: AsyncEngine
) -> None:
    runtime: Runtime = app.state.runtime
    gate = Gate()
    runtime.writer.add_batch_hook(gate.hook)
    try:
        await _fill_then_refuse(client, runtime, gate, site)
    finally:
        gate.opened.set()  # never leave the writer held, whatever failed
    await _all_waiting_were_stored(client, engine)


async def _fill_then_refuse(
    client: httpx.AsyncClient, runtime: Runtime, gate: Gate, site: CreatedSite
) -> None:
    # The first beacon's batch holds the writer; the next ones fill its queue.
    first = asyncio.create_task(post_beacon(client, lcp_beacon(0), key=site.key))
    await asyncio.wait_for(gate.entered.wait(), 10)
    waiting = [
        asyncio.create_task(post_beacon(client, lcp_beacon(n), key=site.key))
        for n in range(1, QUEUE_LIMIT // METRICS_PER_BEACON + 1)
    ]

    async def queued() -> int:
        return runtime.writer.queued

    assert (
        await wait_until_async(queued, done=lambda n: n >= QUEUE_LIMIT, within=30, interval=0.01)
        >= QUEUE_LIMIT
    )
    ready = await client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["error"]["code"] == "not_ready"

    # Every further beacon is refused at once, and memory does not grow with them.
    async with asyncio.timeout(60):
        await _refuse(client, site, range(1000, 1100))  # warm caches and label sets
        gc.collect()
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        await _refuse(client, site, range(2000, 2800))
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert runtime.writer.queued <= QUEUE_LIMIT
    # Keeping 800 refused beacons (3 200 metric records) would take over a megabyte.
    assert after - before < 100_000

    gate.opened.set()
    answers = await asyncio.gather(first, *waiting)
    assert all(answer.status_code == 204 for answer in answers)


async def _all_waiting_were_stored(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    ids = {record.metric_id for record in await stored(engine)}
    sent = {m["id"] for n in range(QUEUE_LIMIT // METRICS_PER_BEACON + 1) for m in lcp_beacon(n)}
    assert ids == sent
    assert (await client.get("/ready")).status_code == 200
