"""Settings: the one place that reads the environment (prefix ``PERFBEACON_``)."""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./perfbeacon.db"
ENV_PREFIX = "PERFBEACON_"

# Words of the secrets tutorials and templates show ("changeme-changeme-changeme",
# "your-admin-token-here"); a token holding one was typed, not generated.
_PLACEHOLDER_WORDS = (
    "changeme",
    "change-me",
    "change_me",
    "changethis",
    "placeholder",
    "your-",
    "your_",
)
_MIN_ADMIN_TOKEN_LENGTH = 16
# A generated token of 16+ characters has far more distinct ones ("xxxxxxxxxxxxxxxx" has one).
_MIN_DISTINCT_CHARACTERS = 8
_MIN_SESSION_SECRET_LENGTH = 32
# The schemes redis-py's from_url accepts.
_REDIS_SCHEMES = ("redis", "rediss", "unix")

TraceSampler = Literal[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
]


class InvalidSettings(Exception):
    """Raised with a one-line, user-facing message naming the bad variable."""


MAX_GAUGE_ROUTES = 20


class Settings(BaseSettings):
    """Runtime configuration, validated once at start and passed in everywhere."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # Fields named by a standard variable (OTEL_*, PROMETHEUS_MULTIPROC_DIR) can
        # still be given by field name in code.
        validate_by_name=True,
    )

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    admin_token: SecretStr | None = None
    # When set, /metrics answers only scrapers presenting it as a bearer token.
    metrics_token: SecretStr | None = None
    log_format: Literal["json", "console"] | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    retention_days: int = Field(default=90, ge=1, le=3650)
    partitions_ahead_days: int = Field(default=7, ge=1, le=90)
    lhr_retention_days: int = Field(default=30, ge=1, le=3650)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    gzip_minimum_size: int = Field(default=1000, ge=0)
    country_header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,64}$")
    ingest_batch_window_ms: float = Field(default=1.0, ge=0, le=100)
    ingest_queue_max_metrics: int = Field(default=50_000, ge=100)
    ingest_batch_max_metrics: int = Field(default=5_000, ge=1)
    ingest_recent_ids: int = Field(default=200_000, ge=0)
    ingest_commit_timeout: float = Field(default=10.0, gt=0, le=600)
    site_cache_seconds: float = Field(default=30.0, ge=0)
    spool_dir: Path = Path("perfbeacon-spool")
    spool_max_bytes: int = Field(default=256 * 1024 * 1024, ge=0)
    shutdown_timeout: float = Field(default=25.0, gt=0, le=3600)
    rate_limit_per_minute: int = Field(default=6000, ge=0)
    drop_bots: bool = True
    session_secret: SecretStr | None = None
    session_hours: int = Field(default=12, ge=1, le=24 * 90)

    # Proxies (addresses or networks, comma-separated) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed: rate limits then see the visitor, not the proxy.
    forwarded_allow_ips: str | None = None

    @field_validator("country_header", "forwarded_allow_ips", "redis_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - parsing the port raises ValueError when it is not one
        except ValueError as exc:
            raise ValueError(f"not a URL ({exc})") from None
        if parts.scheme not in _REDIS_SCHEMES:
            raise ValueError(
                "use redis://HOST:PORT/DB, rediss://HOST:PORT/DB or unix:///PATH/TO/SOCKET"
            )
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses_or_networks(cls, value: str | None) -> str | None:
        for entry in [] if value is None else value.split(","):
            if entry.strip() != "*":
                try:
                    ipaddress.ip_network(entry.strip(), strict=False)
                except ValueError:
                    raise ValueError(
                        f"not an IP address or network: {entry.strip()[:60]!r}"
                    ) from None
        return value

    access_log: bool = True
    # False: a beacon stored whole (204) gets its access line only at debug level.
    access_log_stored_beacons: bool = True
    rollup_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    # Field p75 gauges on /metrics: recomputed from the rollups every interval, over the
    # last window, for at most max_sites sites; per-route series only for the routes each
    # site (by name) lists here, at most MAX_GAUGE_ROUTES each.
    field_gauge_interval_seconds: float = Field(default=60.0, gt=0, le=3600)
    field_gauge_window_hours: int = Field(default=24, ge=1, le=168)
    field_gauge_max_sites: int = Field(default=50, ge=0, le=1000)
    field_gauge_routes: Annotated[dict[str, list[str]], NoDecode] = Field(default_factory=dict)

    @field_validator("field_gauge_routes", mode="before")
    @classmethod
    def _json_object(cls, value: object) -> object:
        # Decoded here rather than by pydantic-settings, whose SettingsError names no variable.
        if not isinstance(value, str):
            return value
        if not value.strip():
            return {}
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f'not JSON ({exc.msg} at character {exc.pos}); use {{"site name": ["/route", ...]}}'
            ) from None
        except RecursionError:
            raise ValueError("nested too deeply to read") from None

    @field_validator("field_gauge_routes")
    @classmethod
    def _bounded_gauge_routes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for site, routes in value.items():
            if len(routes) > MAX_GAUGE_ROUTES:
                raise ValueError(f"site {site!r}: at most {MAX_GAUGE_ROUTES} routes")
            bad = [route for route in routes if not route.startswith("/")]
            if bad:
                raise ValueError(f"site {site!r}: routes start with '/': {bad[0]!r}")
        return value

    # Standard variables read by other libraries too: prometheus-client and the
    # OpenTelemetry SDK read them themselves; perfbeacon reads the ones it decides on.
    prometheus_multiproc_dir: str | None = Field(
        default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR"
    )
    otel_sdk_disabled: bool = Field(default=False, validation_alias="OTEL_SDK_DISABLED")
    otel_service_name: str = Field(default="perfbeacon", validation_alias="OTEL_SERVICE_NAME")
    otel_traces_exporter: Literal["otlp", "console", "none"] | None = Field(
        default=None, validation_alias="OTEL_TRACES_EXPORTER"
    )
    otel_traces_sampler: TraceSampler | None = Field(
        default=None, validation_alias="OTEL_TRACES_SAMPLER"
    )
    otel_traces_sampler_arg: float | None = Field(
        default=None, ge=0, le=1, validation_alias="OTEL_TRACES_SAMPLER_ARG"
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"
        ),
    )

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB")
        return value

    @field_validator("admin_token", "metrics_token")
    @classmethod
    def _no_placeholder_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        secret = value.get_secret_value()
        if (
            len(secret) < _MIN_ADMIN_TOKEN_LENGTH
            or len(set(secret)) < _MIN_DISTINCT_CHARACTERS
            or any(word in secret.lower() for word in _PLACEHOLDER_WORDS)
        ):
            raise ValueError(
                f"must be a random secret of at least {_MIN_ADMIN_TOKEN_LENGTH} characters "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value

    @field_validator("session_secret")
    @classmethod
    def _long_enough_session_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        if len(value.get_secret_value()) < _MIN_SESSION_SECRET_LENGTH:
            raise ValueError(
                f"must be a random secret of at least {_MIN_SESSION_SECRET_LENGTH} characters"
            )
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _explicit_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if "*" in origin or not origin.startswith(("http://", "https://")):
                raise ValueError(
                    f"{origin[:100]!r} is not an origin: list origins such as "
                    "https://grafana.example, comma-separated (a wildcard is not allowed)"
                )
        return value

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite default."""
        return self.database_url.startswith("sqlite")

    def resolved_log_format(self) -> Literal["json", "console"]:
        """``console`` on a terminal, ``json`` otherwise, unless set explicitly."""
        if self.log_format is not None:
            return self.log_format
        return "console" if sys.stderr.isatty() else "json"


