"""Shapes of sites as they enter and leave the service."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from collector.errors import InvalidInput

SITE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$"
_SITE_NAME = re.compile(SITE_NAME_PATTERN)
MAX_ORIGINS = 50
MAX_KEPT_PARAMS = 20


def validate_site_name(name: str) -> str:
    """A site name: 1–100 letters, digits, spaces, dots, dashes or underscores."""
    if not _SITE_NAME.fullmatch(name):
        raise InvalidInput(
            f"bad site name {name[:120]!r}: use 1-100 letters, digits, spaces, '.', '-' "
            "or '_', starting with a letter or digit",
            details={"field": "name"},
        )
    return name


_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_HOST_LENGTH = 253  # DNS


def normalize_origin(origin: str) -> str:
    """An origin as browsers send it (``https://host[:port]``), or InvalidInput.

    A trailing slash is tolerated; a path, query, fragment or credentials are not,
    because the browser's ``Origin`` header never carries them. The host is written
    as browsers write it: lower case, in ASCII (``xn--`` for international names),
    IPv6 in brackets, and the scheme's default port left out; otherwise a site made
    with ``https://Shop.example:443`` would refuse every beacon its pages send.
    """
    try:
        return _canonical_origin(origin.strip())
    except ValueError as exc:
        raise InvalidInput(
            f"bad origin {origin[:200]!r}: {exc}", details={"field": "origins"}
        ) from None


def _canonical_origin(origin: str) -> str:
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        raise ValueError("not a URL with a valid host and port (0-65535)") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError("the scheme must be http or https")
    if not parts.hostname:
        raise ValueError("a host is missing")
    if parts.username or parts.password:
        raise ValueError("credentials are not allowed")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("an origin has no path, query or fragment")
    host = _ascii_host(parts.hostname)
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}"


def _ascii_host(hostname: str) -> str:
    if ":" in hostname:  # an IPv6 address; urlsplit has checked its brackets
        return f"[{hostname}]"
    if len(hostname) > _MAX_HOST_LENGTH:
        raise ValueError(f"the host is longer than {_MAX_HOST_LENGTH} characters")
    try:
        return hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("the host is not a valid domain name") from None


@lru_cache(maxsize=4096)
def stored_origin(origin: str) -> str:
    """An origin read back from storage, in today's canonical form where it has one.

    Cached: every read request loads its site, and parsing an origin costs about 4 µs.
    """
    try:
        return _canonical_origin(origin)
    except ValueError:
        return origin


def _pydantic_origin(origin: str) -> str:
    try:
        return normalize_origin(origin)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


def _pydantic_name(name: str) -> str:
    try:
        return validate_site_name(name)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


Origin = Annotated[str, Field(max_length=300), AfterValidator(_pydantic_origin)]
SiteName = Annotated[str, Field(max_length=100), AfterValidator(_pydantic_name)]


class SiteCreate(BaseModel):
    """A request to create a site."""

    model_config = ConfigDict(extra="forbid")

    name: SiteName
    origins: list[Origin] = Field(default_factory=list, max_length=MAX_ORIGINS)


QueryParam = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-\[\]]+$")]


class SitePolicy(BaseModel):
    """Changes to a site's ingest policy; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    rate_limit_per_minute: int | None = Field(
        default=None, ge=0, le=10_000_000, description="null: the collector's default; 0: none"
    )
    kept_query_params: list[QueryParam] | None = Field(
        default=None, max_length=MAX_KEPT_PARAMS, description="kept in stored page URLs"
    )


class Site(BaseModel):
    """A stored site, without secrets."""

    id: int
    name: str
    key: str
    origins: list[str]
    created_at: datetime
    rate_limit_per_minute: int | None = None
    kept_query_params: list[str] = Field(default_factory=list)


class CreatedSite(Site):
    """A site just created: the only time its read token is shown."""

    read_token: str


class RotatedReadToken(BaseModel):
    """A site's new read token, shown this once; the previous one no longer works."""

    key: str
    read_token: str
