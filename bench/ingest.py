"""Ingest throughput: perfbeacon on PostgreSQL vs a bare FastAPI route, in the same run.

Starts both with uvicorn (one process, uvloop + httptools, uvicorn's access log off,
each server's output into a log file), drives each with ``wrk -t1 -c32`` POSTing real
web-vitals v5 attribution beacons of 3-5 metrics (fresh metric ids per request), prints
req/s, p50, p99 and the ratio, then checks the database: every acknowledged beacon's
metrics are stored, none partially.
Runs of the two servers alternate and the median is reported; CPU time per request
(the server process, plus for perfbeacon the PostgreSQL backends serving it) is shown
too, as it suffers less than req/s from other work on a shared machine.

    python bench/ingest.py [--duration 15] [--connections 32]

Needs wrk and a PostgreSQL server (PERFBEACON_BENCH_DATABASE_URL, default
postgresql+asyncpg://postgres@127.0.0.1:5432/test; a fresh database is made and
dropped on it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "ingest" / "beacons" / "v5-attribution.json"
ORIGIN = "https://shop.example"
# Beacons of 3, 4 and 5 metrics, as pages send them (TTFB/FCP/LCP early, CLS/INP on hide).
TEMPLATE_METRICS = (
    ("TTFB", "FCP", "LCP"),
    ("FCP", "LCP", "CLS", "INP"),
    ("TTFB", "FCP", "LCP", "CLS", "INP"),
)
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class Run:
    """What wrk measured for one server."""

    number: int
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    generated: int
    completed: int
    non2xx: int
    socket_errors: int
    cpu_us_per_request: float


@dataclass
class Server:
    """A server process under test."""

    base: str
    pid: int


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per server")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per server")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")

    server_url = os.environ.get("PERFBEACON_BENCH_DATABASE_URL", DEFAULT_SERVER)
    with tempfile.TemporaryDirectory() as tmp, fresh_database(server_url) as db_url:
        workdir = Path(tmp)
        asyncpg_url = db_url.replace("postgresql://", "postgresql+asyncpg://", 1)
        env = {
            **os.environ,
            "PERFBEACON_DATABASE_URL": asyncpg_url,
            # wrk sends every beacon from one address: no per-client limit applies here.
            "PERFBEACON_RATE_LIMIT_PER_MINUTE": "0",
        }
        key = create_site(env, workdir)
        wrk_env = {
            **os.environ,
            "BENCH_TEMPLATES": str(write_templates(workdir)),
            "BENCH_PATH": f"/api/vitals?site={key}",
            "BENCH_ORIGIN": ORIGIN,
        }
        bare_runs: list[Run] = []
        our_runs: list[Run] = []
        with (
            serve("bench.bare_app:create_bare_app", os.environ, workdir) as bare,
            serve("collector.app:create_app_from_env", env, workdir) as ours,
        ):
            wait_for_ready(ours.base)
            drive(bare, wrk_env, args.warmup, args.connections)
            our_runs.append(drive(ours, wrk_env, args.warmup, args.connections, db_url))
            # Alternate, so both servers see the same background load of a shared machine.
            for _ in range(args.rounds):
                bare_runs.append(drive(bare, wrk_env, args.duration, args.connections))
                our_runs.append(drive(ours, wrk_env, args.duration, args.connections, db_url))
        stored = asyncio.run(stored_beacons(db_url))
    print_table(median_run("bare FastAPI route", bare_runs), median_run("perfbeacon", our_runs[1:]))
    check_durability(our_runs, stored)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new PostgreSQL database for this run; dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    base, _, _ = server_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(server_url: str, statement: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_site(env: dict[str, str], workdir: Path) -> str:
    """Migrate and create the benchmark site with the real CLI; return its key."""
    perfbeacon = Path(sys.executable).with_name("perfbeacon")
    result = subprocess.run(
        [str(perfbeacon), "site", "create", "bench", "--origin", ORIGIN],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(result.stdout)["key"])


def write_templates(workdir: Path) -> Path:
    """A Lua file of beacon bodies; metric ids carry the request's sequence number."""
    metrics = {m["name"]: m for m in json.loads(FIXTURE.read_text())}
    bodies = []
    for names in TEMPLATE_METRICS:
        beacon = []
        for position, name in enumerate(names):
            metric = dict(metrics[name], id=f"v5-{1732611015250 + position}-SEQ")
            beacon.append(metric)
        bodies.append(json.dumps(beacon, separators=(",", ":")))
    lua = "return {\n" + ",\n".join(f"[==[{body}]==]" for body in bodies) + "\n}\n"
    path = workdir / "templates.lua"
    path.write_text(lua)
    return path


def metrics_in_request(key: int) -> int:
    """How many metrics request ``key`` (run * stride + seq) carried, as beacons.lua picks."""
    return len(TEMPLATE_METRICS[(key % RUN_STRIDE) % len(TEMPLATE_METRICS)])


