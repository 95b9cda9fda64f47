"""Beacon ingestion: decode, name the site, validate and enrich each metric, write.

Knows nothing of HTTP: the endpoint hands it the body and the request facts it
needs, and maps its domain errors to responses.

>>> ingestor = BeaconIngestor(sites=site_cache, writer=writer)
>>> result = await ingestor.ingest(body=b'[{"name":"LCP","value":1200,"id":"v5-1-2"}]',
...                                request=BeaconRequest(origin="https://shop.example"))
>>> result.accepted
1
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec

from collector.errors import Forbidden, InvalidInput, NotFound
from collector.ingest.metrics import BeaconDefaults, MetricRejected, to_record
from collector.ingest.schemas import (
    BareMetricIn,
    Body,
    Envelope,
    MetricIn,
    PartialResult,
    Rejection,
    TypedBody,
    TypedEnvelope,
)
from collector.ingest.useragent import is_bot
from collector.ingest.writer import EventWriter
from collector.security.ratelimit import RateLimiter
from collector.sites.cache import KnownSite, SiteCache
from collector.storage.records import EventRecord
from collector.telemetry.metrics import Metrics

MAX_METRICS_PER_BEACON = 100
MAX_KEY_LENGTH = 64
MAX_REJECTIONS_LISTED = 50
# The metric label of a rejection whose metric could not be read.
UNKNOWN_METRIC = "other"

_decode_typed_body = msgspec.json.Decoder(TypedBody).decode
_decode_body = msgspec.json.Decoder(Body).decode
_decode_metric = msgspec.json.Decoder(MetricIn).decode
_decode_bare_metric = msgspec.json.Decoder(BareMetricIn).decode
_NO_ENVELOPE = Envelope()

# msgspec raises RecursionError for nesting past its depth limit.
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


class BadBeacon(InvalidInput):
    """The body is not a beacon, or none of its metrics could be stored."""

    code = "bad_beacon"


class SiteRequired(InvalidInput):
    """Nothing in the request names a site."""

    code = "site_required"


class UnknownSite(NotFound):
    """The site key names no site."""

    code = "unknown_site"


class OriginNotAllowed(Forbidden):
    """The page's origin is not one the site allows."""

    code = "origin_not_allowed"


class BotDropped(Forbidden):
    """The beacon came from a crawler or a headless browser, whose timings are not visitors'."""

    code = "bot_dropped"


class BeaconRequest(msgspec.Struct, gc=False):
    """What the ingest path reads from the HTTP request besides the body."""

    origin: str | None = None
    site_key: str | None = None
    user_agent: str | None = None
    country: str | None = None
    referer: str | None = None
    # Used for rate limits only, in memory; never stored or logged.
    client_address: str | None = None


class IngestResult(msgspec.Struct, gc=False):
    """How many metrics were stored, and which were not."""

    accepted: int
    rejected: list[Rejection]

    @property
    def complete(self) -> bool:
        """Every metric of the beacon was stored."""
        return not self.rejected

    def partial_body(self) -> PartialResult:
        """The 200 body: counts and the first rejections."""
        return PartialResult(
            accepted=self.accepted,
            rejected=self.rejected[:MAX_REJECTIONS_LISTED],
            rejected_total=len(self.rejected),
        )


