"""``KafkaAuditTrail``: the ``AuditTrail`` that writes each step to the audit topic.

Each ``AuditRecord`` becomes an Avro ``AuditEvent`` with its own event id (a fresh UUIDv7
unless the record names one: ``exchange_event_id``), framed
with the contract's locked schema id, and is produced to ``interop.audit`` (one
partition: the log's total order) through ``BusProducer`` (acks=all, idempotence).
``record`` returns only once the broker acknowledged the event; any failure, or no
acknowledgement within ``timeout_s``, raises ``AuditWriteError`` so the caller does not go
on as if the step had been recorded. The exchange id is the Kafka key (tools can follow
one exchange); no header carries personal data. Given a ``signer`` (the actor's member
key), each event is signed over its canonical form (``bus.audit.event_signing``: key id
and signature in ``interop_key_id`` / ``interop_signature``), so the indexer and an
offline auditor can tell who wrote it.
"""

from __future__ import annotations

import asyncio
from typing import Final

import structlog

from bus.audit.errors import AuditWriteError
from bus.audit.event import AuditEventCodec, EventRow, MalformedAuditEventError
from bus.audit.event_signing import sign_event
from bus.audit.trail import AuditRecord
from bus.errors import BusError
from bus.ids import uuid7
from bus.producer import BusProducer
from bus.record_signing import RecordSigner
from bus.records import Delivery
from bus.topics import AUDIT_TOPIC, TopicName, check_kafka_topic_name

__all__ = ["KafkaAuditTrail"]

_log = structlog.get_logger(__name__)
_CONTENT_TYPE: Final = ("content-type", b"application/avro")


class KafkaAuditTrail:
    """Writes audit records to Kafka and returns once they are durable."""

    def __init__(
        self,
        producer: BusProducer,
        *,
        codec: AuditEventCodec | None = None,
        topic: str = AUDIT_TOPIC.name,
        timeout_s: float = 5.0,
        signer: RecordSigner | None = None,
    ) -> None:
        self._signer = signer
        if timeout_s <= 0:
            raise ValueError("the audit write timeout must be positive")
        self._producer = producer
        self._codec = codec or AuditEventCodec()
        self.topic: TopicName = check_kafka_topic_name(topic)
        self._timeout_s = timeout_s
        self.last_delivery: Delivery | None = None

    async def record(self, event: AuditRecord) -> None:
        """Write ``event``; raise ``AuditWriteError`` unless the broker acknowledged it."""
        await self.write(event)

    async def write(self, event: AuditRecord) -> tuple[EventRow, Delivery]:
        """``record``, returning the event as written and where it landed (for tools)."""
        row = EventRow.from_record(event, event.event_id or str(uuid7()))
        try:
            value = self._codec.encode(row)
        except MalformedAuditEventError as exc:
            raise AuditWriteError(f"{event.type} event not written: {exc.message}") from exc
        key = event.exchange_id.encode("ascii") if event.exchange_id else None
        headers = [_CONTENT_TYPE] if self._signer is None else sign_event(self._signer, row)
        try:
            async with asyncio.timeout(self._timeout_s):
                delivery = await self._producer.send(self.topic, value, key=key, headers=headers)
        except TimeoutError as exc:
            _log.warning(
                "audit_write_timed_out", event_type=str(event.type), timeout_s=self._timeout_s
            )
            raise AuditWriteError(
                f"{event.type} event not acknowledged within {self._timeout_s:g}s"
            ) from exc
        except BusError as exc:
            _log.warning("audit_write_failed", event_type=str(event.type), error_code=exc.code)
            raise AuditWriteError(f"{event.type} event not written ({exc.code})") from exc
        self.last_delivery = delivery
        return row, delivery
