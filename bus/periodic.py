"""``PeriodicTask``: one step run every few seconds in the background, until stopped.

The gateway's expiry and retention sweeps and the connector's lag monitor are the same
loop: start a task, run a step, log a failing step without stopping (the store or the
broker blinked: the next round tries again), sleep, and cancel cleanly on stop. This is
that loop, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from bus.tasks import cancel_and_wait

__all__ = ["PeriodicTask"]

_log = structlog.get_logger(__name__)


class PeriodicTask:
    """Runs ``step`` every ``interval_s`` once started (after ``before``, if given)."""

    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[object]],
        *,
        interval_s: float,
        failure_event: str,
        failures: tuple[type[Exception], ...] = (Exception,),
        before: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._name = name
        self._step = step
        self._interval_s = interval_s
        self._failure_event = failure_event
        self._failures = failures
        self._before = before
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run in the background until ``stop``."""
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Cancel the loop and wait for it (safe to call twice, or before ``start``)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        if self._before is not None:
            await self._before()
        while True:
            try:
                await self._step()
            except self._failures as exc:  # a dependency blinked: the next round retries
                _log.warning(self._failure_event, exception_type=type(exc).__name__)
            await asyncio.sleep(self._interval_s)
