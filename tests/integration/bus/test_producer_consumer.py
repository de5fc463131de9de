"""Producer and consumer wrappers against the real broker: round trip, commits, stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bus import (
    Ack,
    BusConsumer,
    BusProducer,
    DeadLetter,
    DeadLetterPublisher,
    Envelope,
    InboundRecord,
    KafkaSettings,
    Outcome,
    Retry,
    new_traceparent,
    parse_member_id,
)
from tests.integration.bus.conftest import BusTopics
from tests.integration.bus.kafka_helpers import committed_offsets, read_topic, wait_for


def _request_envelope(topics: BusTopics) -> Envelope:
    return Envelope.new_request(
        source=parse_member_id("es.aeat"),
        service=topics.request.service,
        major=topics.request.major,
        provider=parse_member_id("es.ine"),
        purpose="residence-check",
        procedure="PROC-42",
        legal_basis="Ley 39/2015 art. 28",
        consent_ref="urn:consent:1234",
        subject_ref="q" * 43,
        deadline=datetime.now(UTC) + timedelta(seconds=30),
        reply_topic=topics.reply.name,
        reply_partition=2,
        traceparent=new_traceparent(),
    )


async def test_envelope_and_value_round_trip(settings: KafkaSettings, topics: BusTopics) -> None:
    """What the producer writes, the consumer hands over unchanged, and the offset is committed."""
    envelope = _request_envelope(topics)
    received: list[InboundRecord] = []

    async def handler(record: InboundRecord) -> Outcome:
        received.append(record)
        return Ack()

    async with BusProducer(settings) as producer:
        delivery = await producer.send(
            topics.request, b"\x00avro-bytes", key=b"k1", headers=envelope.to_headers()
        )
        consumer = BusConsumer(
            settings,
            topics=[topics.request],
            group_id=f"g-{topics.request.service}",
            handler=handler,
            dead_letters=DeadLetterPublisher(producer),
        )
        await consumer.start()
        try:
            await wait_for(lambda: bool(received), timeout_s=20, what="the record")
        finally:
            await consumer.stop()

    (record,) = received
    assert (record.topic, record.partition, record.offset) == (
        delivery.topic,
        delivery.partition,
        delivery.offset,
    )
    assert record.key == b"k1"
    assert record.value == b"\x00avro-bytes"
    assert Envelope.from_headers(record.headers) == envelope
    committed = await committed_offsets(settings, f"g-{topics.request.service}")
    assert committed[delivery.partition] == delivery.offset + 1


async def test_handler_failures_are_dead_lettered_and_the_partition_moves_on(
    settings: KafkaSettings, topics: BusTopics
) -> None:
    """A raising handler and an endless Retry both end in the DLQ; later records still run."""
    handled: list[bytes] = []

    async def handler(record: InboundRecord) -> Outcome:
        if record.value == b"boom":
            raise RuntimeError("secret payload must not leak")
        if record.value == b"flaky":
            return Retry("registry busy", delay_s=0.01)
        if record.value == b"poison":
            return DeadLetter("cannot map the registry row", "CONNECTOR_MAPPING_FAILED")
        handled.append(record.value or b"")
        return Ack()

    group = f"g-{topics.request.service}"
    async with BusProducer(settings) as producer:
        for value in (b"boom", b"flaky", b"poison", b"fine"):
            await producer.send(topics.request, value, partition=0)
        consumer = BusConsumer(
            settings,
            topics=[topics.request],
            group_id=group,
            handler=handler,
            dead_letters=DeadLetterPublisher(producer),
            max_retries=2,
        )
        await consumer.start()
        try:
            await wait_for(lambda: handled == [b"fine"], timeout_s=20, what="the good record")
            dead = await read_topic(settings, topics.dead_letter.name, count=3)
            await wait_for_commit(settings, group, partition=0, offset=4)
        finally:
            await consumer.stop()

    codes = {r.value: dict(r.headers)["interop_dlq_error_code"].decode() for r in dead if r.value}
    assert codes == {
        b"boom": "BUS_HANDLER_FAILED",
        b"flaky": "BUS_RETRIES_EXHAUSTED",
        b"poison": "CONNECTOR_MAPPING_FAILED",
    }
    reasons = b" ".join(dict(r.headers)["interop_dlq_reason"] for r in dead)
    assert b"RuntimeError" in reasons
    assert b"secret" not in reasons


async def wait_for_commit(
    settings: KafkaSettings, group: str, *, partition: int, offset: int
) -> None:
    """Poll the group's committed offset until it reaches ``offset`` (20 s at most)."""
    deadline = asyncio.get_running_loop().time() + 20
    while (await committed_offsets(settings, group)).get(partition) != offset:
        assert asyncio.get_running_loop().time() < deadline, "offset never committed"
        await asyncio.sleep(0.1)


async def test_graceful_stop_finishes_in_flight_work_before_committing(
    settings: KafkaSettings, topics: BusTopics
) -> None:
    """stop() waits for a running handler, then commits its offset; nothing is cut short."""
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[int] = []

    async def handler(record: InboundRecord) -> Outcome:
        started.set()
        await release.wait()
        finished.append(record.offset)
        return Ack()

    group = f"g-{topics.request.service}"
    async with BusProducer(settings) as producer:
        delivery = await producer.send(topics.request, b"slow", partition=1)
        consumer = BusConsumer(
            settings,
            topics=[topics.request],
            group_id=group,
            handler=handler,
            dead_letters=DeadLetterPublisher(producer),
        )
        await consumer.start()
        await asyncio.wait_for(started.wait(), timeout=20)
        stopping = asyncio.create_task(consumer.stop())
        # stop() must still be waiting for the handler: give it a chance to (wrongly) finish.
        done, _ = await asyncio.wait({stopping}, timeout=0.5)
        assert not done
        release.set()
        await asyncio.wait_for(stopping, timeout=20)

    assert finished == [delivery.offset]
    assert (await committed_offsets(settings, group))[1] == delivery.offset + 1


async def test_only_records_written_after_assignment_are_unseen_and_never_on_a_retry(
    settings: KafkaSettings, topics: BusTopics
) -> None:
    """A record already in the partition when it was assigned may have been handled by an
    earlier owner: not unseen. One written after it: unseen, on its first attempt only."""
    seen: list[tuple[bytes, bool]] = []

    async def handler(record: InboundRecord) -> Outcome:
        seen.append((record.value or b"", record.unseen))
        if record.value == b"after-retried" and record.unseen:
            return Retry("once more", delay_s=0.01)
        return Ack()

    group = f"g-{topics.request.service}"
    async with BusProducer(settings) as producer:
        await producer.send(topics.request, b"before", partition=0)
        consumer = BusConsumer(
            settings,
            topics=[topics.request],
            group_id=group,
            handler=handler,
            dead_letters=DeadLetterPublisher(producer),
        )
        await consumer.start()
        try:
            await wait_for(lambda: len(seen) == 1, timeout_s=20, what="the earlier record")
            await producer.send(topics.request, b"after", partition=0)
            await producer.send(topics.request, b"after-retried", partition=0)
            await wait_for(lambda: len(seen) == 4, timeout_s=20, what="the later records")
        finally:
            await consumer.stop()

    assert seen == [
        (b"before", False),
        (b"after", True),
        (b"after-retried", True),
        (b"after-retried", False),
    ]
