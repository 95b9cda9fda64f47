"""How long the dashboard's pages take on SQLite with about 100 k stored samples.

Fills a fresh SQLite database with two weeks of demo beacons through the collector's
event writer (about 100 k metrics), logs in with the admin token through the real
login form, then times each page through the ASGI app in-process: one warm-up
request, then the median of ``--rounds`` requests.

    python bench/dashboard_pages.py --rounds 7
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from collector.app import create_app
from collector.config import Settings
from collector.demo.service import load_demo, prepare_demo_site
from collector.runtime import event_writer
from collector.storage.db import create_engine
from collector.storage.migrate import upgrade
from collector.storage.tables import events
from collector.telemetry.service import Telemetry

ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
DAYS = 14
# Page views per hour: about 4.7 metrics each, so 14 days give about 100 k metrics.
VIEWS_PER_HOUR = 64
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def fill(settings: Settings) -> tuple[str, int]:
    """Write the demo's beacons; return the site key and how many samples are stored."""
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            site = await prepare_demo_site(conn=conn)
            await conn.commit()
        writer = event_writer(
            engine, settings, Telemetry(settings=settings, registry=CollectorRegistry())
        )
        await writer.start()
        now = datetime.now(UTC)
        try:
            await load_demo(
                site_id=site.id,
                start=now - timedelta(days=DAYS),
                end=now,
                write=writer.write,
                on_progress=lambda _hours, _written: None,
                per_hour=VIEWS_PER_HOUR,
            )
        finally:
            await writer.stop()
        async with engine.connect() as conn:
            stored = (await conn.execute(select(func.count()).select_from(events))).scalar_one()
        return site.key, int(stored)
    finally:
        await engine.dispose()


async def time_pages(settings: Settings, key: str, rounds: int) -> dict[str, float]:
    """Median milliseconds per page, after one warm-up request each."""
    app = create_app(settings)
    pages = {
        "sites list": "/dashboard/",
        "overview (7 days)": f"/dashboard/sites/{key}",
        "overview (28 days)": f"/dashboard/sites/{key}?window=28d",
        "overview (7 days, mobile)": f"/dashboard/sites/{key}?device=mobile",
        "pages": f"/dashboard/sites/{key}/pages",
        "route /product/:id": f"/dashboard/sites/{key}/routes/product/:id",
        "budgets": f"/dashboard/sites/{key}/budgets",
        "live": f"/dashboard/sites/{key}/live",
    }
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as client:
            login = await client.get("/dashboard/")
            token = _CSRF.search(login.text)
            assert token is not None, "no CSRF token on the login page"
            await client.post(
                "/dashboard/login", data={"token": ADMIN_TOKEN, "csrf_token": token.group(1)}
            )
            timings: dict[str, float] = {}
            for name, url in pages.items():
                warm = await client.get(url)
                if warm.status_code != 200:
                    raise RuntimeError(f"{url} answered {warm.status_code}")
                samples = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    answer = await client.get(url)
                    samples.append((time.perf_counter() - started) * 1000)
                    answer.raise_for_status()
                timings[name] = statistics.median(samples)
    return timings


def main() -> None:
    """Fill a database, time the pages, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}",
            admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
            log_format="json",
        )
        started = time.perf_counter()
        key, stored = asyncio.run(fill(settings))
        print(f"stored {stored:,} samples in {time.perf_counter() - started:.1f} s")
        timings = asyncio.run(time_pages(settings, key, args.rounds))
    print(f"| page ({stored:,} samples, SQLite) | median ms |")
    print("| --- | ---: |")
    for name, ms in timings.items():
        print(f"| {name} | {ms:,.0f} |")


if __name__ == "__main__":
    main()
