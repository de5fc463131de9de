"""Where replies arrive: the reply sink, the in-process waiters and the expiry loop.

* ``ReplySink`` is the reply router's ``on_reply``: after the reply gate admitted it (the
  exchange's provider's signed answer to this very request), it decodes the reply with
  the *requested* version's response schema as reader (the writer's schema comes from the
  frame's id) and hands the ``Ending`` to ``ExchangeStates.end_with_reply``, which audits
  it (acknowledged) before it stores it and wakes the waiters. So no caller, now or later
  (``GET /v1/exchanges/{id}``), sees a result whose audit event is not durable. If the
  audit write fails, waiting callers get an error (503) instead of the data, the
  exchange stays PENDING, and the sink raises: the router retries the reply until the
  trail is back or its deadline passes (then it times out). A store failure propagates
  too. A reply written after its deadline is left to the expiry (TIMED_OUT).
* ``ReplyWaiters`` holds the futures of callers that asked to wait (``Prefer: wait``),
  bounded in number.
* ``ExpiryLoop`` times out overdue exchanges, so deadlines hold even when nobody waits
  (and on every replica's exchanges: the store hands each one out once); after a restart
  it starts only once the replies waiting on this replica's partitions were read.

Payloads and subject identifiers never reach a log line; codes and ids do.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from bus import PeriodicTask, Reply, ReplyStatus
from bus.audit import AuditWriteError, payload_digest
from contracts import Codec, CodecError, SchemaId, avro_to_json
from gateway.exchange_states import REPLY_GRACE, Clock, Ending, ExchangeStates, utc_now
from gateway.metrics import GatewayMetrics
from gateway.reply_verification import ReplyGate
from gateway.store.base import ExchangeRecord, ExchangeStatus, ExchangeStore

__all__ = [
    "REPLY_MISMATCH",
    "REPLY_UNDECODABLE",
    "ExpiryLoop",
    "ReplySink",
    "ReplyWaiters",
    "ResponseSchemas",
    "WaitReleased",
    "audit_digest_key",
]

REPLY_UNDECODABLE: Final = "REPLY_UNDECODABLE"
REPLY_MISMATCH: Final = "REPLY_MISMATCH"
_log = structlog.get_logger(__name__)

ResponseSchemas = Mapping[tuple[str, str], tuple[SchemaId, Any]]
"""(service id, ``MAJOR.MINOR``) -> (response schema id, response schema)."""

_LATE_READ: Final = REPLY_GRACE
"""A reply written in time but read this long after the deadline is not used any more."""


def _written_at(reply: Reply, now: datetime) -> datetime:
    """When the reply was written on the bus. A reply that was on the topic in time counts
    as in time even if this gateway reads it later (it was restarting): judged by the
    record's timestamp, never later than now."""
    if reply.timestamp_ms <= 0:
        return now
    return min(now, datetime.fromtimestamp(reply.timestamp_ms / 1000, UTC))


def audit_digest_key(subject_key: bytes) -> bytes:
    """The payload-digest key, derived from the subject key (one secret to manage, two
    distinct keys: a digest can never be compared with a pseudonym)."""
    return hmac.new(subject_key, b"interop-bus/audit/payload-digest", hashlib.sha256).digest()


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

    def fail(self, exchange_id: str, error: Exception) -> None:
        """Wake every caller waiting for ``exchange_id`` with ``error`` (no data)."""
        for future in self._futures.get(exchange_id, ()):
            if not future.done():
                future.set_exception(error)

    def resolve(self, record: ExchangeRecord) -> None:
        """Wake every caller waiting for ``record`` (now final)."""
        for future in self._futures.get(record.id, ()):
            if not future.done():
                future.set_result(record)


