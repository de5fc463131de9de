"""The one owner of an exchange's state machine: every transition with its audit event.

An exchange is PENDING from the moment the store holds it until exactly one of these
moves it, once (``store.complete`` only moves a PENDING exchange, across replicas too)::

    PENDING ── the provider answered ok / not_found ──────────────▶ COMPLETED
    PENDING ── the provider answered an error / the reply is bad ─▶ FAILED
    PENDING ── the gateway failed before a provider saw it ───────▶ FAILED  (key released)
    PENDING ── the deadline passed without a usable reply ─────────▶ TIMED_OUT

Two rules decide how each transition meets the audit trail:

* **A reply releases data only after its event is durable.** COMPLETED (or the
  provider's FAILED) is written and acknowledged *before* the store moves; if the trail
  is down, the exchange stays PENDING and the reply router retries the reply.
* **A reply ended unacknowledged is not timed out.** When a reply's COMPLETED (or
  FAILED) write fails (it timed out: the producer may still deliver it, e.g. once the
  audit partition has a new leader), this replica's time-outs leave the exchange PENDING,
  for up to ``REPLY_GRACE`` past its deadline: the reply router retries the reply until
  the trail takes it, so the exchange ends once, the reply's way, not COMPLETED *and*
  TIMED_OUT. An ending in flight is kept apart from a timeout by ``_ClosingGate`` (below).
* **Only the owner times an exchange out at its deadline.** Its replies come back to the
  replica that sent it (its reply partitions, the exchange's ``owner``), and only that
  replica knows whether one is being ended. Another replica sharing the store times it
  out only ``OTHERS_GRACE`` past the deadline: after the owner's last chance to end it
  with a reply read in time (``REPLY_GRACE``), with a minute to spare for clocks and
  writes in flight. So a replica that died does not leave its exchanges PENDING for good,
  and a live one is never overtaken while it ends one.
* **A closing that releases no data is owed, never lost.** TIMED_OUT and the gateway's
  own FAILED are marked owed in the very statement that ends the exchange
  (``closing_owed``); ``gateway.audit_outbox.AuditOutbox`` writes them when the trail
  takes writes, also after a crash or restart. So every REQUESTED gets its closing event.

Within one process a reply's ending and a timeout never overlap for an exchange
(``_ClosingGate``): a timeout waits for an ending whose COMPLETED is being written, and
an ending that had to wait for a timeout first reads the exchange again. Without that, a
reply handled at its deadline could write COMPLETED while the waiter or the expiry timed
the exchange out, and the log would close it twice.

Every exchange event has one id per step (``exchange_event_id``): an event written twice
(a crash between the trail and the store, two replicas draining the outbox) is indexed
once. docs/exchange-states.md draws the machine and says what each caller sees.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import structlog

from bus import ReplyStatus, trace_id_of
from bus.audit import AuditEventType, AuditRecord, AuditTrail, AuditWriteError, exchange_event_id
from gateway.metrics import GatewayMetrics
from gateway.store.base import ExchangeRecord, ExchangeStatus, ExchangeStore

__all__ = [
    "AUDIT_FAILED",
    "GATEWAY_FAILURES",
    "OTHERS_GRACE",
    "REPLY_GRACE",
    "SEND_FAILED",
    "TIMED_OUT_REASON",
    "Clock",
    "Ending",
    "ExchangeStates",
    "OutboxWaker",
    "closing_event",
    "exchange_audit_record",
    "exchange_owner",
    "utc_now",
]

SEND_FAILED: Final = "GATEWAY_SEND_FAILED"
"""The gateway could not hand the request to the bus (FAILED, its key released)."""
AUDIT_FAILED: Final = "GATEWAY_AUDIT_FAILED"
"""The trail did not acknowledge REQUESTED: nothing was sent (FAILED, key released)."""
GATEWAY_FAILURES: Final = frozenset({SEND_FAILED, AUDIT_FAILED})
"""Error codes of exchanges the gateway refused unsent: answered 503, never the provider's."""
TIMED_OUT_REASON: Final = "the deadline passed without a reply"
REPLY_GRACE: Final = timedelta(minutes=5)
"""How long past its deadline a reply read in time may still end its exchange."""
OTHERS_GRACE: Final = REPLY_GRACE + timedelta(minutes=1)
"""How long past its deadline another replica's exchange is left to its owner."""
# Records of sent exchanges kept in memory for their replies (beyond: read from the store).
_MAX_REMEMBERED: Final = 100_000
_log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
OutboxWaker = Callable[[], None]
"""Tells the outbox that a closing event is owed (it drains soon, not on its next tick)."""


