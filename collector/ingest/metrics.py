"""One decoded metric plus its beacon's context -> one validated, enriched EventRecord."""

from __future__ import annotations

import math
import uuid
from datetime import datetime

import msgspec

from collector.ingest.attribution import summarize_attribution
from collector.ingest.normalize import (
    MAX_PAGE_PATH,
    connection_of,
    country_of,
    kept_query_of,
    navigation_type_of,
    page_path_of,
)
from collector.ingest.schemas import (
    BareMetricIn,
    Connection,
    ConnectionInfo,
    Envelope,
    MetricIn,
    TypedEnvelope,
)
from collector.ingest.useragent import Client, client_of
from collector.route_groups import route_of
from collector.storage.records import EventRecord
from collector.vitals import MAX_VALUE, SOFT_NAVIGATION, rate

MAX_METRIC_ID = 128
MAX_DEVICE_MEMORY = 1024.0
SERVER_ID_PREFIX = "srv-"


class MetricRejected(Exception):
    """A metric that cannot be stored; ``reason`` says why, for the response."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BeaconDefaults(msgspec.Struct, gc=False):
    """What every metric of one beacon shares unless the metric says otherwise."""

    site_id: int
    ts: datetime
    page: str | None
    connection: str
    device_memory: float | None
    client: Client
    country: str | None
    # Query parameters the site keeps in stored page URLs.
    kept_params: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        *,
        site_id: int,
        ts: datetime,
        envelope: Envelope | TypedEnvelope,
        user_agent: str | None,
        country: str | None,
        referer: str | None,
        kept_params: frozenset[str] = frozenset(),
    ) -> BeaconDefaults:
        """The defaults from the envelope's page fields and the request headers."""
        return cls(
            site_id=site_id,
            ts=ts,
            # Browsers send only the origin as Referer to another origin, so the
            # page the snippet names comes first.
            page=envelope.page if envelope.page is not None else referer,
            connection=_connection(envelope.connection) or "unknown",
            device_memory=_device_memory(envelope.deviceMemory),
            client=client_of(user_agent),
            country=country_of(country),
            kept_params=kept_params,
        )


def to_record(metric: BareMetricIn, beacon: BeaconDefaults) -> EventRecord:
    """Validate ``metric`` and build its record, or raise MetricRejected."""
    name = metric.name
    limit = MAX_VALUE[name]
    value = metric.value
    # Written so that NaN fails too (every comparison with NaN is false).
    if not 0.0 <= value <= limit:
        raise MetricRejected(f"{name} value {value!r} is outside 0..{limit:g}")
    delta = metric.delta
    if delta is None:
        delta = value
    elif not -limit <= delta <= limit:
        raise MetricRejected(f"{name} delta {delta!r} is outside -{limit:g}..{limit:g}")
    navigation_type = navigation_type_of(metric.navigationType)
    page, path = _page_path(metric, beacon)
    attribution = (
        summarize_attribution(name, metric.attribution) if type(metric) is MetricIn else None
    )
    if navigation_type == SOFT_NAVIGATION and metric.navigationId is not None:
        attribution = {**(attribution or {}), "navigationId": str(metric.navigationId)[:64]}
    connection = beacon.connection if metric.connection is None else _connection(metric.connection)
    device_memory = beacon.device_memory
    if metric.deviceMemory is not None:
        device_memory = _device_memory(metric.deviceMemory) or device_memory
    client = beacon.client
    # Positional, in column order: the hot path builds one per metric.
    return EventRecord(
        beacon.site_id,
        beacon.ts,
        name,
        value,
        delta,
        rate(name, value).value,
        _metric_id(metric.id),
        navigation_type,
        _stored_page(page, path, beacon.kept_params),
        route_of(path),
        client.device,
        client.browser,
        client.os,
        connection or beacon.connection,
        device_memory,
        beacon.country,
        attribution,
    )


def _metric_id(raw: str | None) -> str:
    if raw is None:
        # Without an id a metric cannot be matched with its re-reports; store it alone.
        return SERVER_ID_PREFIX + uuid.uuid4().hex
    if not raw or len(raw) > MAX_METRIC_ID or not (raw.isascii() and raw.isprintable()):
        raise MetricRejected(
            f"id must be 1-{MAX_METRIC_ID} printable ASCII characters, like web-vitals' ids"
        )
    return raw


def _page_path(metric: BareMetricIn, beacon: BeaconDefaults) -> tuple[str | None, str]:
    """The page URL the metric belongs to, and its path."""
    # v6 names the URL the metric belongs to (a soft navigation's own URL); the page
    # the snippet read at send time may already be the next one.
    page = metric.navigationURL or metric.page or beacon.page
    if page is None:
        return None, "/"
    path = page_path_of(page)
    if path is None:
        raise MetricRejected(f"page {page[:100]!r} is not an http(s) URL or a path under 1 KiB")
    return page, path


def _stored_page(page: str | None, path: str, kept_params: frozenset[str]) -> str:
    """The page path as stored: with the site's kept query parameters, if they fit."""
    if not kept_params or page is None:
        return path
    query = kept_query_of(page, kept_params)
    return path + query if len(path) + len(query) <= MAX_PAGE_PATH else path


def _connection(value: Connection | None) -> str | None:
    if value is None:
        return None
    effective_type = value.effectiveType if isinstance(value, ConnectionInfo) else value
    return connection_of(effective_type) if effective_type is not None else None


def _device_memory(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or not 0 < value <= MAX_DEVICE_MEMORY:
        return None
    return value
