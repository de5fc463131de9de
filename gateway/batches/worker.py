"""The batch worker: a background task in every gateway replica that sends batch items.

Ownership: each ``poll_interval_s`` the worker claims (or renews) the lease of unfinished
batches in the store; it works only on batches it holds, and drops one whose lease it
lost. A dead replica stops renewing, so its batches pass to another replica (or to it,
restarted) once ``lease_s`` has run out; a replica stopping cleanly releases its leases.

Each item becomes an exchange through ``ExchangeService.submit`` with an idempotency key
derived from the batch id and the item's index, and ``wait_s=0``: the item gets its own
consent decision, audit events and record, and an item resumed after a crash finds the
exchange it already created instead of sending a second one. Items leave through the
per-provider pacer (``pacing.py``) and at most ``max_in_flight`` of a batch wait for a
reply at once. An item's outcome comes from its exchange: pushed by the exchange state
machine when this replica ends it (``on_final``), and read back from the exchange store
every few seconds otherwise (another replica's reply partition, a restart).

A store or bus outage pauses the batch (backoff with jitter, logged once per pause):
items stay pending and nothing is marked failed for the gateway's own trouble.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

import structlog

from bus import cancel_and_wait
from gateway.batches.metrics import BatchMetrics
from gateway.batches.pacing import ProviderPacer
from gateway.batches.records import BatchItem, BatchRecord, BatchStore, ItemStatus
from gateway.batches.request import item_document, item_request
from gateway.errors import (
    ConsentRequiredError,
    ForbiddenError,
    GatewayError,
    OppositionActiveError,
    ServiceUnavailableError,
)
from gateway.exchange_request import BATCH_KEY_PREFIX
from gateway.exchange_states import Clock, utc_now
from gateway.exchanges import ExchangeService
from gateway.members import MemberDirectory
from gateway.settings import BatchSettings
from gateway.store.base import ExchangeRecord, ExchangeStatus, ExchangeStore

__all__ = ["BatchWorker", "item_idempotency_key", "item_status_of"]

_SWEEP_S: Final = 2.0
"""How often the outcomes of sent items are read back from the exchange store."""
_BACKOFF_MAX_S: Final = 10.0
_SENDERS: Final = 16
"""Items of one batch being submitted at once (their order out is the pacer's)."""
_log = structlog.get_logger(__name__)


def item_idempotency_key(batch_id: str, index: int) -> str:
    """The idempotency key of item ``index``'s exchange: the same on every attempt."""
    return f"{BATCH_KEY_PREFIX}{batch_id}:{index}"


def item_status_of(record: ExchangeRecord) -> ItemStatus | None:
    """The item status an exchange's state means (None while it is pending)."""
    if record.status is ExchangeStatus.COMPLETED:
        return ItemStatus.FOUND if record.reply_status == "ok" else ItemStatus.NOT_FOUND
    if record.status is ExchangeStatus.FAILED:
        return ItemStatus.FAILED
    if record.status is ExchangeStatus.TIMED_OUT:
        return ItemStatus.TIMED_OUT
    return None


@dataclass
class _Run:
    """One batch being worked on by this replica."""

    batch: BatchRecord
    in_flight: dict[str, int] = field(default_factory=dict)
    """exchange id -> item index, for items sent and not answered."""
    finals: list[ExchangeRecord] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: bool = False


class BatchWorker:
    """Claims batches, sends their items at the paced rate, records their outcomes."""

    def __init__(
        self,
        *,
        store: BatchStore,
        exchanges: ExchangeService,
        exchange_store: ExchangeStore,
        directory: MemberDirectory,
        settings: BatchSettings,
        metrics: BatchMetrics,
        owner: str,
        pacer: ProviderPacer | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._exchanges = exchanges
        self._exchange_store = exchange_store
        self._directory = directory
        self._settings = settings
        self._metrics = metrics
        self.owner = owner
        self.pacer = pacer or ProviderPacer(settings.rate_per_provider, settings.burst_per_provider)
        self._clock = clock
        self._chunk = max(settings.burst_per_provider, math.ceil(settings.rate_per_provider))
        self._runs: dict[str, tuple[_Run, asyncio.Task[None]]] = {}
        self._by_exchange: dict[str, _Run] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start claiming batches."""
        if self._task is None:
            self._task = asyncio.create_task(self._claim_loop(), name="batch-worker")

    def poke(self) -> None:
        """A batch was just accepted: claim now rather than at the next interval."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop every run and give the leases up (another replica may go on at once)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        runs = list(self._runs.items())
        for _, (_, run_task) in runs:
            run_task.cancel()
        for batch_id, (_, run_task) in runs:
            with contextlib.suppress(asyncio.CancelledError):
                await run_task
            with contextlib.suppress(GatewayError):
                await self._store.release(batch_id, self.owner)
        self._runs.clear()
        self._metrics.active.set(0)

    def on_cancel(self, batch_id: str) -> None:
        """The batch was cancelled through this replica: send nothing more of it."""
        entry = self._runs.get(batch_id)
        if entry is not None:
            entry[0].cancelled = True
            entry[0].wake.set()

    def on_final(self, record: ExchangeRecord) -> None:
        """The exchange state machine ended ``record`` in this replica."""
        run = self._by_exchange.get(record.id)
        if run is not None:
            run.finals.append(record)
            run.wake.set()

    # -- claiming ----------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        failing = False
        while True:
            try:
                now = self._clock()
                claimed = await self._store.claim(
                    self.owner,
                    now=now,
                    lease_until=now + timedelta(seconds=self._settings.lease_s),
                    limit=100,
                )
                if failing:
                    _log.info("batch_claims_resumed")
                failing = False
            except ServiceUnavailableError as exc:
                if not failing:
                    _log.warning("batch_claims_failing", error_code=exc.code)
                failing = True
                claimed = None
            if claimed is not None:
                self._adopt(claimed)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.poll_interval_s):
                    await self._wake.wait()

    def _adopt(self, claimed: list[BatchRecord]) -> None:
        held = {batch.id for batch in claimed}
        for batch_id, (_, task) in list(self._runs.items()):
            if task.done():
                del self._runs[batch_id]
            elif batch_id not in held:
                _log.warning("batch_lease_lost", batch_id=batch_id)
                task.cancel()
                del self._runs[batch_id]
        for batch in claimed:
            if batch.id not in self._runs:
                run = _Run(batch)
                task = asyncio.create_task(self._work(run), name=f"batch-{batch.id}")
                self._runs[batch.id] = (run, task)
        self._metrics.active.set(len(self._runs))

    # -- working on one batch --------------------------------------------------------
    async def _work(self, run: _Run) -> None:
        batch = run.batch
        backoff = 0.5
        paused = False
        last_sweep = 0.0
        _log.info("batch_started", batch_id=batch.id, items=batch.item_count)
        try:
            while True:
                try:
                    if time.monotonic() - last_sweep >= _SWEEP_S:
                        await self._sweep(run)
                        last_sweep = time.monotonic()
                    await self._settle(run)
                    # About a second's worth at a time: a cancel through another
                    # replica stops this one within that.
                    room = min(self._settings.max_in_flight - len(run.in_flight), self._chunk)
                    pending = (
                        await self._store.pending_items(batch.id, limit=room)
                        if room > 0 and not run.cancelled
                        else []
                    )
                    await self._send_all(run, pending)
                    if not pending and not run.in_flight:
                        if await self._store.finish_if_done(batch.id, self._clock()):
                            counts = await self._store.counts(batch.id)
                            _log.info(
                                "batch_finished",
                                batch_id=batch.id,
                                **{status.value: n for status, n in counts.items()},
                            )
                            return
                        last_sweep = 0.0  # items sent by an earlier owner: read them back
                    if paused:
                        _log.info("batch_resumed", batch_id=batch.id)
                    paused, backoff = False, 0.5
                except ServiceUnavailableError as exc:  # the store or the bus: wait, retry
                    if not paused:
                        self._metrics.paused.inc()
                        _log.warning("batch_paused", batch_id=batch.id, error_code=exc.code)
                    paused = True
                    await asyncio.sleep(backoff * (0.5 + random.random()))  # noqa: S311
                    backoff = min(backoff * 2, _BACKOFF_MAX_S)
                    continue
                if pending and len(run.in_flight) < self._settings.max_in_flight:
                    continue  # more to send right away
                run.wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await run.wake.wait()
        finally:
            for exchange_id in run.in_flight:
                self._by_exchange.pop(exchange_id, None)

    async def _send_all(self, run: _Run, items: list[BatchItem]) -> None:
        """Send ``items`` in order, each when the pacer says, up to ``_SENDERS`` at once
        (one exchange's audit write and send are round trips: one at a time would cap a
        batch far below a generous rate). Any unavailability pauses the batch after the
        others have ended; the items not sent stay pending."""
        senders = asyncio.Semaphore(_SENDERS)
        tasks: list[asyncio.Task[None]] = []

        async def one(item: BatchItem) -> None:
            try:
                await self._send(run, item)
            finally:
                senders.release()

        try:
            for item in items:
                await self.pacer.acquire(run.batch.provider, run.batch.requester)
                if run.cancelled:
                    self.pacer.cancel(run.batch.provider)
                    break
                await senders.acquire()
                tasks.append(asyncio.create_task(one(item)))
        finally:
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _send(self, run: _Run, item: BatchItem) -> None:
        batch = run.batch
        member = self._directory.get(batch.requester)
        if member is None or item.subject is None or item.data is None:
            await self._finish_item(run, item.index, ItemStatus.FAILED, ForbiddenError.code)
            return
        fields = {"subject": item.subject, "data": dict(item.data), "consent_ref": item.consent_ref}
        envelope = dict(batch.envelope)
        try:
            submitted = await self._exchanges.submit(
                member,
                item_request(envelope, fields),
                item_document(envelope, fields),
                idempotency_key=item_idempotency_key(batch.id, item.index),
                traceparent=batch.traceparent,
                wait_s=0,
            )
        except (ConsentRequiredError, OppositionActiveError) as exc:
            await self._finish_item(run, item.index, ItemStatus.DENIED, exc.code)
            return
        except ServiceUnavailableError:
            self.pacer.cancel(batch.provider)
            raise
        except GatewayError as exc:  # refused as a whole since it was accepted (rights...)
            await self._finish_item(run, item.index, ItemStatus.FAILED, exc.code)
            return
        record = submitted.record
        run.in_flight[record.id] = item.index
        self._by_exchange[record.id] = run
        await self._store.mark_sent(batch.id, item.index, record.id)
        if submitted.created:
            self._metrics.items_sent.labels(record.service).inc()
        if record.status is not ExchangeStatus.PENDING:
            run.finals.append(record)

    async def _finish_item(
        self, run: _Run, index: int, status: ItemStatus, error_code: str | None
    ) -> None:
        if await self._store.mark_final(run.batch.id, index, status, error_code):
            self._metrics.items_finished.labels(status.value).inc()

    async def _settle(self, run: _Run) -> None:
        """Record the outcomes pushed by ``on_final``."""
        while run.finals:
            record = run.finals[0]
            index = run.in_flight.get(record.id)
            status = item_status_of(record)
            if index is not None and status is not None:
                await self._finish_item(run, index, status, record.error_code)
                del run.in_flight[record.id]
                self._by_exchange.pop(record.id, None)
            run.finals.pop(0)

    async def _sweep(self, run: _Run) -> None:
        """Read back the sent items' exchanges (ended elsewhere, or before a restart)."""
        for item in await self._store.sent_items(run.batch.id):
            if item.exchange_id is None:
                continue
            if item.exchange_id not in run.in_flight:
                run.in_flight[item.exchange_id] = item.index
                self._by_exchange[item.exchange_id] = run
            record = await self._exchange_store.get(item.exchange_id)
            if record is not None and item_status_of(record) is not None:
                run.finals.append(record)
