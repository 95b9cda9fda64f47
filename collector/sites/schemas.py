"""Shapes of sites as they enter and leave the service."""

from __future__ import annotations

import re
from datetime import datetime
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


def normalize_origin(origin: str) -> str:
    """An origin as browsers send it (``https://host[:port]``), or InvalidInput.

    A trailing slash is tolerated; a path, query, fragment or credentials are not,
    because the browser's ``Origin`` header never carries them.
    """
    parts = urlsplit(origin.strip())
    problem = None
    if parts.scheme not in ("http", "https"):
        problem = "the scheme must be http or https"
    elif not parts.hostname:
        problem = "a host is missing"
    elif parts.username or parts.password:
        problem = "credentials are not allowed"
    elif parts.path not in ("", "/") or parts.query or parts.fragment:
        problem = "an origin has no path, query or fragment"
    else:
        try:
            port = parts.port
        except ValueError:
            problem = "the port is not a number between 0 and 65535"
    if problem is not None:
        raise InvalidInput(f"bad origin {origin[:200]!r}: {problem}", details={"field": "origins"})
    netloc = parts.hostname if port is None else f"{parts.hostname}:{port}"
    return f"{parts.scheme}://{netloc}"


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
