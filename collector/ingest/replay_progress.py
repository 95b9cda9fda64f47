"""How far each spool file was replayed, kept in the database with the replayed rows.

The offset is written in the transaction that stores the frames up to it, so it is
exactly as durable as they are: a process adopting the file of one that crashed
mid-replay starts after the last frame that committed, and no record is stored twice.
Only the process holding a file's lock replays it, so each row has one writer.

    done = await replayed_to(conn, "3f2a....spool")
    await record_replayed_to(conn, "3f2a....spool", frame.end)   # inside the replay's transaction
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.storage.tables import spool_replays


async def replayed_to(conn: AsyncConnection, spool_file: str) -> int:
    """The offset up to which ``spool_file`` is in the database (0 when none of it is)."""
    query = select(spool_replays.c.replayed_to).where(spool_replays.c.spool_file == spool_file)
    return (await conn.execute(query)).scalar_one_or_none() or 0


async def record_replayed_to(conn: AsyncConnection, spool_file: str, offset: int) -> None:
    """Note, in ``conn``'s transaction, that ``spool_file`` is replayed up to ``offset``."""
    updated = await conn.execute(
        update(spool_replays)
        .where(spool_replays.c.spool_file == spool_file)
        .values(replayed_to=offset)
    )
    if not updated.rowcount:
        await conn.execute(insert(spool_replays).values(spool_file=spool_file, replayed_to=offset))


async def forget(conn: AsyncConnection, spool_files: list[str]) -> None:
    """Drop the progress of spool files that are gone (fully replayed and removed)."""
    await conn.execute(delete(spool_replays).where(spool_replays.c.spool_file.in_(spool_files)))
