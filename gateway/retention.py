"""How long the gateway keeps what providers answered.

An exchange's result (the provider's data about a person) is kept for
``exchanges.result_retention_days`` after the exchange ended, so an asynchronous caller
can fetch it and an idempotent retry can be answered; after that ``RetentionSweep``
erases it, in batches, on every replica (the store hands each row to one sweeper). The
exchange's record stays (status, metadata, digests: what auditors need); ``GET
/v1/exchanges/{id}`` then answers it with ``data: null`` and ``result_erased: true``.

A finished batch goes with its items' results: past the same retention after it finished,
the batch and its items (statuses, exchange ids, the caller's item references) are deleted
and ``GET /v1/batches/{id}`` answers 404. The items' exchanges stay, like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

import structlog

from bus import PeriodicTask
from gateway.batches.records import BatchStore
from gateway.store.base import ExchangeStore

__all__ = ["RetentionSweep"]

_log = structlog.get_logger(__name__)
_BATCH: Final = 1000
_BATCHES: Final = 100  # batches per transaction: each takes up to 10,000 items with it


class RetentionSweep:
    """Every ``interval_s``, erase the results older than ``retention``."""

    def __init__(
        self,
        *,
        store: ExchangeStore,
        retention: timedelta,
        interval_s: float,
        clock: Callable[[], datetime],
        batches: BatchStore | None = None,
    ) -> None:
        self._store = store
        self._batches = batches
        self._retention = retention
        self._clock = clock
        self._loop = PeriodicTask(
            "gateway-retention",
            self.run_once,
            interval_s=interval_s,
            failure_event="retention_sweep_failed",
        )

    def start(self) -> None:
        """Sweep every ``interval_s`` in the background until ``stop``."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop sweeping (safe to call twice)."""
        await self._loop.stop()

    async def run_once(self) -> int:
        """Erase every result past retention (batch by batch), then purge the batches
        finished before it; how many results."""
        cutoff = self._clock() - self._retention
        total = 0
        while (erased := await self._store.erase_results(cutoff, limit=_BATCH)) > 0:
            total += erased
            if erased < _BATCH:
                break
        if total:
            _log.info("results_erased", count=total, retention_days=self._retention.days)
        if self._batches is not None:
            await self._purge_batches(self._batches, cutoff)
        return total

    async def _purge_batches(self, batches: BatchStore, cutoff: datetime) -> None:
        purged = 0
        while (count := await batches.purge_finished(cutoff, limit=_BATCHES)) > 0:
            purged += count
            if count < _BATCHES:
                break
        if purged:
            _log.info("batches_purged", count=purged, retention_days=self._retention.days)
