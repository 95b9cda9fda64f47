"""Rate limits per site key and client address: in memory, through the real Redis, and over HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from collector.config import Settings
from collector.errors import RateLimited
from collector.security.ratelimit import WINDOW_SECONDS, RateLimiter
from collector.sites.schemas import CreatedSite
from tests.conftest import ADMIN_TOKEN
from tests.ingest.conftest import ORIGIN, post_beacon
from tests.processes import perfbeacon_env, run_perfbeacon, serving

REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = b"shared-by-every-collector-of-one-install"


class Clock:
    """A settable wall clock, starting at the beginning of a window."""

    def __init__(self) -> None:
        self.now = 1_000 * WINDOW_SECONDS

    def __call__(self) -> float:
        return self.now


def admitted(
    limiter: RateLimiter, times: int, *, site: str = "pk_a", address: str = "203.0.113.9"
) -> int:
    """How many of ``times`` beacons the limiter lets through (limit 10)."""
    count = 0
    for _ in range(times):
        try:
            limiter.check(site_key=site, address=address, limit=10)
        except RateLimited:
            continue
        count += 1
    return count


def test_memory_limits_each_site_and_address_on_its_own() -> None:
    limiter = RateLimiter(redis=None, clock=Clock())
    assert admitted(limiter, 15) == 10
    assert admitted(limiter, 15, address="198.51.100.7") == 10
    assert admitted(limiter, 15, site="pk_b") == 10


def test_the_window_slides() -> None:
    clock = Clock()
    limiter = RateLimiter(redis=None, clock=clock)
    assert admitted(limiter, 10) == 10
    with pytest.raises(RateLimited) as refused:
        limiter.check(site_key="pk_a", address="203.0.113.9", limit=10)
    # The whole window's count weighs in until the next window has run 1/10 of its length.
    assert refused.value.retry_after == WINDOW_SECONDS + 6
    assert refused.value.details == {"retryAfter": WINDOW_SECONDS + 6}
    clock.now += WINDOW_SECONDS * 1.5  # half the previous window still overlaps
    assert admitted(limiter, 10) == 5
    clock.now += WINDOW_SECONDS * 2  # nothing overlaps any more
    assert admitted(limiter, 15) == 10


def test_a_limit_of_zero_turns_limits_off() -> None:
    limiter = RateLimiter(redis=None, clock=Clock())
    for _ in range(100):
        limiter.check(site_key="pk_a", address="a", limit=0)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix private to the test on the real Redis; its keys are deleted after."""
    prefix = f"perfbeacon-test:{uuid.uuid4().hex}:"
    yield prefix
    redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


async def test_collectors_share_counts_through_redis(redis_prefix: str) -> None:
    clock = Clock()
    clients = [Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)]
    first, second = (
        RateLimiter(redis=client, key_prefix=redis_prefix, secret=SECRET, clock=clock)
        for client in clients
    )
    try:
        assert admitted(first, 6) == 6
        assert admitted(second, 6) == 6  # neither knows of the other yet
        await first.sync()
        await second.sync()
        # The second one pushed its 6 last and took back the total: 12 of 10.
        assert admitted(second, 1) == 0
        # The first learns of them at its next sync, after at most one more beacon.
        assert admitted(first, 1) == 1
        await first.sync()
        assert admitted(first, 1) == 0
        stored = [key async for key in clients[0].scan_iter(match=f"{redis_prefix}*")]
        assert stored, "the counters were not written to Redis"
        # Redis holds a keyed hash, never the address nor the site key.
        assert not any(b"203.0.113.9" in key or b"pk_a" in key for key in stored)
        ttls = [await clients[0].ttl(key) for key in stored]
        assert all(0 < ttl <= 2 * WINDOW_SECONDS for ttl in ttls)
    finally:
        for client in clients:
            await client.aclose()


async def test_an_unreachable_redis_falls_back_to_memory() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    limiter = RateLimiter(redis=dead, secret=SECRET, clock=Clock())
    try:
        assert admitted(limiter, 6) == 6
        await limiter.sync()  # logs, does not raise
        assert admitted(limiter, 6) == 4
    finally:
        await dead.aclose()


@pytest.fixture(params=["memory", "redis"])
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    """A collector allowing 5 beacons a minute per site and client address."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
        rate_limit_per_minute=5,
        redis_url=REDIS_URL if request.param == "redis" else None,
    )


async def test_over_the_limit_answers_429_with_retry_after(
    client: httpx.AsyncClient, site: CreatedSite
) -> None:
    body = [{"name": "LCP", "value": 1200, "id": "v5-1-1", "delta": 1200}]
    for _ in range(5):
        assert (await post_beacon(client, body, key=site.key)).status_code == 204
    refused = await post_beacon(client, body, key=site.key)
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 2 * WINDOW_SECONDS
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"] == {"retryAfter": retry_after}
    assert "127.0.0.1" not in refused.text
    metrics = (await client.get("/metrics")).text
    assert "perfbeacon_rate_limited_total 1.0" in metrics


@pytest.mark.parametrize("trusted", [True, False])
async def test_forwarded_addresses_count_only_from_trusted_proxies(
    tmp_path: Path, trusted: bool
) -> None:
    """Behind a named proxy each visitor has its own limit; otherwise the header is
    ignored, so nobody can pick the address they are limited under."""
    extra = {"PERFBEACON_RATE_LIMIT_PER_MINUTE": "2"}
    if trusted:
        extra["PERFBEACON_FORWARDED_ALLOW_IPS"] = "127.0.0.1"
    env = perfbeacon_env("sqlite+aiosqlite:///./perfbeacon.db", **extra)
    created = run_perfbeacon("site", "create", "shop", "--origin", ORIGIN, env=env, cwd=tmp_path)
    key = json.loads(created.stdout)["key"]
    body = [{"name": "LCP", "value": 1200, "id": "v5-1-1", "delta": 1200}]

    async def send(visitor: str) -> int:
        forwarded = {"X-Forwarded-For": visitor}
        response = await post_beacon(client, body, key=key, headers=forwarded)
        return response.status_code

    with serving(env=env, cwd=tmp_path) as (base_url, _):
        async with httpx.AsyncClient(base_url=base_url) as client:
            first = [await send("203.0.113.1") for _ in range(3)]
            second = await send("203.0.113.2")
    assert first == [204, 204, 429]
    assert second == (204 if trusted else 429)
