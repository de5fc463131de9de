"""One request record, from the request topic to a committed reply: the runtime's core.

``RequestPipeline`` is the ``BusConsumer`` handler of one service version. Per record:

1. **verify** (one call): the gateway's signature, key id, deadline and claims
   (``bus.request_signing.RequestVerifier``). Refused: audited ``REJECTED``,
   dead-lettered with the reason; no handler runs and nothing is replied (the reply
   routing of an unverified record is not to be trusted).
2. a request for another provider of the same service is left to that provider.
3. **dedupe**: a reply stored for the exchange id is sent again, byte for byte, and the
   registry is not asked (a redelivery after a crash, or a replayed record).
4. **decode** with the provider's own request schema (Avro resolution from the writer's
   minor). Undecodable: audited ``REJECTED``, answered ``rejected`` so the requester
   does not wait for its deadline, and dead-lettered.
4b. **subject**: the decoded subject fields (``subject_fields`` of the contract) must name
   the subject the gateway bound into the signed envelope (``bus.subject_binding``), so a
   request whose data names anyone but the person consent was decided for never reaches
   the registry: refused like an undecodable one (``SUBJECT_MISMATCH``...).
5. audit ``DELIVERED``; **answer** (``connectors.answering``: concurrency, breaker,
   retries, deadline, mapping, encoding).
6. **store** the reply (while ``DELIVERED`` is being acknowledged), then, once it is,
   **produce** it to the topic and partition the envelope names, then audit
   ``RESPONDED``; only then is the record acknowledged (committed). A reply replayed
   from the store (step 3) is preceded by ``DELIVERED`` again: it may have been kept
   before its first ``DELIVERED`` was acknowledged.

At-least-once: any failure before the acknowledgement leaves the record uncommitted or
retried, and the next attempt finds the stored reply (step 3). An audit write that fails
is retried the same way, so no reply goes unaudited.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import structlog

from bus import (
    Ack,
    BusError,
    DeadLetter,
    Delivery,
    Envelope,
    EnvelopeError,
    FieldEncryptionError,
    FieldOpener,
    InboundRecord,
    MemberId,
    MessageKind,
    Outcome,
    RecordSigner,
    RejectReason,
    ReplyStatus,
    RequestRejectedError,
    RequestTopic,
    Retry,
    Topic,
    TopicName,
    check_subject_binding,
    request_digest,
    trace_id_of,
)
from bus.audit import AuditRecord, AuditTrail, AuditWriteError, unverified_record
from connectors.answering import Answerer, ReplyPlan, signed_reply_envelope
from connectors.audit_steps import AuditSteps
from connectors.errors import ReplyStoreError
from connectors.metrics import ConnectorMetrics
from connectors.reply_store import ReplyStore, StoredReply
from connectors.sdk import HandlerContext
from contracts import Codec, CodecError, SchemaId

__all__ = [
    "EnvelopeVerifier",
    "ReplySender",
    "RequestPipeline",
    "ServedContract",
    "UnsignedEnvelopeCheck",
]

_log = structlog.get_logger(__name__)

REQUEST_UNDECODABLE = "REQUEST_UNDECODABLE"
FIELDS_NOT_OPENED: Final = "FIELDS_NOT_OPENED"
"""The request's personal fields did not open with this provider's field keys."""
_UNVERIFIED: Final = frozenset(
    {
        RejectReason.UNSIGNED,
        RejectReason.UNKNOWN_KEY,
        RejectReason.BAD_SIGNATURE,
        RejectReason.MALFORMED_ENVELOPE,
        RejectReason.WRONG_TIME,
    }
)
"""Refusals before the signature held, or when it held only for a time the record states
and cannot have (``WRONG_TIME``: a retired key dating a request back into its window): the
record's claims are not the gateway's."""
_STORE_ATTEMPTS = 3
_SEEN_MAX: Final = 50_000
"""Exchange ids remembered within their deadlines (see ``_first_sight``); past this many
the store is asked again, as for any record."""


class EnvelopeVerifier(Protocol):
    """``bus.request_signing.RequestVerifier``'s shape: the envelope and the request's
    digest (what a reply must name), or RequestRejectedError."""

    def verify_with_digest(
        self, record: InboundRecord, *, now: datetime
    ) -> tuple[Envelope, str]: ...


class ReplySender(Protocol):
    """``bus.BusProducer``'s ``send``."""

    async def send(
        self,
        topic: Topic | TopicName,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        partition: int | None = None,
    ) -> Delivery: ...


