"""Beacon rate limits per site key and client address: a sliding-window counter.

Each (site key, client address) may send ``limit`` beacons a minute. The count is a
sliding-window estimate over two fixed windows (the previous minute weighted by how
much of it still overlaps the last 60 s, plus the current minute), as Cloudflare
and nginx-style limiters do; it needs two integers per key.

Decisions are made in memory, so a beacon never waits for Redis. With Redis, a
background task pushes each key's new hits every ``sync_interval`` seconds with one
atomic Lua script call (INCRBY and EXPIRE of the current window's key, GET of the
previous one) and takes back the totals of every collector; a key can overshoot by
what all collectors admit within one sync interval. If Redis cannot be reached, the
counts stay local (per process) and the failure is logged; nothing is refused for it.

Client addresses live only in this process's memory; Redis sees a keyed hash of
(site key, address), never the address, and nothing is stored or logged.

>>> limiter = RateLimiter(redis=None)
>>> limiter.check(site_key="pk_abc", address="203.0.113.9", limit=6000)   # or RateLimited
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from collector.errors import RateLimited

WINDOW_SECONDS = 60
SYNC_INTERVAL = timedelta(seconds=0.2)
MAX_KEYS = 200_000
_SYNC_CHUNK = 500

# KEYS: current and previous window key of each counter, in pairs.
# ARGV: the expiry in seconds, then the hits to add to each counter.
# Returns the current and previous window totals of each counter, in pairs.
_SYNC_SCRIPT = """
local totals = {}
for i = 1, #KEYS, 2 do
    local current = redis.call('INCRBY', KEYS[i], ARGV[(i + 1) / 2 + 1])
    redis.call('EXPIRE', KEYS[i], ARGV[1])
    totals[i] = current
    totals[i + 1] = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
end
return totals
"""

logger = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Counter:
    window: int
    current: int = 0
    previous: int = 0
    unsynced: int = 0


class RateLimiter:
    """In-memory sliding-window limits, shared through Redis when one is given."""

    def __init__(
        self,
        *,
        redis: Redis | None,
        key_prefix: str = "perfbeacon:rl:",
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
        on_limited: Callable[[], None] | None = None,
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix
        # Only hashes of (site, address) reach Redis; collectors sharing the secret
        # share counters.
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._clock = clock
        self._on_limited = on_limited
        self._counters: dict[tuple[str, str], _Counter] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._redis_failing = False

    def check(self, *, site_key: str, address: str | None, limit: int) -> None:
        """Count one beacon; RateLimited (with seconds to wait) when over ``limit`` a minute."""
        if limit <= 0:
            return
        now = self._clock()
        window, elapsed = divmod(now, WINDOW_SECONDS)
        key = (site_key, address or "")
        counter = self._counter(key, int(window))
        weight = 1 - elapsed / WINDOW_SECONDS
        if counter.previous * weight + counter.current + 1 > limit:
            if self._on_limited is not None:
                self._on_limited()
            self._dirty.add(key)  # learn other collectors' counts at the next sync
            raise RateLimited(
                f"over the limit of {limit} beacons a minute for this site and client",
                retry_after=_retry_after(counter, limit, elapsed),
            )
        counter.current += 1
        counter.unsynced += 1
        self._dirty.add(key)

    def _counter(self, key: tuple[str, str], window: int) -> _Counter:
        counter = self._counters.get(key)
        if counter is None:
            if len(self._counters) >= MAX_KEYS:
                self._forget_oldest()
            counter = self._counters[key] = _Counter(window)
        elif counter.window != window:
            recent = counter.window == window - 1
            counter.previous = counter.current if recent else 0
            counter.current, counter.unsynced, counter.window = 0, 0, window
        return counter

    def _forget_oldest(self) -> None:
        # Dicts keep insertion order: drop the first tenth, the longest known keys.
        for key in list(self._counters)[: MAX_KEYS // 10]:
            del self._counters[key]
            self._dirty.discard(key)

    async def sync(self) -> None:
        """Push new hits to Redis and take back every collector's totals; drop stale keys."""
        window = int(self._clock() // WINDOW_SECONDS)
        for key in [k for k, c in self._counters.items() if c.window < window - 1]:
            del self._counters[key]
            self._dirty.discard(key)
        if self._redis is None or not self._dirty:
            return
        dirty, self._dirty = list(self._dirty), set()
        for start in range(0, len(dirty), _SYNC_CHUNK):
            await self._sync_chunk(dirty[start : start + _SYNC_CHUNK], window)

    async def _sync_chunk(self, keys: list[tuple[str, str]], window: int) -> None:
        redis = self._redis
        if redis is None:
            return
        sent: list[tuple[tuple[str, str], _Counter, int]] = []
        names: list[str] = []
        for key in keys:
            counter = self._counters.get(key)
            if counter is None or counter.window != window:
                continue
            sent.append((key, counter, counter.unsynced))
            names.extend(self._redis_keys(key, window))
            counter.unsynced = 0
        if not sent:
            return
        try:
            totals = await redis.eval(
                _SYNC_SCRIPT, len(names), *names, WINDOW_SECONDS * 2, *(n for _, _, n in sent)
            )
        except (RedisError, OSError) as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # redis-py reports a cancelled command as a connection error.
                raise asyncio.CancelledError from exc
            for key, counter, hits in sent:
                counter.unsynced += hits  # push them with the next sync
                self._dirty.add(key)
            if not self._redis_failing:
                logger.warning("rate_limit_redis_unreachable", error=type(exc).__name__)
                self._redis_failing = True
            return
        if self._redis_failing:
            logger.info("rate_limit_redis_reachable_again")
            self._redis_failing = False
        for index, (_, counter, _) in enumerate(sent):
            if counter.window == window:
                # Hits admitted while the script ran are not in Redis's total yet.
                counter.current = int(totals[2 * index]) + counter.unsynced
                counter.previous = int(totals[2 * index + 1])

    def _redis_keys(self, key: tuple[str, str], window: int) -> tuple[str, str]:
        digest = hashlib.blake2b(
            f"{key[0]}\0{key[1]}".encode(), key=self._secret, digest_size=16
        ).hexdigest()
        # The hash tag keeps both windows of a counter in one Redis Cluster slot.
        name = f"{self._prefix}{{{digest}}}:"
        return f"{name}{window}", f"{name}{window - 1}"


def _retry_after(counter: _Counter, limit: int, elapsed: float) -> int:
    """Whole seconds until one more beacon fits under ``limit``."""
    room = limit - 1 - counter.current
    if room >= 0 and counter.previous > 0:
        # The previous window's weight must fall to room / previous.
        overlap_left = room / counter.previous
        wait = (1 - overlap_left) * WINDOW_SECONDS - elapsed
    else:
        # Only the next window helps: this one's count then weighs in decaying.
        next_window = WINDOW_SECONDS - elapsed
        decay = max(0.0, 1 - (limit - 1) / counter.current) if counter.current else 0.0
        wait = next_window + decay * WINDOW_SECONDS
    return max(1, math.ceil(wait))