class BeaconIngestor:
    """Turns beacon bodies into committed events."""

    def __init__(
        self,
        *,
        sites: SiteCache,
        writer: EventWriter,
        metrics: Metrics | None = None,
        limiter: RateLimiter | None = None,
        rate_limit_per_minute: int = 0,
        drop_bots: bool = False,
    ) -> None:
        self._sites = sites
        self._writer = writer
        self._metrics = metrics
        self._limiter = limiter
        self._rate_limit = rate_limit_per_minute
        self._drop_bots = drop_bots

    async def resolve_site(self, *, key: str | None, origin: str | None) -> KnownSite:
        """The site named by ``key``, else the one allowing ``origin``; checks the origin."""
        if key is not None:
            site = await self._sites.by_key(key) if _plausible_key(key) else None
            if site is None:
                raise UnknownSite(f"no site has the key {key[:64]!r}")
            if origin is not None and not site.allows(origin):
                raise OriginNotAllowed(
                    f"the site does not allow beacons from {origin[:200]!r}",
                    details={"origin": origin[:200]},
                )
            return site
        if origin is None:
            raise SiteRequired(
                "name the site: a 'site' field in the body, ?site=KEY, or an allowed Origin"
            )
        candidates = await self._sites.by_origin(origin)
        if not candidates:
            raise OriginNotAllowed(
                f"no site allows beacons from {origin[:200]!r}; send the site key",
                details={"origin": origin[:200]},
            )
        if len(candidates) > 1:
            raise SiteRequired(f"several sites allow {origin[:200]!r}; send the site key")
        return candidates[0]

    async def ingest(self, *, body: bytes, request: BeaconRequest) -> IngestResult:
        """Store the beacon's valid metrics; return once they are committed."""
        if not body.strip():
            raise BadBeacon("the body is empty; send a JSON metric, array or envelope")
        if self._drop_bots and is_bot(request.user_agent):
            raise BotDropped("beacons from crawlers and headless browsers are not stored")
        envelope, raw_metrics = _split(body)
        key = envelope.site if envelope.site is not None else request.site_key
        site = await self.resolve_site(key=key, origin=request.origin)
        if self._limiter is not None:
            limit = self._rate_limit if site.rate_limit is None else site.rate_limit
            self._limiter.check(site_key=site.key, address=request.client_address, limit=limit)
        defaults = BeaconDefaults.of(
            site_id=site.id,
            kept_params=site.kept_params,
            ts=datetime.now(UTC),
            envelope=envelope,
            user_agent=request.user_agent,
            country=request.country,
            referer=request.referer,
        )
        records, rejected, rejected_labels = _records(raw_metrics, defaults)
        if self._metrics is not None:
            for metric, reason in rejected_labels:
                self._metrics.metric_rejected(metric=metric, reason=reason)
        if not records:
            raise BadBeacon(
                "no metric in the beacon could be stored",
                details={"rejected": [msgspec.to_builtins(r) for r in rejected[:20]]},
            )
        await self._writer.write(records)
        if self._metrics is not None:
            for metric, count in Counter(record.metric for record in records).items():
                self._metrics.metrics_accepted(metric=metric, count=count)
        return IngestResult(accepted=len(records), rejected=rejected)


def _plausible_key(key: str) -> bool:
    # Keys are short printable ASCII; anything else cannot name a site, and must
    # not reach the database (PostgreSQL refuses NUL in text).
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


def _split(body: bytes) -> tuple[Envelope | TypedEnvelope, Sequence[msgspec.Raw | BareMetricIn]]:
    """The envelope and its metrics: decoded in one pass if all are well-formed."""
    try:
        typed = _decode_typed_body(body)
    except msgspec.ValidationError:
        return _split_raw(body)
    except _DECODE_ERRORS as exc:
        raise BadBeacon(f"the body is not JSON: {exc}") from None
    if isinstance(typed, list):
        return _NO_ENVELOPE, typed
    if typed.metrics is not None:
        return typed, typed.metrics
    # One metric object: the envelope pass skipped its metric fields.
    return typed, [msgspec.Raw(body)]


def _split_raw(body: bytes) -> tuple[Envelope, list[msgspec.Raw]]:
    """The slow path: the envelope, with each metric left as raw JSON."""
    try:
        decoded = _decode_body(body)
    except _DECODE_ERRORS as exc:
        raise BadBeacon(f"the beacon is not valid: {exc}") from None
    if isinstance(decoded, list):
        return _NO_ENVELOPE, decoded
    if decoded.metrics is not None:
        return decoded, decoded.metrics
    return decoded, [msgspec.Raw(body)]


def _decoded(raw: msgspec.Raw | BareMetricIn) -> BareMetricIn:
    """A metric decoded on its own; a malformed attribution is dropped, not fatal."""
    if isinstance(raw, BareMetricIn):
        return raw
    try:
        return _decode_metric(raw)
    except msgspec.ValidationError:
        # Attribution only explains a value: keep the value if the rest is sound.
        return _decode_bare_metric(raw)


def _records(
    raw_metrics: Sequence[msgspec.Raw | BareMetricIn], defaults: BeaconDefaults
) -> tuple[list[EventRecord], list[Rejection], list[tuple[str, str]]]:
    """The records to store, the rejections to answer, and (metric, reason) to count."""
    records: list[EventRecord] = []
    rejected: list[Rejection] = []
    labels: list[tuple[str, str]] = []
    for index, raw in enumerate(raw_metrics):
        if index >= MAX_METRICS_PER_BEACON:
            rejected.append(
                Rejection(index, f"over the limit of {MAX_METRICS_PER_BEACON} metrics a beacon")
            )
            labels.append((UNKNOWN_METRIC, "over_metric_limit"))
            continue
        name = UNKNOWN_METRIC
        try:
            metric = _decoded(raw)
            name = metric.name
            records.append(to_record(metric, defaults))
        except _DECODE_ERRORS as exc:
            rejected.append(Rejection(index, str(exc)))
            labels.append((name, "undecodable"))
        except MetricRejected as exc:
            rejected.append(Rejection(index, exc.reason))
            labels.append((name, "invalid"))
    return records, rejected, labels
