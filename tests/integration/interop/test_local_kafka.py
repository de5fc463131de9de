"""The local broker runner against a real Apache Kafka process."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from devservers.kafka import BrokerStartError, KafkaRunner
from devservers.ports import ephemeral_port_range
from tests.integration.conftest import free_port


async def _write(bootstrap: str, topic: str, value: bytes) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=10_000)
        return [m.value for records in batches.values() for m in records]
    finally:
        await consumer.stop()


def test_start_reuse_stop_and_data_survives_restart(
    kafka_runner_factory: Callable[[], KafkaRunner],
) -> None:
    """Start twice reuses the process; a record written before stop is read after start.

    Synchronous on purpose: the runner is the CLI's blocking API (it runs its own loop).
    """
    runner = kafka_runner_factory()
    port, controller = free_port(), free_port()
    first = runner.start(port=port, controller_port=controller)
    try:
        assert not first.reused
        again = runner.start(port=port, controller_port=controller)
        assert again.reused
        assert again.pid == first.pid
        status = runner.status()
        assert status is not None
        assert status.bootstrap_servers == first.bootstrap_servers
        asyncio.run(_write(first.bootstrap_servers, "runner-persistence", b"kept across restarts"))
    finally:
        assert runner.stop()
    assert runner.status() is None
    assert (runner.log_dir / "meta.properties").is_file()

    restarted = runner.start(port=port, controller_port=controller)
    try:
        assert restarted.pid != first.pid
        assert asyncio.run(_read_all(restarted.bootstrap_servers, "runner-persistence")) == [
            b"kept across restarts"
        ]
    finally:
        runner.stop()


def test_a_port_in_the_ephemeral_range_is_refused_with_the_reason(
    kafka_runner_factory: Callable[[], KafkaRunner],
) -> None:
    """A client port in the machine's ephemeral range: refused before Java starts, saying
    why (a reconnecting client can end up connected to itself) and what to do."""
    low, high = ephemeral_port_range()
    with pytest.raises(BrokerStartError, match=r"ephemeral range .* choose a port below"):
        kafka_runner_factory().start(port=low + 5, controller_port=free_port())
    assert high > low


def test_port_in_use_is_refused_before_starting_java(
    kafka_runner_factory: Callable[[], KafkaRunner],
) -> None:
    """A busy client port is named in the error; no broker process is left behind."""
    runner = kafka_runner_factory()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", free_port()))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(BrokerStartError, match=rf"port {port} on 127.0.0.1 is already in use"):
            runner.start(port=port, controller_port=free_port())
    assert runner.status() is None