@contextmanager
def serve(factory: str, env: dict[str, str], workdir: Path) -> Iterator[Server]:
    """Run ``uvicorn --factory FACTORY`` on a free port; yield it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
        "--no-server-header",
        "--no-proxy-headers",
    ]
    # Into a file, as a deployment's log collector would take it: a terminal the
    # bench runs in must not slow the server down with its access lines.
    log = workdir / f"server-{port}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            env={"PYTHONPATH": str(ROOT), **env},
            cwd=workdir,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(f"{base}/", timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        if process.poll() is not None:
            sys.exit(f"{factory} did not start:\n{log.read_text()[-4000:]}")
        yield Server(base=base, pid=process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        print(f"{factory}: {_line_count(log):,} lines of log")


def _line_count(path: Path) -> int:
    with path.open("rb") as lines:
        return sum(1 for _ in lines)


def wait_for_ready(base: str) -> None:
    """Wait until the collector's /ready answers 200."""
    for _ in range(100):
        if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
            return
        time.sleep(0.1)
    raise RuntimeError("perfbeacon did not become ready")


RUN_STRIDE = 1_000_000_000
_runs = iter(range(1, 1000))


def drive(
    server: Server, env: dict[str, str], seconds: int, connections: int, database: str = ""
) -> Run:
    """One wrk run; returns its figures, with the CPU the server (and its database) used."""
    script = Path(__file__).with_name("beacons.lua")
    run = next(_runs)
    pids = [server.pid, *(database_backends(database) if database else [])]
    cpu_before = cpu_seconds(pids)
    completed = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            server.base,
        ],
        env={**env, "BENCH_RUN": str(run)},
        capture_output=True,
        text=True,
        check=False,
    )
    cpu = cpu_seconds(pids) - cpu_before
    if completed.returncode != 0:
        sys.exit(f"wrk failed: {completed.stdout}{completed.stderr}")
    output = completed.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    result = json.loads(output.split("BENCH_RESULT ", 1)[1].splitlines()[0])
    return Run(
        number=run,
        name=f"run {run}",
        requests_per_second=rps,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        generated=result["generated"],
        completed=result["completed"],
        non2xx=result["non2xx"],
        socket_errors=result["socket_errors"],
        cpu_us_per_request=cpu / max(result["completed"], 1) * 1e6,
    )


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used (Linux /proc)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def database_backends(db_url: str) -> list[int]:
    """PostgreSQL server processes serving the benchmark database."""

    async def fetch() -> list[int]:
        conn = await asyncpg.connect(db_url)
        try:
            name = db_url.rsplit("/", 1)[1]
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)
        finally:
            await conn.close()
        return [row["pid"] for row in rows]

    return asyncio.run(fetch())


async def stored_beacons(db_url: str) -> dict[int, int]:
    """Stored metrics per request sequence number."""
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT split_part(metric_id, '-', 3)::bigint AS seq, count(*) AS n "
            "FROM events GROUP BY 1"
        )
    finally:
        await conn.close()
    return {row["seq"]: row["n"] for row in rows}


def median_run(name: str, runs: list[Run]) -> Run:
    """The run with the median req/s, renamed; its p99 is that run's."""
    ordered = sorted(runs, key=lambda run: run.requests_per_second)
    middle = ordered[len(ordered) // 2]
    print(f"{name}: req/s per run " + ", ".join(f"{r.requests_per_second:,.0f}" for r in runs))
    return Run(**{**middle.__dict__, "name": name})


def print_table(bare: Run, ours: Run) -> None:
    """The comparison table, as recorded in bench/README.md."""
    print()
    print("| server | req/s | p50 ms | p99 ms | CPU µs/request | non-2xx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for run in (bare, ours):
        print(
            f"| {run.name} | {run.requests_per_second:,.0f} | {run.p50_ms:.2f} | "
            f"{run.p99_ms:.2f} | {run.cpu_us_per_request:,.0f} | "
            f"{run.non2xx + run.socket_errors} |"
        )
    ratio = ours.requests_per_second / bare.requests_per_second
    print(f"\nratio perfbeacon / bare FastAPI: {ratio:.2f}x (target >= 1.5x, p99 <= 10 ms)")
    cpu_ratio = ours.cpu_us_per_request / bare.cpu_us_per_request
    print(f"CPU per request, perfbeacon with its PostgreSQL backends / bare: {cpu_ratio:.2f}x")


def check_durability(runs: list[Run], stored: dict[int, int]) -> None:
    """Every acknowledged beacon is stored whole; report the counts per run.

    A beacon is committed whole or not at all (one transaction), and the server
    answers only after the commit, so: no partial beacon, and stored beacons between
    the acknowledged ones and those wrk sent (a few were in flight when wrk stopped).
    """
    failed = False
    for run in runs:
        mine = {key: n for key, n in stored.items() if key // RUN_STRIDE == run.number}
        partial = sum(1 for key, n in mine.items() if n != metrics_in_request(key))
        acknowledged = run.completed - run.non2xx
        acked_metrics = sum(metrics_in_request(seq) for seq in range(1, acknowledged + 1))
        print(
            f"{run.name}: beacons sent {run.generated:,}, acknowledged {acknowledged:,} "
            f"(~{acked_metrics:,} metrics), stored whole {len(mine) - partial:,} "
            f"({sum(mine.values()):,} metrics), stored partially {partial}"
        )
        failed |= bool(partial) or not acknowledged <= len(mine) <= run.generated
    if failed:
        sys.exit("DURABILITY CHECK FAILED: an acknowledged beacon is missing or partial")
    print("durability: every acknowledged beacon is in the database, whole")


if __name__ == "__main__":
    main()
