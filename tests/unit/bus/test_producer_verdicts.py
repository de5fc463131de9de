"""``BusProducer`` judges a delivery by its outcome, also after its caller stopped waiting.

The aiokafka producer is replaced by a stand-in whose delivery futures the test settles
by hand (no broker: what is tested is the wrapper's bookkeeping, not Kafka).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import errors as ke
from aiokafka.structs import RecordMetadata, TopicPartition

from bus import BusProducer, KafkaSettings, PublishError, TopicName


class _StandInProducer:
    """Queues every send as a future the test settles (also on the shared ``sent``)."""

    def __init__(self, sent: asyncio.Queue[asyncio.Future[Any]]) -> None:
        self.deliveries: list[asyncio.Future[Any]] = []
        self.stopped = False
        self._sent = sent

    async def send(self, *_args: object, **_kwargs: object) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.deliveries.append(future)
        self._sent.put_nowait(future)
        return future

    async def stop(self) -> None:
        self.stopped = True


def _metadata() -> RecordMetadata:
    return RecordMetadata("t", 0, TopicPartition("t", 0), 7, 1, 0, 0)


_Started = tuple[BusProducer, list[_StandInProducer], asyncio.Queue[asyncio.Future[Any]]]


async def _started(monkeypatch: pytest.MonkeyPatch) -> _Started:
    made: list[_StandInProducer] = []
    sent: asyncio.Queue[asyncio.Future[Any]] = asyncio.Queue()

    async def new_producer(self: BusProducer) -> _StandInProducer:
        made.append(_StandInProducer(sent))
        return made[-1]

    monkeypatch.setattr(BusProducer, "_new_producer", new_producer)
    producer = BusProducer(KafkaSettings())
    await producer.start()
    return producer, made, sent


async def test_a_fatal_error_on_an_abandoned_delivery_still_replaces_the_producer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The caller gives up (timeout); the broker later answers OutOfOrderSequenceNumber:
    the producer is retired, and the next send goes through a fresh one."""
    producer, made, sent = await _started(monkeypatch)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await producer.send(TopicName("t"), b"v")
    assert not producer.health.can_produce  # abandoned before confirmation
    assert not made[0].deliveries[0].cancelled()  # only the caller's wait was cancelled
    made[0].deliveries[0].set_exception(ke.OutOfOrderSequenceNumber())
    await asyncio.sleep(0)  # let the done-callback run
    sent.get_nowait()
    next_send = asyncio.create_task(producer.send(TopicName("t"), b"w"))
    fresh_delivery = await asyncio.wait_for(sent.get(), 1)
    assert fresh_delivery is made[1].deliveries[0]
    fresh_delivery.set_result(_metadata())
    delivery = await next_send
    assert delivery.offset == 7
    assert producer.replacements == 1
    assert producer.health.can_produce
    await producer.stop()


async def test_a_late_confirmation_counts_as_producing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A delivery confirmed after its caller left ends the run of failures; the producer
    is kept."""
    producer, made, _ = await _started(monkeypatch)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await producer.send(TopicName("t"), b"v")
    assert producer.health.failing_for_s() is not None
    made[0].deliveries[0].set_result(_metadata())
    await asyncio.sleep(0)
    assert producer.health.can_produce
    assert producer.health.last_success_age_s() is not None
    assert len(made) == 1
    assert not made[0].stopped
    await producer.stop()


async def test_a_failed_delivery_is_a_retriable_error_for_the_waiting_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A caller still waiting gets the translated, retriable bus error, and health says
    the producer cannot produce until a fresh one confirms a delivery."""
    producer, _, sent = await _started(monkeypatch)
    send = asyncio.create_task(producer.send(TopicName("t"), b"v"))
    (await asyncio.wait_for(sent.get(), 1)).set_exception(ke.UnknownProducerId())
    with pytest.raises(PublishError) as raised:
        await send
    assert raised.value.retriable
    assert not producer.health.can_produce
    await producer.stop()
