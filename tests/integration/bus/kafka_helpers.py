"""Helpers shared by the bus integration tests and their helper processes (real broker)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from bus import KafkaSettings, admin_client

__all__ = [
    "committed_offsets",
    "end_offsets",
    "partitions_of",
    "read_topic",
    "settings_for",
    "wait_for",
]


def settings_for(bootstrap: str, client_id: str = "interop-bus-it") -> KafkaSettings:
    """Settings tuned for tests: the broker's minimum session timeout, fast heartbeats."""
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        linger_ms=2,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        request_timeout_ms=15_000,
    )


async def read_topic(
    settings: KafkaSettings, topic: str, *, count: int, timeout_s: float = 20.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read a topic from the beginning until ``count`` records arrived (or fail at timeout)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        tps = [TopicPartition(topic, p) for p in await partitions_of(settings, topic)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout_s
        while len(records) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: {len(records)} of {count} records in {timeout_s}s")
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def end_offsets(settings: KafkaSettings, topic: str) -> dict[int, int]:
    """The end offset of every partition of ``topic``."""
    tps = [TopicPartition(topic, p) for p in await partitions_of(settings, topic)]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return {tp.partition: offset for tp, offset in ends.items()}


async def partitions_of(settings: KafkaSettings, topic: str) -> list[int]:
    """The partition numbers of ``topic`` (from a metadata request)."""
    admin = admin_client(settings)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for p in described["partitions"])


async def committed_offsets(settings: KafkaSettings, group_id: str) -> dict[int, int]:
    """The offsets ``group_id`` committed, by partition."""
    admin = admin_client(settings)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items()}


async def wait_for(condition: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Poll a zero-argument callable until it returns true; fail with ``what`` at timeout."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.02)
