"""Where exchanges end: the reply sink, the in-process waiters and the expiry loop.

* ``ReplySink`` is the reply router's ``on_reply``: it decodes every reply with the
  *requested* version's response schema as reader (the writer's schema comes from the
  frame's id), stores the result (``store.complete`` only moves a PENDING exchange, so a
  duplicate reply changes nothing), and only then wakes a caller waiting on this replica.
  A store failure propagates: the router retries and does not commit past the reply.
* ``ReplyWaiters`` holds the futures of callers that asked to wait (``Prefer: wait``),
  bounded in number.
* ``ExpiryLoop`` marks overdue exchanges timed out, so deadlines hold even when nobody
  waits (and on every replica's exchanges: the store hands each one out once).

Payloads and subject identifiers never reach a log line; codes and ids do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from bus import Reply, ReplyStatus
from contracts import Codec, CodecError, SchemaId, avro_to_json
from gateway.metrics import GatewayMetrics
from gateway.store.base import ExchangeRecord, ExchangeStatus, ExchangeStore

__all__ = [
    "REPLY_MISMATCH",
    "REPLY_UNDECODABLE",
    "ExpiryLoop",
    "ReplySink",
    "ReplyWaiters",
    "ResponseSchemas",
    "WaitReleased",
]

REPLY_UNDECODABLE: Final = "REPLY_UNDECODABLE"
REPLY_MISMATCH: Final = "REPLY_MISMATCH"
_log = structlog.get_logger(__name__)

ResponseSchemas = Mapping[tuple[str, str], tuple[SchemaId, Any]]
"""(service id, ``MAJOR.MINOR``) -> (response schema id, response schema)."""

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class WaitReleased(Exception):
    """The gateway is shutting down: stop waiting and answer with the current state."""


class ReplyWaiters:
    """Futures of callers waiting on this replica, by exchange id (several per id)."""

    def __init__(self, max_waiting: int) -> None:
        self._max = max_waiting
        self._futures: dict[str, set[asyncio.Future[ExchangeRecord]]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def register(self, exchange_id: str) -> asyncio.Future[ExchangeRecord] | None:
        """A future completed with the final record; None when the bound is reached."""
        if self._count >= self._max:
            return None
        future: asyncio.Future[ExchangeRecord] = asyncio.get_running_loop().create_future()
        self._futures.setdefault(exchange_id, set()).add(future)
        self._count += 1
        return future

    def discard(self, exchange_id: str, future: asyncio.Future[ExchangeRecord]) -> None:
        """The caller stopped waiting (answered, timed out or went away)."""
        futures = self._futures.get(exchange_id)
        if futures is None or future not in futures:
            return
        futures.discard(future)
        self._count -= 1
        if not futures:
            del self._futures[exchange_id]

    def release_all(self) -> None:
        """Shutting down: every waiting caller stops waiting now (``WaitReleased``) and
        answers with the exchange as it stands; the reply will still be stored."""
        for futures in self._futures.values():
            for future in futures:
                if not future.done():
                    future.set_exception(WaitReleased())

    def resolve(self, record: ExchangeRecord) -> None:
        """Wake every caller waiting for ``record`` (now final)."""
        for future in self._futures.get(record.id, ()):
            if not future.done():
                future.set_result(record)


class ReplySink:
    """The reply router's ``on_reply``: decode, store, then wake the waiters."""

    def __init__(
        self,
        *,
        store: ExchangeStore,
        codec: Codec,
        responses: ResponseSchemas,
        waiters: ReplyWaiters,
        metrics: GatewayMetrics,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._codec = codec
        self._responses = responses
        self._waiters = waiters
        self._metrics = metrics
        self._clock = clock

    async def __call__(self, reply: Reply) -> None:
        envelope = reply.envelope
        log = _log.bind(**envelope.log_context(), reply_status=str(envelope.status))
        record = await self._store.get(envelope.exchange_id)
        if record is None:
            self._metrics.replies.labels("unknown").inc()
            log.info("reply_for_unknown_exchange")
            return
        if record.status is not ExchangeStatus.PENDING:
            self._metrics.replies.labels("duplicate").inc()
            if record.status is ExchangeStatus.TIMED_OUT:
                self._metrics.replies_late.inc()
            log.info("reply_after_final", exchange_status=record.status.value)
            return
        outcome = self._outcome(record, reply, log)
        updated = await self._store.complete(record.id, completed_at=self._clock(), **outcome)
        if updated is None:  # another replica or the expiry loop got there first
            self._metrics.replies.labels("duplicate").inc()
            return
        self._metrics.replies.labels(updated.status.value).inc()
        elapsed = (updated.completed_at or self._clock()) - updated.created_at
        self._metrics.exchange_latency.labels(updated.service, updated.status.value).observe(
            max(0.0, elapsed.total_seconds())
        )
        log.info("exchange_completed", exchange_status=updated.status.value)
        self._waiters.resolve(updated)

    def _outcome(
        self, record: ExchangeRecord, reply: Reply, log: structlog.typing.FilteringBoundLogger
    ) -> dict[str, Any]:
        envelope = reply.envelope
        status = envelope.status or ReplyStatus.ERROR
        if (
            envelope.service != record.service
            or str(envelope.major) != record.version.split(".")[0]
        ):
            log.warning("reply_mismatch")
            return _failed(status, REPLY_MISMATCH, "the reply is for another service or version")
        if status is ReplyStatus.NOT_FOUND:
            return {"status": ExchangeStatus.COMPLETED, "reply_status": status.value}
        if status is not ReplyStatus.OK:
            code = envelope.error_code or "PROVIDER_ERROR"
            return _failed(status, code, f"the provider answered {status.value} ({code})")
        response_id, response_schema = self._responses[(record.service, record.version)]
        try:
            decoded = self._codec.decode(reply.value or b"", response_id)
            result = avro_to_json(response_schema, decoded.datum)
        except CodecError as exc:
            # The code only: a decoder's message may quote bytes of the payload.
            log.warning("reply_undecodable", error_code=exc.code)
            return _failed(status, REPLY_UNDECODABLE, f"the reply does not decode ({exc.code})")
        return {"status": ExchangeStatus.COMPLETED, "reply_status": status.value, "result": result}


def _failed(status: ReplyStatus, code: str, detail: str) -> dict[str, Any]:
    return {
        "status": ExchangeStatus.FAILED,
        "reply_status": status.value,
        "error_code": code,
        "error_detail": detail,
    }


class ExpiryLoop:
    """Every ``interval_s``, mark overdue exchanges timed out and wake their waiters."""

    def __init__(
        self,
        *,
        store: ExchangeStore,
        waiters: ReplyWaiters,
        metrics: GatewayMetrics,
        interval_s: float,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._waiters = waiters
        self._metrics = metrics
        self._interval_s = interval_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run in the background until ``stop``."""
        self._task = asyncio.create_task(self._run(), name="gateway-expiry")

    async def stop(self) -> None:
        """Cancel the loop (safe to call twice)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> int:
        """One pass; how many exchanges timed out."""
        expired = await self._store.expire_overdue(self._clock())
        for record in expired:
            self._metrics.expired.inc()
            _log.info("exchange_timed_out", exchange_id=record.id, requester=record.requester)
            self._waiters.resolve(record)
        return len(expired)

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # the store blinked: try again next round
                _log.warning("expiry_failed", exception_type=type(exc).__name__)
            await asyncio.sleep(self._interval_s)
