"""Graceful shutdown: SIGTERM under load loses no acknowledged metric and exits in time."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from collector.storage.db import create_engine
from collector.storage.tables import events
from tests.databases import create_postgres_database, drop_postgres_database
from tests.processes import (
    free_port,
    perfbeacon_command,
    perfbeacon_env,
    run_perfbeacon,
    wait_until_healthy,
)

CLIENTS = 12
SHUTDOWN_TIMEOUT = 10
LOAD_BEFORE_SECONDS = 3.0


async def send_until_refused(base_url: str, key: str, acknowledged: set[str]) -> int:
    """Clients sending beacons until the collector stops answering; returns refused sends."""
    refused = 0

    async def client(number: int, http: httpx.AsyncClient) -> None:
        nonlocal refused
        for n in itertools.count():
            ids = [f"v5-{number}-{n}-{name}" for name in ("lcp", "fcp")]
            body = [
                {"name": "LCP", "value": 1200, "id": ids[0], "delta": 1200},
                {"name": "FCP", "value": 800, "id": ids[1], "delta": 800},
            ]
            try:
                answer = await http.post(
                    f"/api/vitals?site={key}",
                    content=json.dumps(body),
                    headers={"Content-Type": "text/plain;charset=UTF-8"},
                )
            except httpx.TransportError:
                refused += 1
                return  # the collector closed its socket: it is shutting down
            if answer.status_code == 204:
                acknowledged.update(ids)

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        await asyncio.gather(*(client(number, http) for number in range(CLIENTS)))
    return refused


async def test_sigterm_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    url = await create_postgres_database()
    try:
        env = perfbeacon_env(
            url,
            PERFBEACON_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT),
            PERFBEACON_LOG_LEVEL="warning",
            # Every beacon comes from one loopback address; load, not abuse.
            PERFBEACON_RATE_LIMIT_PER_MINUTE="0",
        )
        created = run_perfbeacon("site", "create", "shop", env=env, cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        key = json.loads(created.stdout)["key"]
        port = free_port()
        process = subprocess.Popen(  # noqa: ASYNC220 - started once, never awaited on
            [*perfbeacon_command(), "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base_url, process, timeout=60)
            acknowledged: set[str] = set()
            load = asyncio.create_task(send_until_refused(base_url, key, acknowledged))
            await asyncio.sleep(LOAD_BEFORE_SECONDS)
            sent_at = time.monotonic()
            process.send_signal(signal.SIGTERM)
            returncode = await asyncio.to_thread(process.wait, SHUTDOWN_TIMEOUT + 5)
            exit_seconds = time.monotonic() - sent_at
            await asyncio.wait_for(load, 30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        stored = await stored_ids(url)
    finally:
        await drop_postgres_database(url)
    print(
        f"\nacknowledged {len(acknowledged)} metrics, stored {len(stored)}, "
        f"exit {exit_seconds:.2f} s after SIGTERM"
    )
    # uvicorn ends by re-raising the signal once its graceful shutdown is complete.
    assert returncode in (0, -signal.SIGTERM)
    assert exit_seconds < SHUTDOWN_TIMEOUT
    assert acknowledged, "no beacon was acknowledged before the shutdown"
    lost = acknowledged - stored
    assert not lost, f"{len(lost)} acknowledged metrics were lost"


async def stored_ids(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set((await conn.execute(select(events.c.metric_id))).scalars())
    finally:
        await engine.dispose()
