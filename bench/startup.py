"""How long ``perfbeacon serve`` takes to answer, against a bare uvicorn app, in one run.

Each round starts, on a fresh empty SQLite database, ``perfbeacon serve`` (which
migrates first) and then ``uvicorn`` serving the bare FastAPI app of
``bench/bare_app.py``, and times each from the spawn to its first 200 (``/health``
and then ``/ready`` for perfbeacon, ``/openapi.json`` for the bare app). Prints the
medians, their ratio, and whether perfbeacon met its 5-second promise every time.

    python bench/startup.py --rounds 7
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMISE_SECONDS = 5.0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_to_answer(
    command: Sequence[str], urls: Sequence[str], cwd: Path, env: dict[str, str]
) -> float:
    """Seconds from spawning ``command`` until every URL has answered 200, in order."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for url in urls:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{command[0]} exited early")
                if answers_200(url):
                    break
                time.sleep(0.01)
        return time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def answers_200(url: str) -> bool:
    """Whether a GET of ``url`` answers 200 (plain http.client: polling must stay cheap)."""
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=0.5)
    try:
        connection.request("GET", "/" + path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def perfbeacon_once(bin_dir: Path) -> float:
    """One cold start of ``perfbeacon serve`` on a new SQLite database."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERFBEACON_")}
    with tempfile.TemporaryDirectory() as directory:
        base = f"http://127.0.0.1:{port}"
        return time_to_answer(
            [str(bin_dir / "perfbeacon"), "serve", "--port", str(port)],
            [f"{base}/health", f"{base}/ready"],
            Path(directory),
            env,
        )


def bare_once(bin_dir: Path) -> float:
    """One cold start of uvicorn serving the bare FastAPI app."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return time_to_answer(
        [
            str(bin_dir / "uvicorn"),
            "bench.bare_app:create_bare_app",
            "--factory",
            "--port",
            str(port),
            "--no-access-log",
        ],
        [f"http://127.0.0.1:{port}/openapi.json"],
        ROOT,
        env,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    bin_dir = Path(sys.executable).parent
    perfbeacon: list[float] = []
    bare: list[float] = []
    for round_number in range(1, args.rounds + 1):
        perfbeacon.append(perfbeacon_once(bin_dir))
        bare.append(bare_once(bin_dir))
        print(f"round {round_number}: perfbeacon {perfbeacon[-1]:.2f} s, bare {bare[-1]:.2f} s")
    p_median, b_median = statistics.median(perfbeacon), statistics.median(bare)
    print()
    print("| server | median s | max s |")
    print("| --- | ---: | ---: |")
    slowest = max(perfbeacon)
    print(f"| perfbeacon serve (migrate + start), to /ready 200 | {p_median:.2f} | {slowest:.2f} |")
    print(f"| bare FastAPI app under uvicorn, to first 200 | {b_median:.2f} | {max(bare):.2f} |")
    print(f"\nratio perfbeacon / bare: {p_median / b_median:.2f}x")
    within = sum(seconds <= PROMISE_SECONDS for seconds in perfbeacon)
    print(f"perfbeacon ready within {PROMISE_SECONDS:.0f} s: {within} of {len(perfbeacon)} starts")


if __name__ == "__main__":
    main()
