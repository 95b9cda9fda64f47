"""Which site a beacon belongs to: by public key or by Origin, cached.

Hits are answered from memory for ``ttl`` seconds, and for longer while the
database cannot be reached, so beacons of known sites still reach the spool.
Misses go to the database every time a cached "no such site" has expired (after
at most a second), so a site created by another process (the CLI) is found by
the next beacon naming it: its key is new and random, so it cannot be cached as
missing before it exists.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import msgspec
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector.errors import Unavailable
from collector.sites import service as sites_service
from collector.sites.schemas import Site

MISSING_TTL_SECONDS = 1.0
MAX_ENTRIES = 10_000


class SitesUnavailable(Unavailable):
    """The database holding the sites cannot be reached."""

    code = "storage_unavailable"


class KnownSite(msgspec.Struct, frozen=True, gc=False):
    """The parts of a site the ingest path needs."""

    id: int
    key: str
    origins: frozenset[str]
    # None: the collector's default limit.
    rate_limit: int | None = None
    kept_params: frozenset[str] = frozenset()

    def allows(self, origin: str) -> bool:
        """Whether beacons from ``origin`` may be stored; a site without origins takes any."""
        return not self.origins or origin in self.origins


# Sites found (none, one, or for an origin several) and when that answer expires.
_Entry = tuple[tuple[KnownSite, ...], float]


class SiteCache:
    """Site lookups by key and by origin, cached with expiry.

    >>> cache = SiteCache(engine, ttl=30.0)
    >>> site = await cache.by_key("pk_...")        # KnownSite or None
    >>> sites = await cache.by_origin("https://shop.example")
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        ttl: float,
        missing_ttl: float = MISSING_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._ttl = ttl
        self._missing_ttl = min(missing_ttl, ttl)
        self._clock = clock
        self._by_key: dict[str, _Entry] = {}
        self._by_origin: dict[str, _Entry] = {}

    async def by_key(self, key: str) -> KnownSite | None:
        """The site with public key ``key``, or None."""
        entry = self._by_key.get(key)
        if entry is None or entry[1] <= self._clock():
            try:
                async with _sites_connection(self._engine) as conn:
                    site = await sites_service.find_site_by_key(conn=conn, key=key)
            except SitesUnavailable:
                if entry is None or not entry[0]:
                    raise
                return entry[0][0]  # stale beats nothing while the database is away
            entry = self._store(self._by_key, key, () if site is None else (_known(site),))
        found = entry[0]
        return found[0] if found else None

    async def by_origin(self, origin: str) -> tuple[KnownSite, ...]:
        """The sites that allow ``origin`` (usually one)."""
        entry = self._by_origin.get(origin)
        if entry is None or entry[1] <= self._clock():
            try:
                async with _sites_connection(self._engine) as conn:
                    found = await sites_service.find_sites_by_origin(conn=conn, origin=origin)
            except SitesUnavailable:
                if entry is None or not entry[0]:
                    raise
                return entry[0]  # stale beats nothing while the database is away
            entry = self._store(self._by_origin, origin, tuple(map(_known, found)))
        return entry[0]

    def clear(self) -> None:
        """Forget everything, e.g. after this process changed a site."""
        self._by_key.clear()
        self._by_origin.clear()

    def _store(self, cache: dict[str, _Entry], name: str, sites: tuple[KnownSite, ...]) -> _Entry:
        if len(cache) >= MAX_ENTRIES:
            # Oldest first: dicts keep insertion order.
            del cache[next(iter(cache))]
        ttl = self._ttl if sites else self._missing_ttl
        entry = cache[name] = (sites, self._clock() + ttl)
        return entry


@asynccontextmanager
async def _sites_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    try:
        async with engine.connect() as conn:
            yield conn
    except (DBAPIError, OSError, TimeoutError) as exc:
        raise SitesUnavailable("sites cannot be looked up right now; retry later") from exc


def _known(site: Site) -> KnownSite:
    return KnownSite(
        id=site.id,
        key=site.key,
        origins=frozenset(site.origins),
        rate_limit=site.rate_limit_per_minute,
        kept_params=frozenset(site.kept_query_params),
    )
