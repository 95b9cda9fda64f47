"""Throughput cost of request telemetry: perfbeacon's middleware against the usual options.

Runs every app of ``bench/middleware_apps.py`` under uvicorn (one worker each, all
started at once), then measures them with ``wrk`` in rounds where every app's run
sits between two runs of the bare app, and prints for each the median requests per
second, the median CPU time the server process spent per request (from /proc), and
the median cost of each against its neighbouring bare runs.

    python bench/middleware.py [--rounds 5] [--duration 3] [--connections 32]

Needs ``wrk`` (apt-get install wrk) and ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.middleware_apps import APPS, ROUTE

ROOT = Path(__file__).resolve().parent.parent
# Cost (1 - rps/bare) each perfbeacon configuration must stay within.
TARGETS = {
    "perfbeacon: metrics + headers + request id": 0.07,
    "perfbeacon: + JSON access log": 0.15,
    "perfbeacon: + tracing 10 %": 0.20,
    "perfbeacon: + tracing 100 %": 0.35,
}
INSTRUMENTATOR = "prometheus-fastapi-instrumentator"
OTEL = "OTel FastAPI instrumentation (100 %)"
FULL = "perfbeacon: + tracing 100 %"


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server(NamedTuple):
    """One app being served: its route's URL and the serving process id."""

    url: str
    pid: int


@contextmanager
def servers(log_directory: Path, names: list[str]) -> Iterator[dict[str, Server]]:
    """Start one uvicorn per app named; yield where each app serves."""
    processes: list[subprocess.Popen[bytes]] = []
    urls: dict[str, Server] = {}
    try:
        for name in names:
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
            env["BENCH_APP"] = name
            log = (log_directory / f"{len(processes)}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "bench.middleware_apps:create",
                        "--factory",
                        "--port",
                        str(port),
                        "--no-access-log",
                        "--log-level",
                        "warning",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,  # the access logs go to a file, as in production
                )
            )
            urls[name] = Server(f"http://127.0.0.1:{port}{ROUTE}", processes[-1].pid)
        for server in urls.values():
            wait_until_serving(server.url)
        yield urls
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            process.wait(timeout=30)


def wait_until_serving(url: str, timeout: float = 30) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(server: Server, *, seconds: int, connections: int) -> tuple[float, float]:
    """Requests per second wrk measured, and server CPU microseconds per request."""
    cpu_before = cpu_seconds(server.pid)
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", server.url],
        capture_output=True,
        text=True,
        check=True,
    )
    cpu = cpu_seconds(server.pid) - cpu_before
    rate = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    total = re.search(r"(\d+) requests in", result.stdout)
    if (
        rate is None
        or total is None
        or "Non-2xx" in result.stdout
        or "Socket errors" in result.stdout
    ):
        raise RuntimeError(f"wrk against {server.url} went wrong:\n{result.stdout}")
    return float(rate.group(1)), cpu / int(total.group(1)) * 1e6


class Sample(NamedTuple):
    """One wrk run of an app, and its cost against the bare runs just before and after."""

    rps: float
    cpu_us: float
    rps_cost: float
    cpu_cost: float


Results = dict[str, list[Sample]]


def measure(urls: dict[str, Server], *, rounds: int, seconds: int, connections: int) -> Results:
    """Rounds of bare, app, bare, app, ..., bare: each app is compared with its neighbours.

    On a shared machine the load drifts within seconds; a cost taken against the
    bare runs on either side of the same app's run cancels most of that drift.
    """
    apps = [name for name in urls if name != "bare"]
    results: Results = {name: [] for name in urls}
    for name in urls:
        wrk(urls[name], seconds=2, connections=connections)  # warm up
    for round_number in range(rounds):
        shift = round_number % len(apps)
        previous = wrk(urls["bare"], seconds=seconds, connections=connections)
        for name in apps[shift:] + apps[:shift]:
            rps, cpu = wrk(urls[name], seconds=seconds, connections=connections)
            following = wrk(urls["bare"], seconds=seconds, connections=connections)
            bare_rps = (previous[0] + following[0]) / 2
            bare_cpu = (previous[1] + following[1]) / 2
            sample = Sample(rps, cpu, 1 - rps / bare_rps, 1 - bare_cpu / cpu)
            results[name].append(sample)
            results["bare"].append(Sample(*following, 0.0, 0.0))
            print(
                f"  round {round_number + 1}: {name}: {rps:,.0f} req/s ({sample.rps_cost:+.1%}), "
                f"{cpu:.1f} µs CPU/request ({sample.cpu_cost:+.1%})",
                file=sys.stderr,
            )
            previous = following
    return results


