"""Domain errors. Services raise these; ``http_errors`` maps them to statuses."""

from __future__ import annotations

from typing import Any, ClassVar


class PerfbeaconError(Exception):
    """Base of every error a user can cause; carries a stable machine-readable code."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            # One instance with its own code (an LHCI error's, say); the class keeps its own.
            self.code = code  # type: ignore[misc]  # mypy: a ClassVar set on an instance


class InvalidInput(PerfbeaconError):
    """The request or command was understood but its content is not acceptable."""

    code = "invalid_input"


class TooLarge(InvalidInput):
    """The request body is larger than the endpoint accepts."""

    code = "payload_too_large"


class UnsupportedMediaType(InvalidInput):
    """The request body comes in a content type the endpoint does not read."""

    code = "unsupported_media_type"


class MethodNotAllowed(InvalidInput):
    """The endpoint exists but does not take this HTTP method."""

    code = "method_not_allowed"


class NotFound(PerfbeaconError):
    """The named thing does not exist (or the caller may not know that it does)."""

    code = "not_found"


class Conflict(PerfbeaconError):
    """The request clashes with existing state, e.g. a duplicate name."""

    code = "conflict"


class Unprocessable(PerfbeaconError):
    """Well-formed input that clashes with stored state in a way the caller must fix (422),
    e.g. a second Lighthouse CI build for the same commit, as LHCI answers it."""

    code = "unprocessable"


class Unauthenticated(PerfbeaconError):
    """No credentials, or credentials that match nothing."""

    code = "unauthenticated"


class Forbidden(PerfbeaconError):
    """Valid credentials that do not grant this action."""

    code = "forbidden"


class Unavailable(PerfbeaconError):
    """The service cannot take this work right now; the caller may retry later."""

    code = "unavailable"
    # Seconds a client should wait before retrying (the Retry-After header).
    retry_after: ClassVar[int] = 1


class RateLimited(PerfbeaconError):
    """The caller sent more than its limit allows; it may retry after ``retry_after`` s."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retryAfter": retry_after})
        self.retry_after = retry_after


def retry_after_of(error: PerfbeaconError) -> int | None:
    """The Retry-After seconds of an error that invites a retry, else None."""
    if isinstance(error, Unavailable | RateLimited):
        return error.retry_after
    return None
