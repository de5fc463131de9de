"""The batch service: accept a whole batch or refuse it whole, read it, cancel it.

Accepting checks, in order: the envelope as an exchange's (service, version, provider,
purpose, access right, legal basis: the first error wins, as for ``POST /v1/exchanges``),
then every item's data against the request schema and its subject fields against its
subject (``check_data_subject``). Problems of all items are gathered into one 400, each
pointer prefixed with ``/items/N``. Only a wholly valid batch is stored, in one
transaction. Consent is decided per item when it is sent (it may change meanwhile).
"""

from __future__ import annotations

import re
from typing import Any, Final

import structlog

from bus import uuid7
from gateway.batches.pacing import ProviderPacer
from gateway.batches.records import (
    FINAL_ITEM_STATUSES,
    BatchItem,
    BatchRecord,
    BatchStore,
    ItemStatus,
    NewItem,
)
from gateway.batches.request import ParsedBatch, item_request
from gateway.batches.worker import BatchWorker
from gateway.errors import IdempotencyConflictError, InvalidRequestError, NotFoundError
from gateway.exchange_request import request_digest
from gateway.exchange_states import Clock, utc_now
from gateway.exchanges import ExchangeService
from gateway.exchanges_api import iso_time
from gateway.members import Member
from gateway.request_sealing import RequestEncoder
from gateway.subject_check import check_data_subject

__all__ = ["BatchService", "UnknownBatchError", "batch_json"]

_log = structlog.get_logger(__name__)
_BATCH_ID: Final = re.compile(r"[0-9A-Za-z-]{1,64}")
"""What a batch id can look like (a UUID); anything else is unknown without a lookup."""


class UnknownBatchError(NotFoundError):
    """No such batch for this member (another member's batch looks the same)."""

    code = "UNKNOWN_BATCH"


class BatchService:
    """Accepts, reads and cancels batches; the worker sends them."""

    def __init__(
        self,
        *,
        exchanges: ExchangeService,
        encoder: RequestEncoder,
        store: BatchStore,
        worker: BatchWorker | None,
        clock: Clock = utc_now,
    ) -> None:
        self._exchanges = exchanges
        self._encoder = encoder
        self._store = store
        self._worker = worker
        self._clock = clock

    @property
    def pacer(self) -> ProviderPacer | None:
        return None if self._worker is None else self._worker.pacer

    async def submit(
        self,
        member: Member,
        parsed: ParsedBatch,
        *,
        idempotency_key: str | None,
        traceparent: str | None,
    ) -> tuple[BatchRecord, bool]:
        """Validate the whole batch, then store it (or find it by idempotency key)."""
        # The envelope is the exchanges' (its errors first, as for one exchange); the
        # subject is the first valid item's, or a placeholder the resolution never reads.
        sample = next((item for item in parsed.items if item is not None), None)
        resolved = self._exchanges.resolve(
            item_request(parsed.envelope, sample or {"subject": "", "data": {}}), member
        )
        problems = parsed.problems
        for index, item in enumerate(parsed.items):
            if item is None:
                continue
            prefix = f"/items/{index}"
            try:
                check_data_subject(resolved.version, item["data"], item["subject"])
            except InvalidRequestError as exc:
                problems.add(exc.problems, prefix)
            try:
                self._encoder.validate(resolved.service.id, resolved.version, item["data"])
            except InvalidRequestError as exc:
                problems.add(exc.problems, prefix)
        problems.raise_any()
        valid = [item for item in parsed.items if item is not None]
        now = self._clock()
        batch = BatchRecord(
            id=str(uuid7()),
            requester=member.id,
            request_digest=request_digest(parsed.document),
            envelope=parsed.envelope,
            provider=resolved.provider,
            item_count=len(valid),
            created_at=now,
            idempotency_key=idempotency_key,
            traceparent=traceparent,
        )
        items = [
            NewItem(
                index=index,
                subject=item["subject"],
                data=item["data"],
                item_ref=item.get("item_ref"),
                consent_ref=item.get("consent_ref"),
            )
            for index, item in enumerate(valid)
        ]
        stored, created = await self._store.create(batch, items)
        if not created:
            if stored.request_digest != batch.request_digest:
                raise IdempotencyConflictError(
                    "this Idempotency-Key was used for a different batch"
                )
            _log.info("batch_replayed", batch_id=stored.id)
            return stored, False
        _log.info(
            "batch_accepted",
            batch_id=stored.id,
            service=resolved.service.id,
            items=stored.item_count,
        )
        if self._worker is not None:
            self._worker.poke()
        return stored, True

    async def get(self, member: Member, batch_id: str) -> BatchRecord:
        """The batch, only for the member that submitted it (others: 404, as if unknown)."""
        batch = await self._store.get(batch_id) if _BATCH_ID.fullmatch(batch_id) else None
        if batch is None or batch.requester != member.id:
            raise UnknownBatchError(f"no batch {batch_id[:64]!r}")
        return batch

    async def counts(self, batch: BatchRecord) -> dict[ItemStatus, int]:
        return await self._store.counts(batch.id)

    async def cancel(self, member: Member, batch_id: str) -> tuple[BatchRecord, int]:
        """Cancel the items not sent yet; the batch as it stands and how many were cancelled."""
        batch = await self.get(member, batch_id)
        if self._worker is not None:
            self._worker.on_cancel(batch.id)
        cancelled = await self._store.cancel(batch.id, self._clock())
        _log.info("batch_cancelled", batch_id=batch.id, items_cancelled=cancelled)
        await self._store.finish_if_done(batch.id, self._clock())
        return await self.get(member, batch_id), cancelled

    async def items(self, batch: BatchRecord, *, after: int, limit: int) -> list[BatchItem]:
        return await self._store.items_page(batch.id, after=after, limit=limit)


def batch_json(batch: BatchRecord, counts: dict[ItemStatus, int]) -> dict[str, Any]:
    """The batch as the API shows it: what it asks, counts by status, progress."""
    done = sum(n for status, n in counts.items() if status in FINAL_ITEM_STATUSES)
    if batch.finished_at is not None:
        state = "finished"
    elif batch.cancelled_at is not None:
        state = "cancelling"
    else:
        state = "running"
    envelope = batch.envelope
    return {
        "id": batch.id,
        "state": state,
        "service": envelope.get("service"),
        "version": envelope.get("version"),
        "provider": batch.provider,
        "purpose": envelope.get("purpose"),
        "item_count": batch.item_count,
        "counts": {status.value: counts.get(status, 0) for status in ItemStatus},
        "progress": round(done / batch.item_count, 4) if batch.item_count else 1.0,
        "created_at": iso_time(batch.created_at),
        "cancelled_at": iso_time(batch.cancelled_at),
        "finished_at": iso_time(batch.finished_at),
        "results": f"/v1/batches/{batch.id}/results",
    }