def _targets_met(cost: dict[str, float]) -> dict[str, bool]:
    """Each measured configuration against its target and, when measured, the baselines."""
    met = {}
    for name, target in TARGETS.items():
        if name not in cost:
            continue
        ok = cost[name] <= target
        if INSTRUMENTATOR in cost:
            ok = ok and cost[name] < cost[INSTRUMENTATOR]
        if name == FULL and OTEL in cost:
            ok = ok and 2 * cost[name] <= cost[OTEL]
        met[name] = ok
    return met


def report(results: Results) -> tuple[str, bool]:
    """A Markdown table of medians; whether every target held by req/s.

    Costs are medians of the paired costs; the CPU cost is 1 - (bare's CPU time per
    request / this app's), the same notion as the req/s one.
    """

    def median(name: str, field: str) -> float:
        return statistics.median(getattr(sample, field) for sample in results[name])

    rps = {name: median(name, "rps") for name in results}
    cpu = {name: median(name, "cpu_us") for name in results}
    rps_cost = {name: median(name, "rps_cost") for name in results}
    cpu_cost = {name: median(name, "cpu_cost") for name in results}
    rps_met = _targets_met(rps_cost)
    cpu_met = _targets_met(cpu_cost)
    lines = [
        "| app | req/s | cost (req/s) | CPU µs/req | cost (CPU) | target | met (req/s, CPU) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for name in results:
        target = TARGETS.get(name)
        target_text = f"≤ {target:.0%}" if target is not None else ""
        met = ""
        if name in rps_met:
            met = f"{'yes' if rps_met[name] else 'NO'}, {'yes' if cpu_met[name] else 'NO'}"
        lines.append(
            f"| {name} | {rps[name]:,.0f} | {rps_cost[name]:+.1%} | {cpu[name]:.1f} "
            f"| {cpu_cost[name]:+.1%} | {target_text} | {met} |"
        )
    lines.append("")
    for label, cost in (("req/s", rps_cost), ("CPU", cpu_cost)):
        if not {FULL, OTEL, INSTRUMENTATOR} <= cost.keys():
            continue
        lines.append(
            f"By {label}: full perfbeacon telemetry costs {cost[FULL]:.1%}, the OTel FastAPI "
            f"instrumentation alone {cost[OTEL]:.1%}, prometheus-fastapi-instrumentator alone "
            f"{cost[INSTRUMENTATOR]:.1%}."
        )
    return "\n".join(lines), all(rps_met.values())


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--apps", nargs="*", default=[], help="only the apps whose names contain one of these"
    )
    parser.add_argument(
        "--log-dir", type=Path, default=None, help="where the servers' stderr (access logs) go"
    )
    args = parser.parse_args()
    names = [
        name
        for name in APPS
        if name == "bare" or not args.apps or any(a in name for a in args.apps)
    ]
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    with (
        tempfile.TemporaryDirectory(prefix="perfbeacon-bench-", dir=args.log_dir) as logs,
        servers(Path(logs), names) as urls,
    ):
        results = measure(
            urls, rounds=args.rounds, seconds=args.duration, connections=args.connections
        )
    table, all_met = report(results)
    print(
        f"wrk -t1 -c{args.connections}, {args.rounds} rounds of {args.duration} s runs, "
        f"each app between two bare runs, GET {ROUTE}\n"
    )
    print(table)
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
