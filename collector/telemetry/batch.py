"""Work of each request done at the end of the event loop's iteration, for all requests at once.

Between two requests the app's own code pushes the telemetry's code and data out
of the CPU caches; rendering an access line or building a span costs two to three
times more there than in a loop over a few dozen of them. So the middleware only
notes what it needs, and the notes are handled together when the event loop has
run everything that was ready (or as soon as ``limit`` of them gather). Outside a
running loop each note is handled at once.

>>> lines = IterationBatch(write_lines, limit=64)
>>> lines.add(("GET", "/health", 200))    # handled with the others at the iteration's end
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

Note = TypeVar("Note")


class IterationBatch(Generic[Note]):
    """Notes handed to ``handle`` together, in the order they were added."""

    def __init__(self, handle: Callable[[list[Note]], None], *, limit: int) -> None:
        self._handle = handle
        self._limit = limit
        self._notes: list[Note] = []

    def add(self, note: Note) -> None:
        """Have ``note`` handled soon, after the notes added before it."""
        notes = self._notes
        notes.append(note)
        if len(notes) == 1:
            self._flush_soon()
        elif len(notes) >= self._limit:
            self.flush()

    def _flush_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Handle every waiting note now."""
        notes = self._notes
        if notes:
            self._notes = []
            self._handle(notes)
