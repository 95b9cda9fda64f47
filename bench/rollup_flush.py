"""Ingest-side cost of keeping rollups: per-batch upserts against the watermark + roller.

Writes the same realistic metric records in writer-sized batches (binary COPY into
``events`` and ``flush`` of the rollup accumulator, one transaction per batch) two ways,
in the same run:

- per batch: every record is rolled up inside its batch (an upsert of all its cells);
- roller: the batch only reads the watermark (records are ahead of it) and the roller
  rolls the raw rows up afterwards in SQL, as it does every few seconds.

    python bench/rollup_flush.py                  # 400 k metrics, batches of 4 000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import msgspec
from sqlalchemy import update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collector.query.roller import catch_up  # noqa: E402
from collector.query.rollups import RollupAccumulator  # noqa: E402
from collector.storage.db import create_engine  # noqa: E402
from collector.storage.migrate import upgrade  # noqa: E402
from collector.storage.partitions import ensure_partitions  # noqa: E402
from collector.storage.records import EVENT_COLUMNS, EventRecord  # noqa: E402
from collector.storage.tables import rollup_watermark  # noqa: E402

SERVER = "postgresql://postgres@127.0.0.1:5432"
ROUTES = [f"/page-{i}" for i in range(200)]


def records(count: int, *, start: datetime, seconds: float, seed: int) -> list[EventRecord]:
    """Realistic metric records spread over ``seconds`` after ``start``."""
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(len(ROUTES))]
    out = []
    for i in range(count):
        metric = rng.choice(["LCP", "FCP", "TTFB", "CLS", "INP"])
        value = rng.lognormvariate(7, 0.7) if metric != "CLS" else rng.lognormvariate(-3.5, 1.2)
        route = rng.choices(ROUTES, weights)[0]
        out.append(
            EventRecord(
                site_id=1,
                ts=start + timedelta(seconds=seconds * i / count),
                metric=metric,
                value=value,
                delta=value,
                rating=None,
                metric_id=f"v5-{seed}-{i}",
                navigation_type=rng.choice(["navigate", "reload", "back-forward-cache"]),
                page_path=route,
                route=route,
                device=rng.choice(["mobile", "desktop", "tablet"]),
                browser=rng.choice(["chrome", "safari", "firefox", "chrome mobile"]),
                os="android",
                connection=rng.choice(["4g", "3g"]),
                country=rng.choice(["us", "de", "fr", "gb", "in", "br"]),
            )
        )
    return out


async def write(url: str, batches: list[list[EventRecord]], *, watermark: datetime) -> list[float]:
    """COPY each batch and flush the accumulator in one transaction; seconds per batch."""
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(update(rollup_watermark).values(rolled_before=watermark))
    times = []
    for batch in batches:
        started = time.perf_counter()
        accumulator = RollupAccumulator()
        async with engine.begin() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            rows = [msgspec.structs.astuple(record) for record in batch]
            await raw.copy_records_to_table("events", records=rows, columns=list(EVENT_COLUMNS))
            for record in batch:
                accumulator.add(record)
            await accumulator.flush(conn)
        times.append(time.perf_counter() - started)
    await engine.dispose()
    return times


async def fresh_database(name: str) -> str:
    """A new, migrated database with today's partitions; its SQLAlchemy URL."""
    admin = await asyncpg.connect(f"{SERVER}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    engine = create_engine(url)
    await upgrade(engine)
    async with engine.begin() as conn:
        await ensure_partitions(
            conn, first_day=datetime.now(UTC).date() - timedelta(days=1), days=3
        )
    await engine.dispose()
    return url


async def main() -> None:
    """Run both ways and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=int, default=400_000)
    parser.add_argument("--batch", type=int, default=4000)
    args = parser.parse_args()
    start = datetime.now(UTC) - timedelta(minutes=10)
    # At 64 k metrics/s (16 k beacons × 4), this many metrics span this many seconds.
    span = args.metrics / 64_000
    data = records(args.metrics, start=start, seconds=span, seed=1)
    batches = [data[i : i + args.batch] for i in range(0, len(data), args.batch)]
    lines = [
        "| way | batch median | batch p95 | roller | metrics/s, writer + roller |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for way in ("per batch", "roller"):
        url = await fresh_database("perfbeacon_bench_flush")
        behind = start + timedelta(days=1) if way == "per batch" else start - timedelta(seconds=1)
        times = await write(url, batches, watermark=behind)
        roll = 0.0
        if way == "roller":
            engine = create_engine(url)
            started = time.perf_counter()
            await catch_up(engine, until=start + timedelta(seconds=span + 1))
            roll = time.perf_counter() - started
            await engine.dispose()
        total = sum(times) + roll
        lines.append(
            f"| {way} | {statistics.median(times) * 1000:.1f} ms | "
            f"{sorted(times)[int(len(times) * 0.95)] * 1000:.1f} ms | {roll:.2f} s | "
            f"{args.metrics / total:,.0f} |"
        )
        print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
