"""Notes handled together at the end of the event loop's iteration."""

from __future__ import annotations

import asyncio

from collector.telemetry.batch import IterationBatch


async def test_notes_are_handled_together_after_the_iteration_in_order() -> None:
    handled: list[list[int]] = []
    batch = IterationBatch(handled.append, limit=10)
    for note in range(3):
        batch.add(note)
    assert handled == []
    await asyncio.sleep(0)
    assert handled == [[0, 1, 2]]


async def test_reaching_the_limit_handles_at_once() -> None:
    handled: list[list[int]] = []
    batch = IterationBatch(handled.append, limit=2)
    for note in range(5):
        batch.add(note)
    assert handled == [[0, 1], [2, 3]]
    await asyncio.sleep(0)
    assert handled == [[0, 1], [2, 3], [4]]


def test_outside_an_event_loop_each_note_is_handled_at_once() -> None:
    handled: list[list[int]] = []
    batch = IterationBatch(handled.append, limit=10)
    batch.add(1)
    batch.add(2)
    assert handled == [[1], [2]]