class UnsignedEnvelopeCheck:
    """For development without a signing gateway (``allow_unsigned: true``) only.

    Checks everything but the signature: a request envelope, on its own topic, before
    its deadline. Refusals are ``RequestRejectedError``s like the verifier's.
    """

    def __init__(self, topic: RequestTopic) -> None:
        self._topic = topic

    def verify(self, record: InboundRecord, *, now: datetime) -> Envelope:
        try:
            envelope = Envelope.from_headers(record.headers)
        except EnvelopeError as exc:
            raise RequestRejectedError(RejectReason.MALFORMED_ENVELOPE, exc.message) from None
        if envelope.kind is not MessageKind.REQUEST:
            raise RequestRejectedError(RejectReason.MALFORMED_ENVELOPE, "not a request envelope")
        if (envelope.service, envelope.major) != (self._topic.service, self._topic.major):
            raise RequestRejectedError(
                RejectReason.WRONG_TOPIC,
                f"a {envelope.service}.v{envelope.major} request does not belong on this topic",
            )
        if envelope.deadline is not None and envelope.deadline <= now:
            raise RequestRejectedError(
                RejectReason.DEADLINE_PASSED, "the request's deadline has passed"
            )
        return envelope

    def verify_with_digest(self, record: InboundRecord, *, now: datetime) -> tuple[Envelope, str]:
        envelope = self.verify(record, now=now)
        return envelope, request_digest(envelope, record.value or b"")


@dataclass(frozen=True, slots=True)
class ServedContract:
    """The contract version a pipeline serves: the service, the minor the provider
    implements, the request schema it decodes with, and the request fields that must name
    the signed subject (``subject_fields``)."""

    service: str
    version: str
    request_schema_id: SchemaId
    subject_fields: Sequence[str] = ()
    sealed_fields: Sequence[str] = ()
    """The personal fields the gateway seals for this provider (``bus.field_encryption``)."""