def exchange_owner(reply_topic: str, reply_partitions: Collection[int]) -> str:
    """The ``owner`` a replica writes on its exchanges: where their replies come back
    (partitions are disjoint across the replicas of a group)."""
    return f"{reply_topic}:{','.join(str(p) for p in sorted(reply_partitions))}"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Ending:
    """How a reply ends an exchange: its final status and what the store keeps."""

    status: ExchangeStatus
    reply_status: str
    result: Mapping[str, Any] | None = None
    error_code: str | None = None
    error_detail: str | None = None

    @classmethod
    def completed(cls, reply_status: ReplyStatus, result: Mapping[str, Any] | None) -> Ending:
        return cls(ExchangeStatus.COMPLETED, reply_status.value, result=result)

    @classmethod
    def failed(cls, reply_status: ReplyStatus, code: str, detail: str) -> Ending:
        return cls(ExchangeStatus.FAILED, reply_status.value, error_code=code, error_detail=detail)

    @property
    def event_type(self) -> AuditEventType:
        if self.status is ExchangeStatus.COMPLETED:
            return AuditEventType.COMPLETED
        return AuditEventType.FAILED

    @property
    def outcome(self) -> str:
        """The audit event's outcome: the reply status, or the error code."""
        if self.status is ExchangeStatus.COMPLETED:
            return self.reply_status.upper()
        return self.error_code or "PROVIDER_ERROR"


def exchange_audit_record(
    record: ExchangeRecord,
    event_type: AuditEventType,
    *,
    actor: str,
    now: datetime,
    outcome: str,
    reason: str | None = None,
    request_digest: str | None = None,
    response_digest: str | None = None,
) -> AuditRecord:
    """The audit record of one step of ``record`` (metadata only, the subject as pseudonym),
    with the step's one event id."""
    latency = None
    if event_type is not AuditEventType.REQUESTED:
        latency = max(0, int((now - record.created_at).total_seconds() * 1000))
    return AuditRecord(
        type=event_type,
        time=now,
        actor=actor,
        exchange_id=record.id,
        requester=record.requester,
        official=record.official,
        provider=record.provider,
        service=record.service,
        version=record.version,
        purpose=record.purpose,
        procedure=record.procedure,
        legal_basis=record.legal_basis,
        consent_ref=record.consent_ref,
        subject_ref=record.subject_ref or None,
        request_digest=request_digest,
        response_digest=response_digest,
        outcome=outcome,
        reason=reason,
        latency_ms=latency,
        trace_id=trace_id_of(record.traceparent) if record.traceparent else None,
        event_id=exchange_event_id(actor, record.id, event_type),
    )


def closing_event(record: ExchangeRecord, *, actor: str) -> AuditRecord:
    """The owed closing event of an ended exchange, rebuilt from the stored record alone
    (so the outbox needs nothing but the store): TIMED_OUT, or the gateway's FAILED."""
    when = record.completed_at or record.deadline
    if record.status is ExchangeStatus.TIMED_OUT:
        return exchange_audit_record(
            record,
            AuditEventType.TIMED_OUT,
            actor=actor,
            now=when,
            outcome="TIMED_OUT",
            reason=TIMED_OUT_REASON,
        )
    if record.status is ExchangeStatus.FAILED:
        return exchange_audit_record(
            record,
            AuditEventType.FAILED,
            actor=actor,
            now=when,
            outcome=record.error_code or SEND_FAILED,
            reason=record.error_detail,
        )
    raise ValueError(f"exchange {record.id} owes no closing event in status {record.status}")


class _ClosingGate:
    """Keeps a reply's ending and a timeout of the same exchange apart, in this process.

    Endings run concurrently (each writes its own event); a timeout pass waits for the
    endings in flight (of its exchanges, or all for the bulk expiry), and endings that
    begin while a pass runs wait for it, then learn that they waited. Endings are short
    (one acknowledged write, bounded by the trail's timeout), so the waits are too.
    """

    def __init__(self) -> None:
        self._endings: dict[str, asyncio.Future[None]] = {}
        self._passes = 0
        self._no_pass = asyncio.Event()
        self._no_pass.set()

    async def begin_ending(self, exchange_id: str) -> bool:
        """Register an ending; True if it had to wait for a timeout pass first."""
        waited = False
        while self._passes:
            waited = True
            await self._no_pass.wait()
        self._endings[exchange_id] = asyncio.get_running_loop().create_future()
        return waited

    def end_ending(self, exchange_id: str) -> None:
        done = self._endings.pop(exchange_id, None)
        if done is not None and not done.done():
            done.set_result(None)

    @contextlib.asynccontextmanager
    async def timing_out(self, exchange_ids: Collection[str] | None) -> AsyncIterator[None]:
        """A timeout pass over ``exchange_ids`` (None: every overdue exchange)."""
        self._passes += 1
        self._no_pass.clear()
        try:
            in_flight = [
                done
                for exchange_id, done in self._endings.items()
                if exchange_ids is None or exchange_id in exchange_ids
            ]
            if in_flight:
                await asyncio.gather(*(asyncio.shield(done) for done in in_flight))
            yield
        finally:
            self._passes -= 1
            if not self._passes:
                self._no_pass.set()


