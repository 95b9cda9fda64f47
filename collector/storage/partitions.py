"""Daily partitions of the raw events table, created ahead and dropped past retention.

On PostgreSQL ``events`` is range-partitioned by day: dropping a whole partition
is how retention stays cheap. SQLite has no partitions; there retention deletes rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.storage.tables import events

PARTITION_PREFIX = "events_p"
_MAINTENANCE_LOCK_ID = 7_310_046_212


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """What one retention pass removed."""

    dropped_partitions: tuple[str, ...] = ()
    deleted_rows: int = 0


def partition_name(day: date) -> str:
    """The name of the partition holding ``day`` (UTC)."""
    return f"{PARTITION_PREFIX}{day:%Y%m%d}"


def day_of_partition(name: str) -> date | None:
    """The day a partition name stands for, or None for a table that is not ours."""
    if not name.startswith(PARTITION_PREFIX):
        return None
    try:
        return datetime.strptime(name.removeprefix(PARTITION_PREFIX), "%Y%m%d").date()
    except ValueError:
        return None


def start_of_day(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime.combine(day, time.min, tzinfo=UTC)


async def ensure_partitions(conn: AsyncConnection, *, first_day: date, days: int) -> list[str]:
    """Create the daily partitions for ``first_day`` and the ``days - 1`` days after it.

    Returns the names of partitions that did not exist before. No-op on SQLite.
    """
    if conn.dialect.name != "postgresql":
        return []
    await _lock(conn)
    existing = set(await list_partitions(conn))
    created: list[str] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        name = partition_name(day)
        if name in existing:
            continue
        lower = start_of_day(day).isoformat()
        upper = start_of_day(day + timedelta(days=1)).isoformat()
        await conn.execute(
            text(
                f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF events '
                f"FOR VALUES FROM ('{lower}') TO ('{upper}')"
            )
        )
        created.append(name)
    return created


async def list_partitions(conn: AsyncConnection) -> list[str]:
    """Names of the existing daily partitions of ``events``, oldest first."""
    if conn.dialect.name != "postgresql":
        return []
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass('events')"
        )
    )
    return sorted(name for (name,) in rows if day_of_partition(name) is not None)


async def apply_retention(
    conn: AsyncConnection, *, retention_days: int, today: date
) -> RetentionResult:
    """Remove raw events older than ``retention_days`` full days before ``today``."""
    cutoff_day = today - timedelta(days=retention_days)
    if conn.dialect.name != "postgresql":
        result = await conn.execute(delete(events).where(events.c.ts < start_of_day(cutoff_day)))
        return RetentionResult(deleted_rows=result.rowcount or 0)
    await _lock(conn)
    dropped: list[str] = []
    for name in await list_partitions(conn):
        day = day_of_partition(name)
        if day is not None and day < cutoff_day:
            await conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
            dropped.append(name)
    return RetentionResult(dropped_partitions=tuple(dropped))


async def _lock(conn: AsyncConnection) -> None:
    # Collectors run maintenance concurrently; DDL on the same partition must not race.
    await conn.execute(text(f"SELECT pg_advisory_xact_lock({_MAINTENANCE_LOCK_ID})"))
