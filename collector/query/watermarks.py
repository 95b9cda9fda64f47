"""The rollup watermarks a running collector has read, so covered windows skip the round trip.

The roller's watermark only moves forward: once it passed a window's end, every row of
the window is in the rollups, and a later snapshot sees them there. So a read whose
window ends before a watermark read earlier through the same engine needs no second look.
The runtime owns one ``RollupWatermarks``; a test or a command makes a fresh one, or
passes none and reads the watermark every time.

>>> watermarks = RollupWatermarks()
>>> rolled_before = await watermarks.covering(conn, window)
"""

from __future__ import annotations

from datetime import datetime
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.query.rollups import read_watermark
from collector.query.windows import Window


class RollupWatermarks:
    """The newest rollup watermark read through each engine."""

    def __init__(self) -> None:
        self._rolled_before: WeakKeyDictionary[Engine, datetime] = WeakKeyDictionary()

    async def covering(self, conn: AsyncConnection, window: Window) -> datetime:
        """The watermark, or an earlier one read before when that covers ``window``."""
        known = self._rolled_before.get(conn.sync_engine)
        if known is not None and known >= window.end:
            return known
        watermark = await read_watermark(conn, lock=False)
        self._rolled_before[conn.sync_engine] = (
            watermark if known is None else max(known, watermark)
        )
        return watermark


async def watermark_for(
    conn: AsyncConnection, window: Window, watermarks: RollupWatermarks | None
) -> datetime:
    """What ``watermarks`` knows covers ``window``; without any, the watermark read now."""
    if watermarks is None:
        return await read_watermark(conn, lock=False)
    return await watermarks.covering(conn, window)
