"""The floor: raw aiokafka request-reply between two processes, what no bus on Kafka can beat.

Same broker, same partition counts and the same producer settings as the bus
(``acks="all"``, idempotence on, the bus's linger and batch size; on an authenticated
broker, a SCRAM login and ACLs of its own), but nothing else: no
envelope, no Avro, no store, no HTTP, no audit. The request carries a correlation id and
the reply partition in two headers; the responder answers with a fixed payload of the
size of a real reply and commits only after its replies are written (as the bus does).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence
from typing import Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bus import KafkaSettings, kafka_client_security

__all__ = ["REPLY_BYTES", "REQUEST_BYTES", "FloorClient", "FloorResponder", "floor_producer"]

# The sizes of a residence-certificate request and reply in Avro (Confluent framing):
# the floor moves as many bytes per exchange as the end-to-end path.
REQUEST_BYTES: Final = 24
REPLY_BYTES: Final = 64
_CORRELATION: Final = "id"
_REPLY_PARTITION: Final = "rp"
_REPLY_TIMEOUT_S: Final = 10.0
_FETCH_TIMEOUT_MS: Final = 100


def floor_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    """A producer with exactly the settings ``bus.BusProducer`` uses."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="interop-bench-floor",
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.linger_ms,
        max_batch_size=settings.max_batch_size,
        max_request_size=settings.max_request_size,
        compression_type=settings.compression_type,
        request_timeout_ms=settings.request_timeout_ms,
        **kafka_client_security(settings),
    )


class FloorClient:
    """Sends requests and awaits replies on its own manually assigned reply partitions."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        request_topic: str,
        reply_topic: str,
        reply_partitions: Sequence[int],
    ) -> None:
        self._settings = settings
        self._request_topic = request_topic
        self._reply_topic = reply_topic
        self._partitions = list(reply_partitions)
        self._next_partition = itertools.cycle(self._partitions)
        self._ids = itertools.count()
        self._waiting: dict[bytes, asyncio.Future[bytes]] = {}
        self._producer = floor_producer(settings)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id="interop-bench-floor",
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=_FETCH_TIMEOUT_MS,
            **kafka_client_security(settings),
        )
        self._task: asyncio.Task[None] | None = None
        self._payload = b"q" * REQUEST_BYTES

    async def start(self) -> None:
        """Connect, assign the reply partitions and know their end before any request."""
        await self._producer.start()
        await self._consumer.start()
        tps = [TopicPartition(self._reply_topic, p) for p in self._partitions]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._route(), name="floor-replies")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()
        await self._producer.stop()

    async def _route(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=_FETCH_TIMEOUT_MS)
            for records in batches.values():
                for record in records:
                    key = dict(record.headers).get(_CORRELATION)
                    future = self._waiting.pop(key, None) if key is not None else None
                    if future is not None and not future.done():
                        future.set_result(record.value or b"")

    async def call(self, _worker: int) -> str | None:
        """One request-reply; None when the reply came back."""
        correlation = str(next(self._ids)).encode()
        partition = str(next(self._next_partition)).encode()
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = future
        try:
            async with asyncio.timeout(_REPLY_TIMEOUT_S):
                delivery = await self._producer.send(
                    self._request_topic,
                    self._payload,
                    key=correlation,
                    headers=[(_CORRELATION, correlation), (_REPLY_PARTITION, partition)],
                )
                await delivery
                await future
        except TimeoutError:
            return "timeout"
        finally:
            self._waiting.pop(correlation, None)
        return None


class FloorResponder:
    """Consumes requests in a group, replies to the named partition, commits after."""

    def __init__(
        self, settings: KafkaSettings, *, request_topic: str, reply_topic: str, group_id: str
    ) -> None:
        self._reply_topic = reply_topic
        self._producer = floor_producer(settings)
        self._consumer = AIOKafkaConsumer(
            request_topic,
            bootstrap_servers=settings.bootstrap_servers,
            client_id="interop-bench-floor",
            group_id=group_id,
            enable_auto_commit=False,
            # The topic is fresh: nothing earlier to skip, and no request written between
            # the assignment and the first fetch is missed.
            auto_offset_reset="earliest",
            **kafka_client_security(settings),
        )
        self._reply = b"r" * REPLY_BYTES
        self.replied = 0

    async def start(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        while not self._consumer.assignment():
            await self._consumer.getmany(timeout_ms=100)

    async def stop(self) -> None:
        await self._consumer.stop()
        await self._producer.stop()

    async def serve(self) -> None:
        """Answer until cancelled: a batch's replies are all written before its commit."""
        while True:
            batches = await self._consumer.getmany(timeout_ms=_FETCH_TIMEOUT_MS)
            sends = []
            for records in batches.values():
                for record in records:
                    headers = dict(record.headers)
                    sends.append(
                        await self._producer.send(
                            self._reply_topic,
                            self._reply,
                            key=headers.get(_CORRELATION),
                            partition=int(headers.get(_REPLY_PARTITION, b"0")),
                            headers=[(_CORRELATION, headers.get(_CORRELATION, b""))],
                        )
                    )
            if sends:
                await asyncio.gather(*sends)
                await self._consumer.commit()
                self.replied += len(sends)
