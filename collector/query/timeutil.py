"""Exact conversions between aware datetimes and epoch seconds (no float rounding)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def epoch_seconds(moment: datetime) -> int:
    """Whole seconds since the epoch, floored (exact, unlike ``timestamp()``)."""
    return (moment - EPOCH) // _SECOND


def from_epoch(seconds: int) -> datetime:
    """The UTC datetime ``seconds`` after the epoch."""
    return EPOCH + timedelta(seconds=seconds)