class BuildContextSettings(BaseSettings):
    """Lighthouse CI's build context variables (``LHCI_BUILD_CONTEXT__CURRENT_HASH``, ...),
    read by ``perfbeacon budget check``; git fills in what they leave out."""

    model_config = SettingsConfigDict(env_prefix="LHCI_BUILD_CONTEXT__", extra="ignore")

    current_hash: str | None = None
    current_branch: str | None = None
    ancestor_hash: str | None = None
    commit_message: str | None = None
    author: str | None = None
    avatar_url: str | None = None
    commit_time: str | None = None
    ancestor_commit_time: str | None = None
    external_build_url: str | None = None


def load_build_context_settings() -> BuildContextSettings:
    """The ``LHCI_BUILD_CONTEXT__*`` variables of the environment."""
    return BuildContextSettings()


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment, turning validation errors into one line."""
    try:
        # Overrides are whatever fields a caller names; pydantic validates each one.
        return Settings(**overrides)  # type: ignore[arg-type]  # mypy wants each field's type
    except ValidationError as exc:
        raise InvalidSettings(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """Name the environment variable of the first bad field and say what is wrong."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    message = str(first["msg"]).removeprefix("Value error, ")
    # Standard variables (OTEL_*, PROMETHEUS_*) are named as they are, without the prefix.
    variable = field if field.isupper() else f"{ENV_PREFIX}{field.upper()}"
    return f"invalid setting {variable}: {message}"