class ReplySink:
    """The reply router's ``on_reply``: admit, decode, then end the exchange."""

    def __init__(
        self,
        *,
        store: ExchangeStore,
        states: ExchangeStates,
        codec: Codec,
        responses: ResponseSchemas,
        waiters: ReplyWaiters,
        metrics: GatewayMetrics,
        digest_key: bytes,
        clock: Clock = utc_now,
        gate: ReplyGate | None = None,
    ) -> None:
        self._gate = gate
        self._store = store
        self._states = states
        self._codec = codec
        self._responses = responses
        self._waiters = waiters
        self._metrics = metrics
        self._digest_key = digest_key
        self._clock = clock

    async def __call__(self, reply: Reply) -> None:
        envelope = reply.envelope
        log = _log.bind(**envelope.log_context(), reply_status=str(envelope.status))
        record = self._states.sent_record(envelope.exchange_id) or await self._store.get(
            envelope.exchange_id
        )
        # Step one: only the exchange's provider's signed answer to this request goes on.
        if self._gate is not None and not await self._gate.admit(reply, record):
            return
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
        now = self._clock()
        if _written_at(reply, now) >= record.deadline or now >= record.deadline + _LATE_READ:
            # Too late: the expiry times it out (and audits that); never completed now.
            log.info("reply_after_deadline")
            return
        ending = self._ending(record, reply, log)
        digest = payload_digest(self._digest_key, reply.value) if reply.value else None
        try:
            updated = await self._states.end_with_reply(record, ending, response_digest=digest)
        except AuditWriteError as exc:
            self._waiters.fail(record.id, exc)  # no data without its audit event
            raise
        if updated is not None:
            log.info("exchange_completed", exchange_status=updated.status.value)

    def _ending(
        self, record: ExchangeRecord, reply: Reply, log: structlog.typing.FilteringBoundLogger
    ) -> Ending:
        envelope = reply.envelope
        status = envelope.status or ReplyStatus.ERROR
        if (
            envelope.service != record.service
            or str(envelope.major) != record.version.split(".")[0]
        ):
            log.warning("reply_mismatch")
            return Ending.failed(
                status, REPLY_MISMATCH, "the reply is for another service or version"
            )
        if status is ReplyStatus.NOT_FOUND:
            return Ending.completed(status, None)
        if status is not ReplyStatus.OK:
            code = envelope.error_code or "PROVIDER_ERROR"
            return Ending.failed(status, code, f"the provider answered {status.value} ({code})")
        response_id, response_schema = self._responses[(record.service, record.version)]
        try:
            decoded = self._codec.decode(reply.value or b"", response_id)
            result = avro_to_json(response_schema, decoded.datum)
        except CodecError as exc:
            # The code only: a decoder's message may quote bytes of the payload.
            log.warning("reply_undecodable", error_code=exc.code)
            return Ending.failed(
                status, REPLY_UNDECODABLE, f"the reply does not decode ({exc.code})"
            )
        return Ending.completed(status, result)


class ExpiryLoop:
    """Every ``interval_s``, time out overdue exchanges (``ExchangeStates``)."""

    def __init__(
        self,
        *,
        states: ExchangeStates,
        interval_s: float,
        ready: asyncio.Event | None = None,
        ready_timeout_s: float = 30.0,
    ) -> None:
        self._states = states
        self._ready = ready
        self._ready_timeout_s = ready_timeout_s
        self._loop = PeriodicTask(
            "gateway-expiry",
            self.run_once,
            interval_s=interval_s,
            failure_event="expiry_failed",
            before=self._replies_read,
        )

    def start(self) -> None:
        """Run in the background until ``stop``."""
        self._loop.start()

    async def stop(self) -> None:
        """Cancel the loop (safe to call twice)."""
        await self._loop.stop()

    async def run_once(self) -> int:
        """One pass; how many exchanges timed out."""
        return await self._states.expire_overdue()

    async def _replies_read(self) -> None:
        if self._ready is None:
            return
        # After a restart, replies may be waiting on the reply partitions: read them
        # before expiring anything, or answered exchanges would end TIMED_OUT.
        try:
            async with asyncio.timeout(self._ready_timeout_s):
                await self._ready.wait()
        except TimeoutError:
            _log.warning("expiry_started_before_replies_read", waited_s=self._ready_timeout_s)
