"""Structured logs: JSON lines in production, a readable console format in development.

perfbeacon logs with structlog; records of the standard library (uvicorn, SQLAlchemy,
OpenTelemetry) go through the same processors to the same stream, so every line has
the same shape, the request id and trace id bound for the request, and secrets
(``Authorization``, cookies, tokens, site read tokens) redacted. Beacon payloads
(``payload``, ``body``, ``beacon`` keys) only appear at debug level.

>>> configure_logging(settings)
>>> structlog.get_logger(__name__).info("site_created", site="shop")
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal, TextIO

import msgspec
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from collector.config import Settings

LogFormat = Literal["json", "console"]

REDACTED = "[redacted]"
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "proxy_authorization",
        "cookie",
        "cookies",
        "set-cookie",
        "set_cookie",
        "password",
        "secret",
        "api_key",
        "x-api-key",
    }
)
PAYLOAD_KEYS = frozenset({"payload", "body", "beacon"})
# Bearer/Basic credentials and site read tokens (``pbr_...``) inside free text.
_SECRET_IN_TEXT = re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+|\bpbr_[\w-]+")
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

_json_encoder = msgspec.json.Encoder(enc_hook=str)


def _is_sensitive_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in SENSITIVE_KEYS or lowered.endswith("token")


def _mask_secret(match: re.Match[str]) -> str:
    scheme = match.group(1)
    return f"{scheme} {REDACTED}" if scheme else REDACTED


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return _SECRET_IN_TEXT.sub(_mask_secret, value) if _SECRET_IN_TEXT.search(value) else value
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(key, str) and _is_sensitive_key(key) else _redacted(item)
            for key, item in value.items()
        }
    return value


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Replace credentials, cookies and tokens, by key or inside text, with ``[redacted]``."""
    for key, value in event_dict.items():
        if _is_sensitive_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str | Mapping):
            event_dict[key] = _redacted(value)
    return event_dict


def omit_payloads_above_debug(
    _logger: WrappedLogger, method: str, event_dict: EventDict
) -> EventDict:
    """Keep beacon payloads out of every line but debug ones (they are large and personal)."""
    if method != "debug":
        for key in PAYLOAD_KEYS.intersection(event_dict):
            event_dict[key] = "[omitted below debug level]"
    return event_dict


def _json_dumps(event_dict: MutableMapping[str, Any], **_options: Any) -> str:
    return _json_encoder.encode(event_dict).decode()


def shared_processors(log_format: LogFormat) -> list[Processor]:
    """The processors every line goes through, from structlog or the standard library."""
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        omit_payloads_above_debug,
    ]
    if log_format == "json":
        # The console renderer formats exceptions itself, prettier.
        processors.append(structlog.processors.format_exc_info)
    processors.append(redact_secrets)
    return processors


def renderer(log_format: LogFormat, stream: TextIO) -> Processor:
    """The last processor: one JSON object per line, or a coloured line on a terminal."""
    if log_format == "json":
        return structlog.processors.JSONRenderer(serializer=_json_dumps)
    return structlog.dev.ConsoleRenderer(colors=stream.isatty())


class LineWriter:
    """Writes each rendered line to a stream (``sys.stderr`` as it is at write time).

    One lock per process keeps lines from structlog and from the standard library
    whole; ``name`` is what ``add_logger_name`` reports.
    """

    _lock = threading.Lock()

    def __init__(self, name: str = "perfbeacon", stream: TextIO | None = None) -> None:
        self.name = name
        self._stream = stream

    def msg(self, message: str) -> None:
        """Write ``message`` as one line and flush it."""
        stream = self._stream or sys.stderr
        with self._lock:
            stream.write(message + "\n")
            stream.flush()

    debug = info = warning = warn = error = critical = exception = fatal = msg


class LineWriterFactory:
    """Builds a ``LineWriter`` per ``structlog.get_logger(name)``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def __call__(self, *args: Any) -> LineWriter:
        """A writer named after the first argument given to ``get_logger``."""
        return LineWriter(str(args[0]) if args else "perfbeacon", self._stream)


class StructlogHandler(logging.Handler):
    """Sends standard-library records through perfbeacon's processors to the same stream."""

    def __init__(self, log_format: LogFormat = "json", stream: TextIO | None = None) -> None:
        super().__init__()
        self.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=shared_processors(log_format),
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    renderer(log_format, stream or sys.stderr),
                ],
            )
        )
        self._out = LineWriter(stream=stream)

    def emit(self, record: logging.LogRecord) -> None:
        """Format ``record`` as one line and write it."""
        try:
            self._out.msg(self.format(record))
        except Exception:
            self.handleError(record)


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library's root logger for this process.

    Lines go to ``stream``, or to ``sys.stderr`` as it is when each line is written.
    """
    log_format = settings.resolved_log_format()
    level = _LEVELS[settings.log_level]
    structlog.configure(
        processors=[*shared_processors(log_format), renderer(log_format, stream or sys.stderr)],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=LineWriterFactory(stream),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StructlogHandler)]:
        root.removeHandler(handler)
    root.addHandler(StructlogHandler(log_format, stream))
    # Libraries log at warning and above: SQLAlchemy would otherwise log every
    # statement with its parameters at info.
    root.setLevel(max(level, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.setLevel(level)
        uvicorn_logger.propagate = True


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn: its records in perfbeacon's format."""
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "perfbeacon": {
                "class": f"{__name__}.StructlogHandler",
                "log_format": settings.resolved_log_format(),
            }
        },
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            # perfbeacon writes its own access line, with route, request id and trace id.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["perfbeacon"], "level": "WARNING"},
    }
