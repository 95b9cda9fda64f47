"""Waiting for something another process or task does, in one place.

    rows = wait_until(lambda: read_rows(url), done=lambda rows: len(rows) == 3, within=15)
    assert len(rows) == 3          # the caller still says what it expected

Both helpers return the probe's last value, satisfied or not, so the assertion that
follows shows what was there when time ran out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def _truthy(value: object) -> bool:
    return bool(value)


def wait_until(
    probe: Callable[[], T],
    *,
    done: Callable[[T], bool] = _truthy,
    within: float,
    interval: float = 0.1,
) -> T:
    """Call ``probe`` every ``interval`` seconds until ``done`` holds of its value, or
    ``within`` seconds have passed; the last value."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if done(value) or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


async def wait_until_async(
    probe: Callable[[], Awaitable[T]],
    *,
    done: Callable[[T], bool] = _truthy,
    within: float,
    interval: float = 0.05,
) -> T:
    """``wait_until`` for a coroutine probe, sleeping without blocking the event loop."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if done(value) or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(interval)
