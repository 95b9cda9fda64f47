"""Background work the lifespan runs beside serving: one loop for every periodic pass,
and one supervisor that starts them and stops them all.

    async with Supervisor(stop_timeout=5.0) as supervisor:
        supervisor.every("rollup_pass", timedelta(seconds=5), roll_once)
        ...                                      # serve
    # leaving the block cancels every task and waits (bounded) for them to end
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from types import TracebackType
from typing import Any

import structlog

logger = structlog.get_logger(__name__)

OnePass = Callable[[], Awaitable[object]]
NO_DELAY = timedelta(0)


async def every(
    name: str,
    interval: timedelta,
    one_pass: OnePass,
    *,
    first_delay: timedelta = NO_DELAY,
    retry_interval: timedelta | None = None,
) -> None:
    """Run ``one_pass`` every ``interval``, the first time after ``first_delay``, until
    cancelled.

    A pass that raises is logged as ``{name}_failed`` and tried again after
    ``retry_interval`` (``interval`` by default): one bad pass never ends the loop.
    """
    task = asyncio.current_task()
    await asyncio.sleep(first_delay.total_seconds())
    while True:
        wait = interval
        try:
            await one_pass()
        except Exception:
            logger.exception(f"{name}_failed")
            wait = interval if retry_interval is None else retry_interval
        if task is not None and task.cancelling():
            # A cancellation that a client library swallowed still ends the loop.
            raise asyncio.CancelledError
        await asyncio.sleep(wait.total_seconds())


class Supervisor:
    """Owns background tasks: whatever was started is cancelled and awaited on exit,
    whether the lifespan ends normally or its start-up failed half-way."""

    def __init__(self, *, stop_timeout: float) -> None:
        self._stop_timeout = stop_timeout
        self._tasks: list[asyncio.Task[Any]] = []

    def start(self, work: Coroutine[Any, Any, object], *, name: str | None = None) -> None:
        """Run ``work`` as a task until the supervisor stops."""
        self._tasks.append(asyncio.create_task(work, name=name))

    def every(
        self,
        name: str,
        interval: timedelta,
        one_pass: OnePass,
        *,
        first_delay: timedelta = NO_DELAY,
        retry_interval: timedelta | None = None,
    ) -> None:
        """Run ``one_pass`` periodically (see ``every``) in a task called ``name``."""
        loop = every(
            name, interval, one_pass, first_delay=first_delay, retry_interval=retry_interval
        )
        self.start(loop, name=name)

    async def __aenter__(self) -> Supervisor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Cancel every task and wait for them; a task that ignores cancelling is logged."""
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        # Bounded: a task that ignored its cancellation must not hold the exit.
        _, stuck = await asyncio.wait(tasks, timeout=self._stop_timeout)
        if stuck:
            logger.warning("background_tasks_did_not_stop", tasks=[t.get_name() for t in stuck])
