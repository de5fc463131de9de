"""Closing audit events (FAILED, TIMED_OUT) that are written even when the trail is down.

A closing event reports what already happened: the caller's answer must not wait for it
(an exchange answers within its deadline plus a small bound), and it must not be lost
when the trail is down at that moment (every REQUESTED gets its closing event).
``ClosingEvents.record`` hands the event to a background writer that retries with
capped exponential back-off until the trail takes it; events are kept in arrival order,
bounded in number. What is still unwritten at shutdown is tried once more, then counted
and logged (``closing_events_lost``): this queue lives in memory, so a crash while the
trail is down loses it; the expiry of those exchanges is then their only trace.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Final

import structlog

from bus.audit.errors import AuditWriteError
from bus.audit.trail import AuditRecord, AuditTrail

__all__ = ["ClosingEvents"]

_log = structlog.get_logger(__name__)
_BACKOFF_MIN_S: Final = 0.2
_BACKOFF_MAX_S: Final = 5.0


class ClosingEvents:
    """A bounded, ordered queue of closing events and the task that writes them."""

    def __init__(self, trail: AuditTrail, *, max_pending: int = 100_000) -> None:
        self._trail = trail
        self._pending: deque[AuditRecord] = deque()
        self._max_pending = max_pending
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, event: AuditRecord) -> None:
        """Queue ``event``; it is written in the background (never blocks the caller)."""
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            _log.error("closing_event_dropped", exchange_id=event.exchange_id)
            return
        self._pending.append(event)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="gateway-closing-events")

    async def _drain(self) -> None:
        backoff = _BACKOFF_MIN_S
        while self._pending:
            event = self._pending[0]
            try:
                await self._trail.record(event)
            except AuditWriteError as exc:
                if backoff == _BACKOFF_MIN_S:
                    _log.warning(
                        "closing_events_waiting_for_trail",
                        pending=len(self._pending),
                        error_code=exc.code,
                    )
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(backoff):
                        await self._wake.wait()
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            self._pending.popleft()
            if backoff != _BACKOFF_MIN_S:
                _log.info("closing_events_resumed", pending=len(self._pending))
                backoff = _BACKOFF_MIN_S

    async def close(self, *, timeout_s: float = 5.0) -> None:
        """Give the writer ``timeout_s`` to finish, then stop it and report what is left."""
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(timeout_s):
                    await asyncio.shield(task)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pending:
            _log.error("closing_events_lost", count=len(self._pending))
