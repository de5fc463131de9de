"""The producer wrapper: durable sends (acks=all, idempotence) that report where they landed.

aiokafka defaults to ``acks=1`` with idempotence off, and its ``send()`` only queues: a
caller that does not await the returned future never learns the record was lost. Here
both settings are explicit and :meth:`BusProducer.send` returns only once the broker has
confirmed the record to all in-sync replicas.

A producer whose send failed in a way that can leave it out of step with the broker
(``leaves_producer_usable``: after a long outage the broker answers every send with
``OutOfOrderSequenceNumber`` forever) is discarded, and the next send starts a fresh one
(a new producer id), at most once per back-off interval (exponential with jitter, capped),
so a dead broker is not hammered and a returning one is used at once. Each change of
state is logged once.

The verdict comes from the delivery itself, not from the caller's wait: a caller that
stops waiting (the audit trail bounds every write) cancels only its own wait
(``asyncio.shield``), so a fatal error answered to a batch nobody waits for any more
(idempotent batches are retried until the broker answers) still retires the producer,
and a late confirmation still counts as one. ``health``
(``bus.broker_health.ProduceHealth``) records every confirmed and lost delivery for
readiness; a wait abandoned before confirmation counts as a loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Final, Self

import structlog
from aiokafka import AIOKafkaProducer

from bus.broker_health import ProduceHealth
from bus.errors import BrokerUnavailableError, BusError, ClientStateError, UnknownPartitionError
from bus.kafka_errors import KAFKA_FAILURES, leaves_producer_usable, translate_kafka_error
from bus.kafka_security import connection_failure_reason, kafka_client_security
from bus.records import Delivery
from bus.settings import KafkaSettings
from bus.topics import Topic, TopicName

__all__ = ["BusProducer"]

_log = structlog.get_logger(__name__)
_BACKOFF_MIN_S: Final = 0.1
_BACKOFF_MAX_S: Final = 5.0
_RETIRE_TIMEOUT_S: Final = 10.0


class BusProducer:
    """One idempotent Kafka producer, started and stopped explicitly (or ``async with``);
    replaced by a fresh one when a failure leaves it unusable (see the module docstring)."""

    def __init__(self, settings: KafkaSettings, *, client_id: str | None = None) -> None:
        self._settings = settings
        self._client_id = client_id or settings.client_id
        self._producer: AIOKafkaProducer | None = None
        self._running = False
        self._lock = asyncio.Lock()
        self._backoff_s = _BACKOFF_MIN_S
        self._next_attempt = 0.0
        self._retired: set[asyncio.Task[None]] = set()
        self.replacements = 0
        """How many times a producer was replaced (for tests and metrics)."""
        self.replacement_attempts = 0
        """How many times a replacement was tried, successful or not (back-off bounds it)."""
        self.health = ProduceHealth()
        """Whether this producer can write right now (for readiness; see its class)."""

    async def start(self) -> None:
        """Connect and fetch metadata; raise ``BrokerUnavailableError`` if nobody answers."""
        if self._running:
            raise ClientStateError("the producer is already started")
        self._producer = await self._new_producer()
        self._running = True
        self.health.record_started()

    async def _new_producer(self) -> AIOKafkaProducer:
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
        except BaseException:
            await producer.stop()  # cancelled mid-start (stopped while the broker hangs)
            raise
        return producer

    async def stop(self) -> None:
        """Flush what is queued and disconnect; safe to call twice."""
        self._running = False
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
        for task in list(self._retired):
            with contextlib.suppress(Exception):
                await task

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
        producer = await self._current()
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
        except KAFKA_FAILURES as exc:
            self._lost(producer, exc)
            raise translate_kafka_error(exc, operation=operation) from exc
        except asyncio.CancelledError:
            self.health.record_failure()  # the caller gave up before the record was queued
            raise
        future.add_done_callback(functools.partial(self._delivered, producer))
        try:
            # The caller may stop waiting; the delivery's verdict must still reach
            # ``_delivered`` (see the module docstring).
            metadata = await asyncio.shield(future)
        except KAFKA_FAILURES as exc:
            raise translate_kafka_error(exc, operation=operation) from exc
        except asyncio.CancelledError:
            if not future.done():
                self.health.record_failure()  # not confirmed within the caller's deadline
            raise
        return Delivery(
            topic=metadata.topic,
            partition=metadata.partition,
            offset=metadata.offset,
            timestamp_ms=metadata.timestamp,
        )

    async def _current(self) -> AIOKafkaProducer:
        """The live producer, or a fresh one if the last was retired (back-off permitting)."""
        if not self._running:
            raise ClientStateError("the producer is not started")
        producer = self._producer
        if producer is not None:
            return producer
        async with self._lock:
            if self._producer is not None:
                return self._producer
            now = time.monotonic()
            if now < self._next_attempt:
                self.health.record_failure()
                raise BrokerUnavailableError(
                    "the Kafka producer is being replaced after a failure; the broker has not "
                    f"answered yet (next attempt in {self._next_attempt - now:.1f} s)"
                )
            self.replacement_attempts += 1
            try:
                fresh = await self._new_producer()
            except BusError:
                self.health.record_failure()
                # Exponential back-off with full jitter, capped: a dead broker is not
                # hammered by every sender, a returning one is found within the cap.
                self._next_attempt = now + random.uniform(0, self._backoff_s)  # noqa: S311
                self._backoff_s = min(self._backoff_s * 2, _BACKOFF_MAX_S)
                raise
            if not self._is_running():  # stopped while we were connecting
                await fresh.stop()
                raise ClientStateError("the producer is not started")
            self._producer = fresh
            self.replacements += 1
            _log.info("producer_replaced", client_id=self._client_id)
            return fresh

    def _is_running(self) -> bool:
        # A method, not the attribute: ``stop`` may flip it while ``_current`` awaits.
        return self._running

    def _delivered(self, producer: AIOKafkaProducer, future: asyncio.Future[Any]) -> None:
        """The verdict of one delivery, whether or not its caller still waits for it."""
        if future.cancelled():  # aiokafka cancels what is queued when it closes
            return
        exc = future.exception()
        if exc is not None:
            self._lost(producer, exc)
            return
        self.health.record_success()
        if self._backoff_s != _BACKOFF_MIN_S:
            self._backoff_s = _BACKOFF_MIN_S
            _log.info("producer_recovered", client_id=self._client_id)

    def _lost(self, producer: AIOKafkaProducer, exc: BaseException) -> None:
        """A failed send: a failure about the record itself says nothing about the
        producer; any other failure counts against health and retires it."""
        if leaves_producer_usable(exc) or producer is not self._producer:
            return  # a retired producer's late failures are old news
        self.health.record_failure()
        self._retire(producer, exc)

    def _retire(self, producer: AIOKafkaProducer, exc: BaseException) -> None:
        """Drop ``producer`` (once, however many of its sends failed) and close it in the
        background: its ``stop`` flushes and may wait out the outage; senders must not."""
        if self._producer is not producer:
            return
        self._producer = None
        _log.warning(
            "producer_retired",
            client_id=self._client_id,
            error_type=type(exc).__name__,
            reason="a send failed in a way that can leave the producer out of step",
        )
        task = asyncio.create_task(_close_quietly(producer), name="bus-producer-retire")
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)


async def _close_quietly(producer: AIOKafkaProducer) -> None:
    with contextlib.suppress(Exception, asyncio.TimeoutError):
        async with asyncio.timeout(_RETIRE_TIMEOUT_S):
            await producer.stop()
