"""``perfbeacon serve --demo``: fill the demo site with a progress bar, then say how to log in.

The beacons go through the collector's own event writer (group commit, and whatever
the writer maintains beside the raw rows), exactly as ingested beacons do.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import typer
from prometheus_client import CollectorRegistry

from collector.budgets.field.regressions import check_site
from collector.config import Settings
from collector.demo.service import DemoSite, demo_start, load_demo, prepare_demo_site
from collector.runtime import event_writer
from collector.sites import service as sites_service
from collector.storage.db import create_engine
from collector.telemetry.service import Telemetry


def fill_demo_site(settings: Settings) -> DemoSite:
    """Create or refresh the demo site and write its beacons, showing progress on stderr."""

    async def fill() -> DemoSite:
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as conn:
                site = await prepare_demo_site(conn=conn)
                now = datetime.now(UTC)
                start = await demo_start(conn=conn, site_id=site.id, now=now)

                hours = max(int((now - start).total_seconds() // 3600) + 1, 1)
                with typer.progressbar(
                    length=hours, label="perfbeacon: writing demo beacons", file=sys.stderr
                ) as bar:
                    done = 0

                    def advance(hours_done: int, _written: int) -> None:
                        nonlocal done
                        bar.update(hours_done - done)
                        done = hours_done

                    # Its own registry: nothing scrapes the loader's figures.
                    telemetry = Telemetry(settings=settings, registry=CollectorRegistry())
                    writer = event_writer(engine, settings, telemetry)
                    await writer.start()
                    try:
                        await load_demo(
                            site_id=site.id,
                            start=start,
                            end=now,
                            write=writer.write,
                            on_progress=advance,
                        )
                    finally:
                        await writer.stop()
                # The daily field check would first run minutes after start; run it now
                # so the demo's regressed route is flagged on the budgets view at once.
                stored = await sites_service.get_site(conn=conn, key=site.key)
                await check_site(conn=conn, site=stored, day=now.date())
                return site
        finally:
            await engine.dispose()

    return asyncio.run(fill())


def describe_demo(site: DemoSite, *, host: str, port: int) -> str:
    """What to open and which token to paste, printed once the demo is ready."""
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - display only
    return (
        "perfbeacon: demo site ready\n"
        f"  dashboard:  http://{shown_host}:{port}/dashboard/\n"
        f"  site key:   {site.key}\n"
        f"  read token: {site.read_token}\n"
    )
