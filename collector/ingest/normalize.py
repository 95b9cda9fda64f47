"""Turn what a page sent into clean dimension values: paths, connection, country (routes:
``collector.route_groups``).

Every function here is pure and cheap; the ones fed by values that repeat across
beacons (paths) are cached.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from collector.vitals import CONNECTION_TYPES, NAVIGATION_TYPES, OTHER_NAVIGATION, UNKNOWN

MAX_PAGE_PATH = 1024
MAX_KEPT_QUERY = 256
_COUNTRY = re.compile(r"[A-Za-z]{2}")
# Codes proxies use for "no country": unknown, Tor.
_NO_COUNTRY = frozenset({"xx", "zz"})


def navigation_type_of(raw: str | None) -> str:
    """A web-vitals navigation type; ``navigate`` when absent, ``other`` when unknown."""
    if raw is None:
        return "navigate"
    value = raw.replace("_", "-")
    return value if value in NAVIGATION_TYPES else OTHER_NAVIGATION


def connection_of(effective_type: str | None) -> str:
    """The Network Information API's effective type, or ``unknown``."""
    if effective_type is None:
        return UNKNOWN
    value = effective_type.strip().lower()
    return value if value in CONNECTION_TYPES else UNKNOWN


def country_of(header_value: str | None) -> str | None:
    """A lower-case ISO 3166 alpha-2 code from a trusted proxy header, or None."""
    if header_value is None:
        return None
    value = header_value.strip()
    if not _COUNTRY.fullmatch(value):
        return None
    code = value.lower()
    return None if code in _NO_COUNTRY else code


def clean_text(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, without NUL (which PostgreSQL refuses)."""
    value = value[:limit]
    return value.replace("\x00", "") if "\x00" in value else value


# What may stand unescaped in a path (RFC 3986 pchar and "/"), "%" of escapes included.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")


def _upper_escape(match: re.Match[str]) -> str:
    return match.group(0).upper()


@lru_cache(maxsize=16_384)
def page_path_of(page: str) -> str | None:
    """The path of a page URL or path, without query string or fragment.

    None when the page is not something a browser location could be.
    """
    if "\x00" in page:
        return None
    try:
        parts = urlsplit(page.strip())
    except ValueError:
        return None
    if parts.scheme and parts.scheme not in ("http", "https"):
        return None
    # Browsers send paths percent-encoded (location.href); a hand-written sender may not,
    # and /café must not be a route apart from /caf%C3%A9. Escapes already there stay.
    path = _ESCAPE.sub(_upper_escape, quote(parts.path or "/", safe=_PATH_SAFE))
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > MAX_PAGE_PATH:
        return None
    return path


@lru_cache(maxsize=16_384)
def kept_query_of(page: str, kept: frozenset[str]) -> str:
    """``?name=value&...`` of the parameters of ``page`` named in ``kept``, or "".

    Page URLs lose their query by default, as it may carry tokens or personal data;
    a site keeps the parameters it names (campaign tags, say). The stored page path
    stays within its column: a query that would not fit is dropped whole.
    """
    try:
        query = urlsplit(page.strip()).query
    except ValueError:
        return ""
    pairs = [(name, value) for name, value in parse_qsl(query) if name in kept]
    if not pairs:
        return ""
    text = clean_text("?" + urlencode(pairs), MAX_KEPT_QUERY)
    return text if len(text) < MAX_KEPT_QUERY else ""
