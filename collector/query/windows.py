"""Time windows: parsed from ISO times or durations (``7d``, ``24h``), snapped to rollup periods.

Windows are half-open ``[start, end)`` and snapped outwards so they are made of whole
rollup periods: to the hour when up to two days long, to whole UTC days beyond (as
day-grained dashboards do). Answers name the snapped window, and exact mode uses the
same one, so both count the same rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from collector.errors import InvalidInput
from collector.query.timeutil import epoch_seconds, from_epoch
from collector.vitals import DAY, HOUR

MAX_WINDOW = timedelta(days=400)
DEFAULT_SPAN = timedelta(hours=24)
FINE_SNAP_LIMIT = timedelta(days=2)
# How much snapping may lengthen a window: "7d" may span 8 calendar days.
SNAP_SLACK = timedelta(days=1)
_DURATION = re.compile(r"^(\d{1,6})(m|h|d|w)$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_EXAMPLES = "a duration such as 30m, 24h, 7d or 2w, or an ISO 8601 time"
# Beacons are stamped when they arrive: nothing lies outside these years, and keeping
# times inside them leaves room to snap a window outwards without leaving datetime's range.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open UTC window ``[start, end)`` whose ends are epoch-aligned."""

    start: datetime
    end: datetime

    @property
    def start_seconds(self) -> int:
        """``start`` in seconds since the epoch."""
        return epoch_seconds(self.start)

    @property
    def end_seconds(self) -> int:
        """``end`` in seconds since the epoch."""
        return epoch_seconds(self.end)

    @property
    def span(self) -> timedelta:
        """How long the window is."""
        return self.end - self.start


def parse_duration(text: str) -> timedelta | None:
    """``7d`` → 7 days; None when ``text`` is not a duration."""
    match = _DURATION.match(text.strip())
    if match is None:
        return None
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_time(text: str, *, field: str) -> datetime:
    """An ISO 8601 time (UTC when no offset is given), or InvalidInput."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{field}={text[:64]!r} is not a time: use {DURATION_EXAMPLES}",
            details={"field": field, "allowed": DURATION_EXAMPLES},
        ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if not EARLIEST <= moment < LATEST:
        raise InvalidInput(
            f"{field}={text[:64]!r} is out of range: use a time from {EARLIEST.year} "
            f"to {LATEST.year - 1}",
            details={
                "field": field,
                "earliest": EARLIEST.isoformat(),
                "latest": LATEST.isoformat(),
            },
        )
    return moment


def resolve_window(
    start: str | None,
    end: str | None,
    *,
    now: datetime,
    snap: int | None = None,
    max_span: timedelta = MAX_WINDOW,
) -> Window:
    """The window named by ``from`` / ``to`` query values, snapped; InvalidInput if bad.

    ``from`` may be a duration, meaning that long before ``to``; ``to`` defaults to now.
    ``snap`` forces the alignment (a timeseries interval); else it follows the span.
    """
    end_at = now if end is None else parse_time(end, field="to")
    if start is None:
        start_at = end_at - DEFAULT_SPAN
    elif (duration := parse_duration(start)) is not None:
        # Checked before subtracting: a long enough duration leaves datetime's range.
        start_at = end_at - min(duration, max_span + timedelta(seconds=1))
    else:
        start_at = parse_time(start, field="from")
    if start_at >= end_at:
        raise InvalidInput(
            "the window is empty: 'from' must be before 'to'",
            details={"field": "from", "from": start_at.isoformat(), "to": end_at.isoformat()},
        )
    if end_at - start_at > max_span:
        raise InvalidInput(
            f"the window is too long: at most {max_span.days} days",
            details={"field": "from", "max_days": max_span.days},
        )
    if snap is None:
        snap = HOUR if end_at - start_at <= FINE_SNAP_LIMIT else DAY
    first = epoch_seconds(start_at)
    last = epoch_seconds(end_at) + (1 if end_at.microsecond else 0)
    return Window(from_epoch(first - first % snap), from_epoch(-(-last // snap) * snap))
