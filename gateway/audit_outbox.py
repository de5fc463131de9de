"""The outbox of closing audit events: owed in the store, written when the trail takes them.

TIMED_OUT and the gateway's own FAILED report what already happened and release no data,
so the caller is never kept waiting for them; but they must never be lost either, not
when the trail is down for minutes and not when the gateway crashes meanwhile. The store
marks the closing owed in the statement that ends the exchange (``closing_owed``);
``AuditOutbox`` reads owed exchanges, rebuilds each event from the stored record
(``gateway.exchange_states.closing_event``), writes them and settles what the trail
acknowledged. It drains at start (what an earlier run owed), when woken by a transition,
and every ``interval_s``; while the trail is down it backs off (capped, jittered) and
logs the state change once, then once when it resumes.

Several replicas may drain the same rows: each event has one id per step, and the indexer
keeps an id once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Final

import structlog

from bus.audit import AuditTrail, AuditWriteError
from gateway.errors import ServiceUnavailableError
from gateway.exchange_states import closing_event
from gateway.metrics import GatewayMetrics
from gateway.store.base import ExchangeRecord, ExchangeStore

__all__ = ["AuditOutbox"]

_log = structlog.get_logger(__name__)
_BACKOFF_MIN_S: Final = 0.2
_BACKOFF_MAX_S: Final = 5.0


class AuditOutbox:
    """Writes the store's owed closing events to the trail, in the background."""

    def __init__(
        self,
        *,
        store: ExchangeStore,
        trail: AuditTrail,
        metrics: GatewayMetrics,
        actor: str,
        interval_s: float = 2.0,
        batch: int = 200,
    ) -> None:
        self._store = store
        self._trail = trail
        self._metrics = metrics
        self._actor = actor
        self._interval_s = interval_s
        self._batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.blocked = False
        """True while the last attempt could not write (the trail or the store is down)."""

    def wake(self) -> None:
        """A closing event is owed: drain now rather than on the next tick."""
        self._wake.set()

    def start(self) -> None:
        """Drain in the background until ``stop`` (what an earlier run owed first)."""
        self._task = asyncio.create_task(self._run(), name="gateway-audit-outbox")

    async def stop(self, *, timeout_s: float = 5.0) -> None:
        """One last drain (bounded by ``timeout_s``), then stop; what is still owed stays
        owed in the store for the next start."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(TimeoutError, AuditWriteError, ServiceUnavailableError):
            async with asyncio.timeout(timeout_s):
                while await self.drain_once() == self._batch:
                    pass

    async def drain_once(self) -> int:
        """Write one batch of owed events; how many the trail took. Raises the first
        ``AuditWriteError`` (after settling what was written) or the store's error.

        The oldest event goes alone first: while the trail is down, one attempt per round
        (not a batch of failures, each logged by the trail); once it lands, the rest of
        the batch goes at once."""
        owed = await self._store.owed_closings(limit=self._batch)
        if not owed:
            self._metrics.closings_owed.set(0)
            return 0
        # Counted before the first write: while the trail is down that write raises, and
        # the gauge operators watch in an outage read 0 with hundreds owed.
        self._metrics.closings_owed.set(await self._store.count_owed_closings())
        await self._write(owed[0])
        written = [owed[0].id]
        results = await asyncio.gather(*(self._write(r) for r in owed[1:]), return_exceptions=True)
        written += [r.id for r, result in zip(owed[1:], results, strict=True) if result is None]
        await self._store.settle_closings(written)
        self._metrics.closings_written.inc(len(written))
        self._metrics.closings_owed.set(await self._store.count_owed_closings())
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return len(written)

    async def _write(self, record: ExchangeRecord) -> None:
        with structlog.contextvars.bound_contextvars(exchange_id=record.id):
            await self._trail.record(closing_event(record, actor=self._actor))

    async def _run(self) -> None:
        backoff = _BACKOFF_MIN_S
        while True:
            self._wake.clear()
            try:
                written = await self.drain_once()
            except (AuditWriteError, ServiceUnavailableError) as exc:
                if not self.blocked:
                    _log.warning("closing_events_waiting", error_code=exc.code)
                self.blocked = True
                await asyncio.sleep(random.uniform(backoff / 2, backoff))  # noqa: S311
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            except Exception as exc:  # never let the outbox die: the next round retries
                _log.error("closing_events_failed", error_type=type(exc).__name__)
                await asyncio.sleep(_BACKOFF_MAX_S)
                continue
            if self.blocked:
                _log.info("closing_events_resumed", written=written)
                self.blocked = False
            backoff = _BACKOFF_MIN_S
            if written == self._batch:
                continue  # more owed: go on at once
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_s):
                    await self._wake.wait()
