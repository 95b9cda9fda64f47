"""Background passes: a failing pass is logged and retried, and the supervisor stops
whatever it started, also when start-up fails half-way."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import structlog.testing

from collector.background import Supervisor


async def test_a_failing_pass_is_logged_and_retried_sooner() -> None:
    passes: list[float] = []
    loop = asyncio.get_running_loop()

    async def flaky() -> None:
        passes.append(loop.time())
        if len(passes) == 1:
            raise RuntimeError("database away")

    with structlog.testing.capture_logs() as logs:
        async with Supervisor(stop_timeout=1) as supervisor:
            supervisor.every("tidy", timedelta(hours=1), flaky, retry_interval=timedelta(0))
            while len(passes) < 2:  # noqa: ASYNC110 - the pass itself is what is awaited
                await asyncio.sleep(0.005)
    assert passes[1] - passes[0] < 30  # the retry interval, not the hour
    assert [entry["event"] for entry in logs] == ["tidy_failed"]
    assert logs[0]["log_level"] == "error"


async def test_the_first_pass_waits_for_its_delay() -> None:
    started = asyncio.Event()

    async def mark() -> None:
        started.set()

    async with Supervisor(stop_timeout=1) as supervisor:
        supervisor.every("late", timedelta(hours=1), mark, first_delay=timedelta(hours=1))
        await asyncio.sleep(0.05)
        assert not started.is_set()


async def test_leaving_the_supervisor_cancels_what_it_started_even_on_a_failed_start() -> None:
    started: list[asyncio.Task[object]] = []

    async def forever() -> None:
        task = asyncio.current_task()
        assert task is not None
        started.append(task)
        await asyncio.Event().wait()

    async def start_then_fail() -> None:
        async with Supervisor(stop_timeout=1) as supervisor:
            supervisor.start(forever(), name="one")
            supervisor.start(forever(), name="two")
            await asyncio.sleep(0)
            raise OSError("spool directory not writable")

    with pytest.raises(OSError, match="spool directory"):
        await start_then_fail()
    assert len(started) == 2
    assert all(task.cancelled() for task in started)


async def test_a_task_that_ignores_its_cancellation_does_not_hold_the_exit() -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue

    with structlog.testing.capture_logs() as logs:
        async with Supervisor(stop_timeout=0.05) as supervisor:
            supervisor.start(stubborn(), name="stubborn")
            await asyncio.sleep(0)
    assert logs == [
        {"event": "background_tasks_did_not_stop", "tasks": ["stubborn"], "log_level": "warning"}
    ]
    release.set()
