"""The responding side of request-reply: consume requests, call a handler, reply, commit.

For each request record: parse the envelope (a garbled one is dead-lettered, never
retried), skip requests whose deadline already passed (nobody waits for them), call the
async handler, produce the reply to the topic and partition the request names, with the
same exchange id, and only then let the consumer commit. A crash anywhere before the
commit means the request is handled again after the restart: the duplicate reply carries
the same exchange id, and the requester drops it as already answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from bus.consumer import BusConsumer
from bus.dead_letter import DeadLetterPublisher
from bus.envelope import Envelope
from bus.envelope_headers import MessageKind, ReplyStatus
from bus.errors import BusError, EnvelopeError
from bus.ids import MemberId
from bus.outcomes import Ack, DeadLetter, Outcome, Retry
from bus.producer import BusProducer
from bus.record_signing import RecordSigner, request_digest
from bus.records import InboundRecord
from bus.settings import KafkaSettings
from bus.topics import RequestTopic

__all__ = ["ReplyHandler", "ReplyOutcome", "Responder", "ResponderStats"]

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """What the provider answers: a value and a status (``error_code`` when not ok)."""

    value: bytes
    status: ReplyStatus = ReplyStatus.OK
    error_code: str | None = None


ReplyHandler = Callable[[Envelope, bytes | None], Awaitable[ReplyOutcome]]
"""Async function answering one request (envelope already validated)."""


@dataclass(slots=True)
class ResponderStats:
    """Counters a test or a metrics exporter can read."""

    replied: int = 0
    expired: int = 0
    dead_lettered: int = 0


class Responder:
    """Serves one request topic in a consumer group (one member of a connector's group)."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        member: MemberId,
        topic: RequestTopic,
        group_id: str,
        handler: ReplyHandler,
        producer: BusProducer,
        max_in_flight: int = 16,
        drain_timeout_s: float = 30.0,
        signer: RecordSigner | None = None,
    ) -> None:
        self._member = member
        self._signer = signer
        self._topic = topic
        self._handler = handler
        self._producer = producer
        self.stats = ResponderStats()
        self.consumer = BusConsumer(
            settings,
            topics=[topic],
            group_id=group_id,
            handler=self._on_record,
            dead_letters=DeadLetterPublisher(producer),
            max_in_flight=max_in_flight,
            drain_timeout_s=drain_timeout_s,
        )

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        """Finish in-flight requests (their replies are sent and committed), then leave."""
        await self.consumer.stop()

    async def _on_record(self, record: InboundRecord) -> Outcome:
        try:
            envelope = Envelope.from_headers(record.headers)
        except EnvelopeError as exc:
            self.stats.dead_lettered += 1
            return DeadLetter(exc.message, exc.code)
        if envelope.kind is not MessageKind.REQUEST or (envelope.service, envelope.major) != (
            self._topic.service,
            self._topic.major,
        ):
            self.stats.dead_lettered += 1
            return DeadLetter(
                f"ce_type {envelope.service}.v{envelope.major}.{envelope.kind} "
                f"does not belong on {self._topic.name}",
                "BUS_ENVELOPE_WRONG_TOPIC",
            )
        log = _log.bind(**envelope.log_context())
        if envelope.deadline is not None and envelope.deadline <= datetime.now(UTC):
            self.stats.expired += 1
            log.info("request_expired_skipped")
            return Ack()
        try:
            outcome = await self._handler(envelope, record.value)
        except Exception as exc:  # the requester must hear of it, not wait for its deadline
            log.error("reply_handler_raised", exception_type=type(exc).__name__)
            failed = ReplyOutcome(b"", ReplyStatus.ERROR, "PROVIDER_HANDLER_FAILED")
            undelivered = await self._reply(envelope, record.value or b"", failed, log)
            if undelivered is not None:
                return undelivered
            self.stats.dead_lettered += 1
            return DeadLetter(f"reply handler raised {type(exc).__name__}", "BUS_HANDLER_FAILED")
        return await self._reply(envelope, record.value or b"", outcome, log) or Ack()

    async def _reply(
        self,
        request: Envelope,
        request_value: bytes,
        outcome: ReplyOutcome,
        log: structlog.typing.FilteringBoundLogger,
    ) -> Retry | DeadLetter | None:
        """Produce the reply; ``None`` once written, else what to do with the request."""
        if request.reply_topic is None:  # pragma: no cover - the envelope requires it
            return DeadLetter("request without reply topic", "BUS_ENVELOPE_HEADER_MISSING")
        # Bound to the request it answers and signed (bus.record_signing), as a connector's.
        envelope = request.reply(
            source=self._member,
            status=outcome.status,
            error_code=outcome.error_code,
            request_digest=request_digest(request, request_value),
        )
        if self._signer is not None:
            envelope = self._signer.sign(envelope, outcome.value)
        try:
            delivery = await self._producer.send(
                request.reply_topic,
                outcome.value,
                key=request.exchange_id.encode(),
                headers=envelope.to_headers(),
                partition=request.reply_partition,
            )
        except BusError as exc:
            log.warning("reply_failed", error_code=exc.code, error=exc.message)
            if exc.retriable:
                return Retry(f"reply not written: {exc.code}")
            self.stats.dead_lettered += 1
            return DeadLetter(f"reply cannot be written: {exc.message}", exc.code)
        self.stats.replied += 1
        log.debug("replied", status=outcome.status.value, reply_offset=delivery.offset)
        return None
