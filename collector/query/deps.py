"""The FastAPI dependency alias for the rollup watermarks the running app's reads share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from collector.query.watermarks import RollupWatermarks


def watermarks_of(connection: HTTPConnection) -> RollupWatermarks:
    """The rollup watermarks this process has read (the runtime's), for any view or route."""
    watermarks: RollupWatermarks = connection.app.state.runtime.watermarks
    return watermarks


async def get_watermarks(connection: HTTPConnection) -> RollupWatermarks:
    """The rollup watermarks this process has read."""
    return watermarks_of(connection)


Watermarks = Annotated[RollupWatermarks, Depends(get_watermarks)]
