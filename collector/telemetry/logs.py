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
import time
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal, TextIO

import msgspec
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from collector.config import Settings
from collector.telemetry.context import merge_request_context

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

JSON_ENCODER = msgspec.json.Encoder(enc_hook=str)


# Keys repeat from line to line: remember the verdict for each (a bounded cache).
_key_verdicts: dict[str, bool] = {}
_MAX_REMEMBERED_KEYS = 4096


def _is_sensitive_key(key: str) -> bool:
    verdict = _key_verdicts.get(key)
    if verdict is None:
        lowered = key.lower()
        verdict = lowered in SENSITIVE_KEYS or lowered.endswith("token")
        if len(_key_verdicts) < _MAX_REMEMBERED_KEYS:
            _key_verdicts[key] = verdict
    return verdict


def _may_hold_secret(text: str) -> bool:
    # Substring tests are far cheaper than the regular expression; most lines fail them.
    return "pbr_" in text or "earer" in text or "EARER" in text or "asic" in text or "ASIC" in text


def _mask_secret(match: re.Match[str]) -> str:
    scheme = match.group(1)
    return f"{scheme} {REDACTED}" if scheme else REDACTED


def scrub_text(text: str) -> str:
    """``text`` with Bearer/Basic credentials and site read tokens replaced by ``[redacted]``.

    Safe on a rendered JSON line: what it replaces never holds quotes or backslashes.
    """
    return _SECRET_IN_TEXT.sub(_mask_secret, text) if _may_hold_secret(text) else text


def _redacted_mapping(mapping: Mapping[Any, Any]) -> dict[Any, Any]:
    return {
        key: REDACTED
        if isinstance(key, str) and _is_sensitive_key(key)
        else _redacted_mapping(item)
        if isinstance(item, Mapping)
        else item
        for key, item in mapping.items()
    }


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Replace the values of sensitive keys (``authorization``, ``cookie``, ``*token``...).

    Secrets inside text are scrubbed from the rendered line (see ``scrub_text``).
    """
    for key, value in event_dict.items():
        if _is_sensitive_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, Mapping):
            event_dict[key] = _redacted_mapping(value)
    return event_dict


class ScrubbedRenderer:
    """Wraps the final renderer, scrubbing secrets out of the rendered line."""

    def __init__(self, renderer: Processor) -> None:
        self._renderer = renderer

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
        """Render ``event_dict``, then scrub the text."""
        return scrub_text(str(self._renderer(logger, method, event_dict)))


class UtcTimestamper:
    """Adds ``timestamp``: ISO 8601 UTC with microseconds (``2025-06-01T12:00:00.123456Z``).

    Formatting the date costs more than the rest of a line, so it is done once a second.
    """

    def __init__(self) -> None:
        self._second_and_prefix: tuple[int, str] = (-1, "")

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        """Stamp ``event_dict`` with the current time."""
        event_dict["timestamp"] = self.now()
        return event_dict

    def now(self) -> str:
        """The current time as a timestamp."""
        return self.at(time.time())

    def at(self, now: float) -> str:
        """``now`` (seconds since the epoch) as a timestamp."""
        second = int(now)
        cached_second, prefix = self._second_and_prefix
        if second != cached_second:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second_and_prefix = (second, prefix)
        return f"{prefix}.{int((now - second) * 1_000_000):06d}Z"


def omit_payloads_above_debug(
    _logger: WrappedLogger, method: str, event_dict: EventDict
) -> EventDict:
    """Keep beacon payloads out of every line but debug ones (they are large and personal)."""
    if method != "debug":
        for key in PAYLOAD_KEYS.intersection(event_dict):
            event_dict[key] = "[omitted below debug level]"
    return event_dict


def _json_dumps(event_dict: MutableMapping[str, Any], **_options: Any) -> str:
    return JSON_ENCODER.encode(event_dict).decode()


def shared_processors(log_format: LogFormat) -> list[Processor]:
    """The processors every line goes through, from structlog or the standard library."""
    processors: list[Processor] = [
        merge_request_context,
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        UtcTimestamper(),
        omit_payloads_above_debug,
    ]
    if log_format == "json":
        # The console renderer formats exceptions itself, prettier.
        processors.append(structlog.processors.format_exc_info)
    processors.append(redact_secrets)
    return processors


def renderer(log_format: LogFormat, stream: TextIO) -> ScrubbedRenderer:
    """The last processor: one JSON object per line, or a coloured line on a terminal."""
    if log_format == "json":
        return ScrubbedRenderer(structlog.processors.JSONRenderer(serializer=_json_dumps))
    return ScrubbedRenderer(structlog.dev.ConsoleRenderer(colors=stream.isatty()))


class LineWriter:
    """Writes each rendered line to a stream (``sys.stderr`` as it is at write time).

    One lock per process keeps lines from structlog, from the standard library and
    the access log's batches whole; ``name`` is what ``add_logger_name`` reports.
    """

    lock = threading.Lock()

    def __init__(self, name: str = "perfbeacon", stream: TextIO | None = None) -> None:
        self.name = name
        self._stream = stream

    def msg(self, message: str) -> None:
        """Write ``message`` as one line and flush it."""
        stream = self._stream or sys.stderr
        with self.lock:
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