class ExchangeStates:
    """Moves exchanges out of PENDING, each move with its audit event (see the module)."""

    def __init__(
        self,
        *,
        store: ExchangeStore,
        trail: AuditTrail,
        metrics: GatewayMetrics,
        actor: str,
        owner: str,
        on_owed: OutboxWaker,
        on_final: Callable[[ExchangeRecord], None],
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._trail = trail
        self._metrics = metrics
        self._actor = actor
        self._owner = owner
        self._on_owed = on_owed
        self._on_final = on_final
        self._clock = clock
        self._gate = _ClosingGate()
        self._ending: dict[str, datetime] = {}
        """Exchange id -> deadline of each reply whose ending is being written here, or
        was written unacknowledged (see the module: time-outs spare them)."""
        self._sent: dict[str, ExchangeRecord] = {}
        """The exchanges this replica sent and has not seen end: their replies come back to
        this replica's reply partitions, and the reply sink takes the record from here
        instead of reading it back from the store (one statement less per exchange). The
        fields a reply is checked against never change after the request is sent."""

    @property
    def actor(self) -> str:
        """The gateway's member id: the actor of every event this module writes."""
        return self._actor

    @property
    def owner(self) -> str:
        """This replica, as the ``owner`` of the exchanges it sends (see the module)."""
        return self._owner

    async def audit_denied(self, event: AuditRecord) -> bool:
        """DENIED (no exchange is created: the consent decision refused the request),
        acknowledged: True. False when the trail did not take it; the caller then answers
        503, never a denial nobody can audit."""
        try:
            await self._trail.record(event)
        except AuditWriteError as exc:
            _log.warning("denial_not_audited", error_code=exc.code)
            return False
        return True

    async def audit_requested(
        self, record: ExchangeRecord, *, request_digest: str, reason: str
    ) -> bool:
        """REQUESTED, acknowledged within the exchange's deadline: True, and it may be sent.
        False: the trail did not acknowledge it (down, or too slow), the exchange is
        refused unsent (``AUDIT_FAILED``) and nothing may be sent.

        A REQUESTED that timed out may still reach the log later (the producer keeps it
        queued): the owed FAILED closes it then. If it never does, that FAILED stands
        alone in the log, which says the truth: the gateway gave up on this exchange."""
        event = exchange_audit_record(
            record,
            AuditEventType.REQUESTED,
            actor=self._actor,
            now=self._clock(),
            outcome="ALLOWED",
            reason=reason,
            request_digest=request_digest,
        )
        remaining_s = max(0.1, (record.deadline - self._clock()).total_seconds())
        try:
            # Never past the exchange's deadline (the trail's own timeout is shorter).
            async with asyncio.timeout(remaining_s):
                await self._trail.record(event)
        except (AuditWriteError, TimeoutError) as exc:
            code = exc.code if isinstance(exc, AuditWriteError) else "AUDIT_WRITE_TIMEOUT"
            _log.warning("exchange_not_audited", error_code=code)
            await self.refuse_unsent(
                record, AUDIT_FAILED, f"the audit trail did not record the request ({code})"
            )
            return False
        if len(self._sent) < _MAX_REMEMBERED:
            self._sent[record.id] = record
        return True

    def sent_record(self, exchange_id: str) -> ExchangeRecord | None:
        """The record of an exchange this replica sent and has not seen end (else None:
        ask the store)."""
        return self._sent.get(exchange_id)

    def _final(self, record: ExchangeRecord) -> None:
        self._sent.pop(record.id, None)
        self._on_final(record)

    async def end_with_reply(
        self, record: ExchangeRecord, ending: Ending, *, response_digest: str | None
    ) -> ExchangeRecord | None:
        """COMPLETED or the provider's FAILED: audited and acknowledged first (raises
        ``AuditWriteError``, the exchange left PENDING), then stored, then waiters woken.
        None when another replica or the expiry got there first."""
        waited = await self._gate.begin_ending(record.id)
        try:
            # A timeout ran meanwhile, or could have since ``record`` was read (it is past
            # its deadline): is the exchange still ours to end? Registered first, so a
            # later timeout waits for us; anything earlier shows in the store.
            if waited or self._clock() >= record.deadline:
                fresh = await self._store.get(record.id)
                if fresh is None or fresh.status is not ExchangeStatus.PENDING:
                    self._metrics.replies.labels("duplicate").inc()
                    return None
            return await self._end_with_reply(record, ending, response_digest=response_digest)
        finally:
            self._gate.end_ending(record.id)

    async def _end_with_reply(
        self, record: ExchangeRecord, ending: Ending, *, response_digest: str | None
    ) -> ExchangeRecord | None:
        now = self._clock()
        event = exchange_audit_record(
            record,
            ending.event_type,
            actor=self._actor,
            now=now,
            outcome=ending.outcome,
            reason=ending.error_code,
            response_digest=response_digest,
        )
        # Spared by the time-outs from now until the store says how it ended (if the write
        # fails, the event may still land: the router retries this reply).
        self._ending[record.id] = record.deadline
        await self._trail.record(event)
        updated = await self._store.complete(
            record.id,
            status=ending.status,
            completed_at=now,
            reply_status=ending.reply_status,
            result=ending.result,
            error_code=ending.error_code,
            error_detail=ending.error_detail,
        )
        self._ending.pop(record.id, None)
        if updated is None:
            self._metrics.replies.labels("duplicate").inc()
            return None
        self._metrics.replies.labels(updated.status.value).inc()
        elapsed = (updated.completed_at or now) - updated.created_at
        self._metrics.exchange_latency.labels(updated.service, updated.status.value).observe(
            max(0.0, elapsed.total_seconds())
        )
        self._final(updated)
        return updated

    async def refuse_unsent(self, record: ExchangeRecord, code: str, detail: str) -> None:
        """The gateway failed before a provider saw the request (``SEND_FAILED``,
        ``AUDIT_FAILED``): FAILED with the gateway's code (never the provider's), its
        closing event owed, its idempotency key released so a retry starts afresh.

        A store that fails here too leaves the exchange PENDING: the expiry times it out
        later (and owes that closing event), and the key stays taken until then."""
        try:
            ended = await self._store.complete(
                record.id,
                status=ExchangeStatus.FAILED,
                completed_at=self._clock(),
                error_code=code,
                error_detail=detail,
                closing_owed=True,
            )
            await self._store.release_idempotency_key(record.id)
        except Exception as exc:  # the store may be what failed: the expiry closes it
            _log.warning("exchange_not_refused", error_type=type(exc).__name__)
            return
        if ended is not None:
            self._on_owed()
            self._final(ended)

    async def time_out(self, record: ExchangeRecord) -> ExchangeRecord | None:
        """TIMED_OUT (closing owed) if still PENDING; None when it ended meanwhile, its
        reply's ending was written unacknowledged (it stays PENDING for the reply), or it
        is another replica's and not ``OTHERS_GRACE`` overdue (its owner ends it)."""
        if record.owner != self._owner and self._clock() < record.deadline + OTHERS_GRACE:
            return None
        async with self._gate.timing_out({record.id}):
            if record.id in self._sparing():
                return None
            expired = await self._store.complete(
                record.id,
                status=ExchangeStatus.TIMED_OUT,
                completed_at=self._clock(),
                closing_owed=True,
            )
        if expired is not None:
            self._timed_out([expired])
        return expired

    async def expire_overdue(self) -> int:
        """Every overdue PENDING exchange TIMED_OUT (closing owed); how many."""
        now = self._clock()
        async with self._gate.timing_out(None):
            expired = await self._store.expire_overdue(
                now, sparing=self._sparing(), owner=self._owner, others_before=now - OTHERS_GRACE
            )
        self._timed_out(expired)
        return len(expired)

    def _sparing(self) -> set[str]:
        """The exchanges whose reply is being ended, forgotten ``REPLY_GRACE`` past their
        deadline (the reply router gives a reply up then, too)."""
        cutoff = self._clock() - REPLY_GRACE
        for exchange_id in [i for i, deadline in self._ending.items() if deadline < cutoff]:
            del self._ending[exchange_id]
        # Ended by another replica (or its end never seen here): forgotten as well.
        for exchange_id in [i for i, r in self._sent.items() if r.deadline < cutoff]:
            del self._sent[exchange_id]
        return set(self._ending)

    def _timed_out(self, records: list[ExchangeRecord]) -> None:
        for record in records:
            self._metrics.expired.inc()
            _log.info("exchange_timed_out", exchange_id=record.id, requester=record.requester)
            self._final(record)
        if records:
            self._on_owed()
