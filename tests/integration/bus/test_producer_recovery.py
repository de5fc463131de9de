"""A producer that lived through a long broker outage produces again by itself.

Issue #14: after ``interop kafka stop``, ~50 s, ``interop kafka start``, the gateway's
idempotent producer was answered ``OutOfOrderSequenceException`` for good, and only a
restart helped. Here a dedicated real broker (its own data directory and ports below the
ephemeral range) is stopped for 55 s while a ``BusProducer`` keeps sending, then started
again: the producer must be writing with acks=all again within a bounded time, with no
restart of its own, and must not have hammered the dead broker.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bus import BusError, BusProducer, TopicName
from devservers.kafka import KafkaRunner
from tests.integration.bus.kafka_helpers import read_topic, settings_for
from tests.integration.conftest import free_port

_OUTAGE_S = 55.0
_RECOVERY_BOUND_S = 30.0


async def _create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def test_the_producer_is_replaced_and_writes_again_after_a_long_outage(
    tmp_path: Path,
) -> None:
    """Sends keep failing (retriably) while the broker is down, at a bounded rate of
    connection attempts; once it is back, a send succeeds within 30 s and every record
    confirmed before and after the outage is on the topic."""
    runner = KafkaRunner(tmp_path / "kafka")
    port, controller = free_port(), free_port()
    # The runner waits with asyncio.run of its own: from a thread, not this loop.
    broker = await asyncio.to_thread(runner.start, port=port, controller_port=controller)
    topic = "recovery-" + uuid.uuid4().hex[:10]
    try:
        await _create_topic(broker.bootstrap_servers, topic)
        settings = settings_for(broker.bootstrap_servers, client_id="recovery-test")
        async with BusProducer(settings) as producer:
            confirmed: list[bytes] = []
            failures: list[tuple[str, bool]] = []
            stop_sending = asyncio.Event()

            async def send_steadily() -> None:
                n = 0
                while not stop_sending.is_set():
                    value = f"record-{n}".encode()
                    n += 1
                    try:
                        await producer.send(TopicName(topic), value)
                        confirmed.append(value)
                    except BusError as exc:
                        failures.append((exc.code, exc.retriable))
                    await asyncio.sleep(0.05)

            sender = asyncio.create_task(send_steadily())
            deadline = time.monotonic() + 20
            while len(confirmed) < 5:
                assert time.monotonic() < deadline, "no record confirmed before the outage"
                await asyncio.sleep(0.05)
            await asyncio.to_thread(runner.stop)
            before = len(confirmed)
            await asyncio.sleep(_OUTAGE_S)  # the fault itself: the broker stays down
            during = len(confirmed) - before
            await asyncio.to_thread(runner.start, port=port, controller_port=controller)
            back_at = time.monotonic()
            while len(confirmed) == before + during:
                assert time.monotonic() - back_at < _RECOVERY_BOUND_S, (
                    f"no send succeeded {_RECOVERY_BOUND_S}s after the broker returned: "
                    f"{failures[-5:]}"
                )
                await asyncio.sleep(0.1)
            recovered_s = time.monotonic() - back_at
            stop_sending.set()
            await sender
        assert during == 0
        assert failures, "sends during the outage must fail"
        assert all(retriable for _, retriable in failures), set(failures)
        # Back-off: sends every 50 ms for 55 s, but far fewer connection attempts.
        assert 1 <= producer.replacements <= producer.replacement_attempts <= 60, (
            producer.replacements,
            producer.replacement_attempts,
        )
        on_topic = await read_topic(settings, topic, count=len(confirmed), timeout_s=30)
        assert set(confirmed) <= {r.value for r in on_topic}
        assert recovered_s < _RECOVERY_BOUND_S
    finally:
        await asyncio.to_thread(runner.stop)
