"""The producer wrapper: durable sends (acks=all, idempotence) that report where they landed.

aiokafka defaults to ``acks=1`` with idempotence off, and its ``send()`` only queues: a
caller that does not await the returned future never learns the record was lost. Here
both settings are explicit and :meth:`BusProducer.send` returns only once the broker has
confirmed the record to all in-sync replicas.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

from aiokafka import AIOKafkaProducer

from bus.errors import ClientStateError, UnknownPartitionError
from bus.kafka_errors import KAFKA_FAILURES, translate_kafka_error
from bus.kafka_security import connection_failure_reason, kafka_client_security
from bus.records import Delivery
from bus.settings import KafkaSettings
from bus.topics import Topic, TopicName

__all__ = ["BusProducer"]


class BusProducer:
    """One idempotent Kafka producer, started and stopped explicitly (or ``async with``)."""

    def __init__(self, settings: KafkaSettings, *, client_id: str | None = None) -> None:
        self._settings = settings
        self._client_id = client_id or settings.client_id
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect and fetch metadata; raise ``BrokerUnavailableError`` if nobody answers."""
        if self._producer is not None:
            raise ClientStateError("the producer is already started")
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.bootstrap_servers,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=self._settings.linger_ms,
            max_batch_size=self._settings.max_batch_size,
            max_request_size=self._settings.max_request_size,
            compression_type=self._settings.compression_type,
            request_timeout_ms=self._settings.request_timeout_ms,
            **kafka_client_security(self._settings),
        )
        try:
            await producer.start()
        except KAFKA_FAILURES as exc:
            await producer.stop()
            # aiokafka says only "Unable to bootstrap" when TLS or SASL refused us.
            reason = await connection_failure_reason(self._settings)
            operation = f"starting the producer ({reason})" if reason else "starting the producer"
            raise translate_kafka_error(exc, operation=operation) from exc
        self._producer = producer

    async def stop(self) -> None:
        """Flush what is queued and disconnect; safe to call twice."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def send(
        self,
        topic: Topic | TopicName,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        partition: int | None = None,
    ) -> Delivery:
        """Write one record and wait until the broker confirms it (acks=all).

        Raises ``UnknownPartitionError`` when ``partition`` is not one of the topic's, and
        the translated ``BusError`` of any Kafka failure (``PublishError`` and
        ``BrokerUnavailableError`` are retriable; the record may or may not be written).
        """
        producer = self._require_started()
        name = topic if isinstance(topic, str) else topic.name
        operation = f"producing to {name}"
        try:
            if partition is not None:
                partitions = await producer.partitions_for(name)
                if partition not in partitions:
                    raise UnknownPartitionError(
                        f"{name} has partitions {sorted(partitions)}, not {partition}"
                    )
            future = await producer.send(
                name, value, key=key, partition=partition, headers=list(headers)
            )
            metadata = await future
        except KAFKA_FAILURES as exc:
            raise translate_kafka_error(exc, operation=operation) from exc
        return Delivery(
            topic=metadata.topic,
            partition=metadata.partition,
            offset=metadata.offset,
            timestamp_ms=metadata.timestamp,
        )

    def _require_started(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise ClientStateError("the producer is not started")
        return self._producer
