"""Fault test: PostgreSQL stops for ~10 s under load; every acknowledged metric is stored once.

The test owns its PostgreSQL cluster (``initdb`` into a temp dir, another port), runs
``perfbeacon serve`` on it as a process, loads it with concurrent beacons, stops the
cluster (fast shutdown) mid-run, starts it again, and then counts rows.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from collector.query.levels import GRAINS, LEVELS
from collector.query.roller import catch_up
from collector.storage.db import create_engine
from collector.storage.tables import events, rollups
from tests.pgcluster import Cluster, initdb_path, own_cluster
from tests.processes import perfbeacon_env, run_perfbeacon, serving
from tests.waiting import wait_until_async

pytestmark = pytest.mark.skipif(
    initdb_path() is None, reason="initdb (PostgreSQL 15 server binaries) is not installed"
)

OUTAGE_SECONDS = 10.0
LOAD_BEFORE_SECONDS = 3.0
LOAD_AFTER_SECONDS = 4.0
CLIENTS = 12
ORIGIN = "https://shop.example"


@dataclass
class Ledger:
    """What the load generator was told: acknowledged metric ids and the latest CLS values."""

    acknowledged: set[tuple[str, str]] = field(default_factory=set)
    latest_cls: dict[str, float] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    during_outage: int = 0


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with own_cluster() as cluster:
        yield cluster


@pytest.fixture
async def collector(cluster: Cluster, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """``perfbeacon serve`` on the cluster; yields its base URL and a site key."""
    env = perfbeacon_env(
        cluster.url,
        PERFBEACON_SPOOL_DIR=str(tmp_path / "spool"),
        PERFBEACON_LOG_LEVEL="warning",
        # Every beacon comes from one loopback address; load, not abuse.
        PERFBEACON_RATE_LIMIT_PER_MINUTE="0",
    )
    created = run_perfbeacon("site", "create", "shop", "--origin", ORIGIN, env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["key"]
    with serving(env=env, cwd=tmp_path) as (base_url, _):
        yield base_url, key


def beacon(client: int, n: int, ledger: Ledger) -> list[dict[str, object]]:
    """Four first reports, and every third beacon a re-report of an earlier CLS id."""
    prefix = f"v5-{client}-{n}"
    metrics: list[dict[str, object]] = [
        {"name": "LCP", "value": 1000 + n, "id": f"{prefix}-lcp", "delta": 1000 + n},
        {"name": "FCP", "value": 500 + n, "id": f"{prefix}-fcp", "delta": 500 + n},
        {"name": "TTFB", "value": 100 + n, "id": f"{prefix}-ttfb", "delta": 100 + n},
        {"name": "CLS", "value": 0.01, "id": f"{prefix}-cls", "delta": 0.01},
    ]
    earlier = f"v5-{client}-{n - 3}-cls"
    if n >= 3 and n % 3 == 0 and earlier in ledger.latest_cls:
        value = round(ledger.latest_cls[earlier] + 0.05, 4)
        metrics.append({"name": "CLS", "value": value, "id": earlier, "delta": 0.05})
    return metrics


async def load(
    base_url: str, key: str, ledger: Ledger, stop: asyncio.Event, outage: asyncio.Event
) -> None:
    """``CLIENTS`` clients sending beacons one after another until ``stop``."""

    async def client(number: int, http: httpx.AsyncClient) -> None:
        for n in itertools.count():
            if stop.is_set():
                return
            metrics = beacon(number, n, ledger)
            try:
                answer = await http.post(
                    f"/api/vitals?site={key}",
                    content=json.dumps(metrics),
                    headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN},
                )
            except httpx.TransportError:
                await asyncio.sleep(0.05)  # not acknowledged: nothing to check
                continue
            ledger.statuses[answer.status_code] += 1
            if answer.status_code in (200, 204):
                if outage.is_set():
                    ledger.during_outage += 1
                for metric in metrics:
                    ledger.acknowledged.add((str(metric["name"]), str(metric["id"])))
                    if metric["name"] == "CLS":
                        ledger.latest_cls[str(metric["id"])] = float(str(metric["value"]))
            elif answer.status_code >= 500:
                await asyncio.sleep(0.05)

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        await asyncio.gather(*(client(number, http) for number in range(CLIENTS)))


async def wait_until_replayed(base_url: str, within: float) -> float:
    """Poll until the collector is ready and its spool is empty; the seconds it took."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:

        async def replayed() -> bool:
            ready = await http.get("/ready")
            metrics = (await http.get("/metrics")).text
            return ready.status_code == 200 and "\nperfbeacon_spool_bytes 0.0" in metrics

        if not await wait_until_async(replayed, within=within, interval=0.25):
            raise TimeoutError(f"the spool was not replayed within {within} s")
    return time.monotonic() - started


