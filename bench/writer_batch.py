"""The ingest writer's batch with and without a transaction, on PostgreSQL, no HTTP.

Writes batches of 32 beacons (4 metrics each, enriched from the real web-vitals v5
attribution fixture) through two ``EventWriter``s on a fresh database: one runs the
rollup hook in every batch, so every batch is BEGIN, COPY, COMMIT (how the collector
wrote until the hook could say it has nothing to do); the other, as the collector now
does, asks the hook first and writes a batch of fresh first reports as one COPY.
Rounds alternate between the two; the table shows medians of the rounds: time per
batch, and CPU per beacon of this process and of the PostgreSQL backends.

    python bench/writer_batch.py [--rounds 7] [--batches 200]

Needs a PostgreSQL server (PERFBEACON_BENCH_DATABASE_URL, as bench/ingest.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import DEFAULT_SERVER, FIXTURE, cpu_seconds, fresh_database
from collector.ingest.metrics import BeaconDefaults, to_record
from collector.ingest.schemas import MetricIn
from collector.ingest.useragent import client_of
from collector.ingest.writer import EventWriter
from collector.query.rollups import batch_needs_rollups, roll_up_batch
from collector.storage.db import create_engine
from collector.storage.maintenance import try_maintain_once
from collector.storage.migrate import upgrade
from collector.storage.records import EventRecord

BEACONS_PER_BATCH = 32
METRICS = ("FCP", "LCP", "CLS", "INP")
USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)


@dataclass
class Round:
    """One round of one writer."""

    batch_ms: float
    process_us: float
    database_us: float


def main() -> None:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batches", type=int, default=200, help="batches per round")
    args = parser.parse_args()
    server = os.environ.get("PERFBEACON_BENCH_DATABASE_URL", DEFAULT_SERVER)
    with fresh_database(server) as url:
        results = asyncio.run(run(url, args.rounds, args.batches))
    print("| batch | ms per batch | process µs/beacon | PostgreSQL µs/beacon |")
    print("| --- | ---: | ---: | ---: |")
    for name, rounds in results.items():
        print(
            f"| {name} | {statistics.median(r.batch_ms for r in rounds):.2f} | "
            f"{statistics.median(r.process_us for r in rounds):.1f} | "
            f"{statistics.median(r.database_us for r in rounds):.1f} |"
        )


async def run(url: str, rounds: int, batches: int) -> dict[str, list[Round]]:
    """Alternate rounds of the two writers; every round's figures, by writer."""
    engine = create_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    await upgrade(engine)
    await try_maintain_once(engine, retention_days=30, ahead_days=2)
    writers = {
        "BEGIN, COPY, COMMIT (hook in every batch)": writer_with(engine, checked=False),
        "one COPY (hook asked first)": writer_with(engine, checked=True),
    }
    for writer in writers.values():
        await writer.start()
    results: dict[str, list[Round]] = {name: [] for name in writers}
    try:
        for number in range(rounds + 1):
            order = list(writers.items())
            for name, writer in order if number % 2 else reversed(order):
                measured = await one_round(writer, url, batches)
                if number:  # the first round of each warms up
                    results[name].append(measured)
    finally:
        for writer in writers.values():
            await writer.stop()
        await engine.dispose()
    return results


def writer_with(engine: object, *, checked: bool) -> EventWriter:
    """A writer as the collector builds it, its rollup hook asked first or not."""
    writer = EventWriter(
        engine,  # type: ignore[arg-type]
        batch_window=0.001,
        max_queue=50_000,
        max_batch=5_000,
        recent_capacity=200_000,
    )
    writer.add_batch_hook(roll_up_batch, needed=batch_needs_rollups if checked else None)
    return writer


async def one_round(writer: EventWriter, url: str, batches: int) -> Round:
    """Write ``batches`` batches of fresh beacons; time and CPU per batch and beacon.

    The records are built beforehand: the figures are the writer's and the database's.
    """
    prepared = [[beacon_records() for _ in range(BEACONS_PER_BATCH)] for _ in range(batches)]
    backends = await backend_pids(url)
    process_before, database_before = time.process_time(), cpu_seconds(backends)
    started = time.perf_counter()
    for beacons in prepared:
        await asyncio.gather(*(writer.write(records) for records in beacons))
    elapsed = time.perf_counter() - started
    beacons_written = batches * BEACONS_PER_BATCH
    return Round(
        batch_ms=elapsed / batches * 1000,
        process_us=(time.process_time() - process_before) / beacons_written * 1e6,
        database_us=(cpu_seconds(backends) - database_before) / beacons_written * 1e6,
    )


async def backend_pids(url: str) -> list[int]:
    """The PostgreSQL server processes serving the database at ``url``."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return [row["pid"] for row in rows]


_FIXTURE = {metric["name"]: metric for metric in json.loads(FIXTURE.read_text())}
_DEFAULTS = BeaconDefaults(
    site_id=1,
    ts=datetime.now(UTC),
    page="https://shop.example/product/42",
    connection="4g",
    device_memory=8.0,
    client=client_of(USER_AGENT),
    country="de",
)
_counter = 0


def beacon_records() -> list[EventRecord]:
    """The records of one beacon, enriched as the collector does, with fresh ids."""
    global _counter
    _counter += 1
    defaults = msgspec.structs.replace(_DEFAULTS, ts=datetime.now(UTC))
    return [
        to_record(
            msgspec.convert({**_FIXTURE[name], "id": f"v5-{_counter}-{name}"}, MetricIn),
            defaults,
        )
        for name in METRICS
    ]


if __name__ == "__main__":
    main()