class RequestPipeline:
    """The ``RecordHandler`` of one service version of one connector member."""

    def __init__(
        self,
        *,
        member: MemberId,
        served: ServedContract,
        codec: Codec,
        verifier: EnvelopeVerifier,
        answerer: Answerer,
        store: ReplyStore,
        sender: ReplySender,
        audit: AuditTrail,
        metrics: ConnectorMetrics,
        digest_key: bytes,
        reply_margin_s: float = 0.2,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        signer: RecordSigner | None = None,
        opener: FieldOpener | None = None,
    ) -> None:
        self._opener = opener
        self._sealed_fields = tuple(served.sealed_fields)
        self._member = member
        self._signer = signer
        self._service = served.service
        self._label = f"{served.service}.v{served.version.split('.', maxsplit=1)[0]}"
        self._request_id = served.request_schema_id
        self._codec = codec
        self._verifier = verifier
        self._answerer = answerer
        self._store = store
        self._sender = sender
        self._audit = audit
        self._metrics = metrics
        self._steps = AuditSteps(member=member, version=served.version, digest_key=digest_key)
        self._digest_key = digest_key
        self._subject_fields = tuple(served.subject_fields)
        self._reply_margin_s = reply_margin_s
        self._clock = clock
        # Exchange ids this process took up, each until its deadline: an unseen record
        # whose id is here is a second copy of a request (a duplicate produce), answered
        # from the store like any redelivery.
        self._seen: dict[str, datetime] = {}
        self._answering: dict[str, asyncio.Future[None]] = {}
        """Exchanges being answered afresh in this process, each done when its try ends."""

    async def __call__(self, record: InboundRecord) -> Outcome:
        started = time.monotonic()
        now = self._clock()
        value = record.value or b""
        try:
            envelope, digest = self._verifier.verify_with_digest(record, now=now)
        except RequestRejectedError as exc:
            if exc.reason is RejectReason.DEADLINE_PASSED:
                replayed = await self._replay_late(record, started)
                if replayed is not None:
                    return replayed
            return await self._refused(record, exc)
        log = _log.bind(**envelope.log_context(), partition=record.partition, offset=record.offset)
        if envelope.provider != self._member:
            self._count("other_provider")
            log.debug("request_for_another_provider", provider=envelope.provider)
            return Ack()
        if record.unseen and self._first_sight(envelope, now):
            # Written after this connector took the partition, handed over for the first
            # time, and no other copy of the exchange was taken up here: no earlier delivery
            # can have stored a reply, so the store is not asked (a read on the path of
            # every new request; issue #16).
            return await self._handle_new(record, envelope, digest, started, log)
        answering = self._answering.get(envelope.exchange_id)
        if answering is not None:
            # Another copy of this exchange is being answered here: its reply is kept
            # before it leaves, so once it is done the store has it, and the registry is
            # not asked twice for two copies that arrive together.
            await asyncio.shield(answering)
        try:
            stored = await self._store.get(envelope.exchange_id)
        except ReplyStoreError as exc:
            # The store only makes a redelivery cheap and identical. While it is down the
            # request is answered anyway (a redelivered one may ask the registry twice; the
            # gateway keeps the first reply), as ``_keep`` sends a reply it cannot store:
            # retrying here left the requester waiting on our store and, past the retry
            # budget, dead-lettered a request that could have been answered.
            log.warning("reply_store_unavailable", error_code=exc.code)
            stored = None
        if stored is not None:
            plan = ReplyPlan(stored.status, stored.error_code, stored.value)
            log.info("request_replayed_from_store", reply_status=stored.status.value)
            return await self._deliver(envelope, value, digest, plan, started, log, replayed=True)
        return await self._handle_new(record, envelope, digest, started, log)

    def _first_sight(self, envelope: Envelope, now: datetime) -> bool:
        """True the first time this process takes up ``envelope``'s exchange. Ids are kept
        until their deadline: a later copy is refused as late before it gets here."""
        seen = self._seen
        while seen:  # roughly in deadline order: drop the expired from the front
            oldest = next(iter(seen))
            if seen[oldest] > now:
                break
            del seen[oldest]
        exchange_id = envelope.exchange_id
        if exchange_id in seen or envelope.deadline is None or len(seen) >= _SEEN_MAX:
            return False
        seen[exchange_id] = envelope.deadline
        return True

    async def _replay_late(self, record: InboundRecord, started: float) -> Outcome | None:
        """A request redelivered after its deadline (the connector died between answering
        and committing) is answered again from the reply store, as for any redelivery,
        instead of being refused: its exchange was answered in time. Only a request that
        verifies in every other respect qualifies; None when it does not or was never
        answered."""
        claimed = _best_effort_envelope(record.headers)
        if claimed is None or claimed.deadline is None:
            return None
        try:
            envelope, digest = self._verifier.verify_with_digest(
                record, now=claimed.deadline - timedelta(milliseconds=1)
            )
            stored = await self._store.get(envelope.exchange_id)
        except (RequestRejectedError, ReplyStoreError):
            return None
        if stored is None or envelope.provider != self._member:
            return None
        log = _log.bind(**envelope.log_context(), partition=record.partition, offset=record.offset)
        log.info("late_request_replayed_from_store", reply_status=stored.status.value)
        plan = ReplyPlan(stored.status, stored.error_code, stored.value)
        value = record.value or b""
        return await self._deliver(envelope, value, digest, plan, started, log, replayed=True)

    @contextlib.contextmanager
    def _answering_here(self, exchange_id: str) -> Iterator[None]:
        """Marks ``exchange_id`` as being answered afresh in this process until the block
        ends, for a copy of it that arrives meanwhile to wait on (``__call__``)."""
        done = asyncio.get_running_loop().create_future()
        earlier = self._answering.setdefault(exchange_id, done)
        try:
            yield
        finally:
            if earlier is done:
                del self._answering[exchange_id]
            done.set_result(None)

    async def _handle_new(
        self,
        record: InboundRecord,
        envelope: Envelope,
        digest: str,
        started: float,
        log: structlog.typing.FilteringBoundLogger,
    ) -> Outcome:
        """A request this connector has not answered yet: decode, audit, answer, reply.
        ``digest``: the request's digest from its signature check, which the reply names."""
        with self._answering_here(envelope.exchange_id):
            value = record.value or b""
            try:
                decoded = self._codec.decode(
                    value, self._request_id, header_names=[name for name, _ in record.headers]
                )
            except CodecError as exc:
                log.warning("request_undecodable", error_code=exc.code)
                return await self._reject(
                    envelope, value, digest, REQUEST_UNDECODABLE, exc.code, log
                )
            datum, refusal = self._admit_data(envelope, decoded.datum, log)
            if refusal is not None:
                return await self._reject(envelope, value, digest, *refusal, log)
            # DELIVERED is written while the registry answers, and the reply is kept while
            # DELIVERED is still being acknowledged: nothing leaves this connector before it
            # is (the reply waits for it below), and neither the registry's time nor the
            # store's sync adds to the audit write's on every request (issue #16).
            delivered = asyncio.ensure_future(
                self._audit.record(self._steps.delivered(envelope, value, self._clock()))
            )
            try:
                answered = await self._answerer.answer(datum, self._context(envelope))
            except BaseException:
                await asyncio.gather(delivered, return_exceptions=True)
                raise
            kept = asyncio.ensure_future(self._keep(envelope.exchange_id, answered, log))
            audited, plan = await asyncio.gather(delivered, kept, return_exceptions=True)
            if isinstance(plan, BaseException):  # pragma: no cover - ``_keep`` does not raise
                raise plan
            if isinstance(audited, BaseException):
                if not isinstance(audited, AuditWriteError):
                    raise audited
                log.warning("audit_write_failed", step="delivered", error_code=audited.code)
                # Not sent. The reply may be kept: the redelivery replays it after a DELIVERED
                # of its own (``_deliver``), and the registry is not asked twice.
                return Retry(f"audit: {audited.code}", delay_s=0.5)
            return await self._deliver(envelope, value, digest, plan, started, log, replayed=False)

    # -- steps -------------------------------------------------------------------------
    def _admit_data(
        self, envelope: Envelope, datum: Any, log: structlog.typing.FilteringBoundLogger
    ) -> tuple[Any, tuple[str, str | None] | None]:
        """The decoded data with its personal fields opened, or why the registry must not
        see it: (reason code, detail). Opened before the subject check: the binding is
        over the identifier in clear."""
        if (self._subject_fields or self._sealed_fields) and not isinstance(datum, dict):
            return datum, (REQUEST_UNDECODABLE, "NOT_A_RECORD")
        if self._opener is not None and self._sealed_fields:
            try:
                datum = self._opener.open(
                    datum,
                    self._sealed_fields,
                    exchange_id=envelope.exchange_id,
                    field_key=envelope.field_key,
                )
            except FieldEncryptionError as exc:
                log.warning("request_fields_not_opened", error_code=exc.code)
                return datum, (FIELDS_NOT_OPENED, exc.code)
        elif envelope.field_key is not None:
            # Sealed for a key this connector was not given: it cannot read the subject.
            return datum, (FIELDS_NOT_OPENED, "NO_FIELD_KEY")
        if self._subject_fields:
            mismatch = check_subject_binding(
                self._digest_key,
                envelope.exchange_id,
                envelope.subject_binding,
                datum,
                self._subject_fields,
            )
            if mismatch is not None:
                log.warning("request_subject_refused", reason=mismatch.reason)
                return datum, (mismatch.reason, None)
        return datum, None

    def _context(self, envelope: Envelope) -> HandlerContext:
        deadline = envelope.deadline or self._clock()
        # Leave time to store and produce the reply before the requester gives up.
        deadline -= timedelta(seconds=self._reply_margin_s)
        return HandlerContext(
            exchange_id=envelope.exchange_id,
            service=envelope.service,
            major=envelope.major,
            requester=envelope.source,
            provider=envelope.provider,
            purpose=envelope.purpose,
            deadline=deadline,
            trace_id=trace_id_of(envelope.traceparent),
            procedure=envelope.procedure,
            legal_basis=envelope.legal_basis,
            consent_ref=envelope.consent_ref,
            subject_ref=envelope.subject_ref,
        )

    async def _keep(
        self, exchange_id: str, plan: ReplyPlan, log: structlog.typing.FilteringBoundLogger
    ) -> ReplyPlan:
        """Store the reply (first one wins) and return what is stored.

        If the store stays down, the reply is still sent: the requester must not wait
        for a store outage, and the record is acknowledged, so it is not redelivered.
        """
        reply = StoredReply(exchange_id, plan.status, plan.error_code, plan.value, self._clock())
        for attempt in range(_STORE_ATTEMPTS):
            try:
                kept = await self._store.put(reply)
            except ReplyStoreError as exc:
                log.warning("reply_store_put_failed", attempt=attempt + 1, error_code=exc.code)
                await asyncio.sleep(0.1 * 2**attempt)
                continue
            return ReplyPlan(kept.status, kept.error_code, kept.value)
        return plan

    async def _deliver(
        self,
        envelope: Envelope,
        request: bytes,
        digest: str,
        plan: ReplyPlan,
        started: float,
        log: structlog.typing.FilteringBoundLogger,
        *,
        replayed: bool,
    ) -> Outcome:
        if replayed:
            # A kept reply may have been kept before its DELIVERED was acknowledged (the
            # two are written side by side): DELIVERED first, again. Its id is the
            # exchange step's own, so the audit index holds it once.
            delivered = self._steps.delivered(envelope, request, self._clock())
            if (failed := await self._record(delivered, log)) is not None:
                return failed
        undelivered = await self._send(envelope, digest, plan, log)
        if undelivered is not None:
            return undelivered
        latency_ms = int((time.monotonic() - started) * 1000)
        step = self._steps.responded(
            envelope,
            request=request,
            reply=plan.value,
            outcome=plan.outcome,
            latency_ms=latency_ms,
            now=self._clock(),
            reason="replayed from the reply store" if replayed else None,
        )
        if (failed := await self._record(step, log)) is not None:
            return failed
        self._count("replayed" if replayed else plan.status.value)
        self._metrics.latency.labels(self._label).observe(time.monotonic() - started)
        log.info("request_answered", outcome=plan.outcome, latency_ms=latency_ms)
        return Ack()

    async def _send(
        self,
        request: Envelope,
        digest: str,
        plan: ReplyPlan,
        log: structlog.typing.FilteringBoundLogger,
    ) -> Outcome | None:
        if request.reply_topic is None:  # pragma: no cover - a request envelope has one
            return DeadLetter("request without reply topic", "BUS_ENVELOPE_HEADER_MISSING")
        envelope = signed_reply_envelope(
            request, digest, plan, member=self._member, signer=self._signer
        )
        try:
            await self._sender.send(
                request.reply_topic,
                plan.value,
                key=request.exchange_id.encode(),
                headers=envelope.to_headers(),
                partition=request.reply_partition,
            )
        except BusError as exc:
            log.warning("reply_failed", error_code=exc.code, error=exc.message)
            if exc.retriable:
                return Retry(f"reply not written: {exc.code}", delay_s=0.5)
            self._count("dead_lettered")
            return DeadLetter(f"the reply cannot be written: {exc.message}", exc.code)
        return None

    async def _record(
        self, step: AuditRecord, log: structlog.typing.FilteringBoundLogger
    ) -> Outcome | None:
        try:
            await self._audit.record(step)
        except AuditWriteError as exc:
            log.warning("audit_write_failed", step=step.type.value, error_code=exc.code)
            return Retry(f"audit: {exc.code}", delay_s=0.5)
        return None

    async def _refused(self, record: InboundRecord, error: RequestRejectedError) -> Outcome:
        reason = error.reason.value
        if error.reason in _UNVERIFIED:
            # Nothing it says can be trusted: audited by where it was read, never under
            # the exchange, requester or subject it claims (bus.audit.unverified).
            _log.warning(
                "request_unverified",
                reason=reason,
                partition=record.partition,
                offset=record.offset,
            )
            step = unverified_record(
                actor=self._member,
                time=self._clock(),
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=reason,
            )
            if (failed := await self._record(step, _log)) is not None:
                return failed
            self._count("dead_lettered")
            return DeadLetter(error.message, f"REQUEST_{reason}")
        envelope = _best_effort_envelope(record.headers)
        log = _log.bind(
            **(envelope.log_context() if envelope is not None else {}),
            partition=record.partition,
            offset=record.offset,
        )
        log.warning("request_rejected", reason=reason, detail=error.detail)
        if envelope is not None:
            step = self._steps.rejected(
                envelope, request=record.value or b"", reason=reason, now=self._clock()
            )
            if (failed := await self._record(step, log)) is not None:
                return failed
        self._count("dead_lettered")
        return DeadLetter(error.message, f"REQUEST_{reason}")

    async def _reject(
        self,
        envelope: Envelope,
        value: bytes,
        digest: str,
        code: str,
        detail: str | None,
        log: structlog.typing.FilteringBoundLogger,
    ) -> Outcome:
        """Refuse a verified request the registry must not see (undecodable, or about
        another subject): audited REJECTED, answered ``rejected`` so the requester does not
        wait for its deadline, and dead-lettered. ``detail`` is a code, never payload."""
        reason = code if detail is None else f"{code}:{detail}"
        step = self._steps.rejected(envelope, request=value, reason=reason, now=self._clock())
        if (failed := await self._record(step, log)) is not None:
            return failed
        plan = await self._keep(envelope.exchange_id, ReplyPlan(ReplyStatus.REJECTED, code), log)
        if (undelivered := await self._send(envelope, digest, plan, log)) is not None:
            return undelivered
        self._count("dead_lettered")
        return DeadLetter(f"the request is refused ({reason})", detail or code)

    def _count(self, outcome: str) -> None:
        self._metrics.handled.labels(self._label, outcome).inc()


def _best_effort_envelope(headers: Collection[tuple[str, bytes | None]]) -> Envelope | None:
    """The envelope of a refused record when its headers parse (for the audit record)."""
    try:
        envelope = Envelope.from_headers(list(headers))
    except EnvelopeError:
        return None
    return envelope if envelope.kind is MessageKind.REQUEST else None