async def test_acknowledged_beacons_survive_a_database_outage(
    cluster: Cluster, collector: tuple[str, str]
) -> None:
    base_url, key = collector
    ledger, stop, outage = Ledger(), asyncio.Event(), asyncio.Event()
    load_task = asyncio.create_task(load(base_url, key, ledger, stop, outage))
    await asyncio.sleep(LOAD_BEFORE_SECONDS)
    await asyncio.to_thread(cluster.stop)
    outage.set()
    down_at = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        await asyncio.sleep(2)
        assert (await http.get("/ready")).status_code == 503
    await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
    await asyncio.to_thread(cluster.start)
    outage.clear()
    outage_seconds = time.monotonic() - down_at
    await asyncio.sleep(LOAD_AFTER_SECONDS)
    stop.set()
    await asyncio.wait_for(load_task, 60)
    replay_seconds = await wait_until_replayed(base_url, within=90)

    rows = await stored_rows(cluster.url)
    counts = Counter((metric, metric_id) for metric, metric_id, _ in rows)
    print(  # the figures docs/operations.md quotes
        f"\noutage {outage_seconds:.1f} s, beacons acknowledged during it {ledger.during_outage}, "
        f"statuses {dict(ledger.statuses)}, acknowledged metrics {len(ledger.acknowledged)}, "
        f"rows {len(rows)}, replayed within {replay_seconds:.1f} s"
    )
    assert ledger.during_outage > 0, "no beacon was acknowledged while the database was down"
    assert not [status for status in ledger.statuses if status >= 500 and status != 503]
    missing = ledger.acknowledged - set(counts)
    assert not missing, f"{len(missing)} acknowledged metrics are not stored"
    duplicated = {k: n for k, n in counts.items() if n > 1}
    assert not duplicated, f"{len(duplicated)} metrics are stored more than once"
    values = {metric_id: value for metric, metric_id, value in rows if metric == "CLS"}
    wrong = {i: (values[i], v) for i, v in ledger.latest_cls.items() if values[i] != v}
    assert not wrong, f"{len(wrong)} re-reported CLS values are not the latest acknowledged"
    await rollups_count_each_row_once(cluster.url, rows)


async def stored_rows(url: str) -> list[tuple[str, str, float]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(select(events.c.metric, events.c.metric_id, events.c.value))
            return [(row.metric, row.metric_id, row.value) for row in result]
    finally:
        await engine.dispose()


async def rollups_count_each_row_once(url: str, rows: list[tuple[str, str, float]]) -> None:
    """After a roll-up pass over everything, site totals count each stored row once."""
    engine = create_engine(url)
    try:
        # Every write is done: roll up to now, without the lag kept for live writers.
        await catch_up(engine, until=datetime.now(UTC) + timedelta(hours=1), lag=timedelta(0))
        totals = (
            select(rollups.c.metric, func.sum(rollups.c.count))
            .where(rollups.c.level == LEVELS[0], rollups.c.grain == GRAINS[0])
            .group_by(rollups.c.metric)
        )
        async with engine.connect() as conn:
            counted = {metric: int(n) for metric, n in await conn.execute(totals)}
    finally:
        await engine.dispose()
    assert counted == dict(Counter(metric for metric, _, _ in rows))
