"""In-process CPU cost per request of each app in ``bench/middleware_apps.py``, no network.

Calls each app's ASGI interface directly with the same GET request and measures
process CPU time, keeping the best of several interleaved rounds: the figure other
load on a shared machine disturbs least. It complements ``bench/middleware.py``
(wrk over HTTP) by isolating what the instrumentation itself costs.

    python bench/middleware_micro.py [--rounds 10] [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from starlette.types import ASGIApp, Message

from bench.middleware_apps import APPS, ROUTE

SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": ROUTE,
    "raw_path": ROUTE.encode(),
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
    "client": ("127.0.0.1", 40000),
    "server": ("127.0.0.1", 8000),
}


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(_message: Message) -> None:
    return None


async def cpu_per_request(app: ASGIApp, requests: int) -> float:
    """Microseconds of process CPU time per request over ``requests`` requests."""
    started = time.process_time()
    for _ in range(requests):
        await app(dict(SCOPE), _receive, _send)
    return (time.process_time() - started) / requests * 1e6


async def main(rounds: int, requests: int) -> None:
    """Measure every app, print a Markdown table."""
    apps = {name: factory() for name, factory in APPS.items()}
    best = dict.fromkeys(apps, float("inf"))
    async with AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        for app in apps.values():
            await cpu_per_request(app, requests // 10)  # warm up
        for _ in range(rounds):
            for name, app in apps.items():
                best[name] = min(best[name], await cpu_per_request(app, requests))
    bare = best["bare"]
    print(f"in-process, best of {rounds} rounds of {requests} requests, GET {ROUTE}\n")
    print("| app | CPU µs/request | added µs | added vs bare |")
    print("| --- | ---: | ---: | ---: |")
    for name, value in best.items():
        print(f"| {name} | {value:.1f} | {value - bare:+.1f} | {value / bare - 1:+.1%} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=3000)
    arguments = parser.parse_args()
    # The access lines go to stderr: keep them out of the table.
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    asyncio.run(main(arguments.rounds, arguments.requests))
