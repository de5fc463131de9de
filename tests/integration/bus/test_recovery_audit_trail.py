"""The audit trail writes again by itself after a long broker outage (issue #14).

The gateway bounds every audit write (``KafkaAuditTrail``'s ``timeout_s``): during an
outage each write is abandoned after the timeout, before the broker ever answers its
record, and aiokafka keeps retrying the idempotent batches. Here a dedicated real broker
is stopped for 55 s while a trail keeps writing with a 1 s timeout, as the gateway does,
then started again: a write must be acknowledged (acks=all) again within a bounded time,
and the producer's health must say "cannot produce" during the outage and "can" after.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from bus import BusProducer, KafkaSettings
from bus.audit.errors import AuditWriteError
from bus.audit.kafka_trail import KafkaAuditTrail
from devservers.kafka import KafkaRunner
from tests.integration.audit.support import create_audit_topic, sample_record
from tests.integration.bus.kafka_helpers import read_topic, settings_for
from tests.integration.conftest import free_port

_OUTAGE_S = 55.0
_RECOVERY_BOUND_S = 30.0
_WRITE_TIMEOUT_S = 1.0


async def _wait_for(predicate: object, what: str, timeout_s: float) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_the_audit_trail_writes_again_after_a_long_outage_with_abandoned_writes(
    tmp_path: Path,
) -> None:
    """Writes abandoned at the trail's timeout during a 55 s outage do not leave the
    producer stuck: within 30 s of the broker's return a write is acknowledged, the
    producer's health goes from failing to producing, and every acknowledged event is on
    the audit topic."""
    runner = KafkaRunner(tmp_path / "kafka")
    port, controller = free_port(), free_port()
    broker = await asyncio.to_thread(runner.start, port=port, controller_port=controller)
    try:
        settings: KafkaSettings = settings_for(broker.bootstrap_servers, client_id="trail-rec")
        topic = await create_audit_topic(settings, "audit-" + uuid.uuid4().hex[:10])
        async with BusProducer(settings) as producer:
            trail = KafkaAuditTrail(producer, topic=topic, timeout_s=_WRITE_TIMEOUT_S)
            acknowledged: list[str] = []
            refused = 0
            stop_writing = asyncio.Event()

            async def write_steadily() -> None:
                nonlocal refused
                n = 0
                while not stop_writing.is_set():
                    record = sample_record(n)
                    n += 1
                    try:
                        await trail.record(record)
                        assert record.exchange_id is not None
                        acknowledged.append(record.exchange_id)
                    except AuditWriteError:
                        refused += 1
                    await asyncio.sleep(0.05)

            writer = asyncio.create_task(write_steadily())
            await _wait_for(lambda: len(acknowledged) >= 5, "nothing written before", 20)
            assert producer.health.can_produce
            await asyncio.to_thread(runner.stop)
            before = len(acknowledged)
            await _wait_for(
                lambda: not producer.health.can_produce,
                "the health still says it can produce with the broker down",
                10,
            )
            await asyncio.sleep(_OUTAGE_S)  # the fault itself: the broker stays down
            during = len(acknowledged) - before
            failing_for = producer.health.failing_for_s()
            await asyncio.to_thread(runner.start, port=port, controller_port=controller)
            back_at = time.monotonic()
            await _wait_for(
                lambda: len(acknowledged) > before + during,
                f"no audit write acknowledged {_RECOVERY_BOUND_S} s after the broker returned",
                _RECOVERY_BOUND_S,
            )
            recovered_s = time.monotonic() - back_at
            await _wait_for(lambda: producer.health.can_produce, "health not back", 5)
            stop_writing.set()
            await writer
        assert during == 0
        assert refused > 0
        assert failing_for is not None
        assert failing_for >= _OUTAGE_S
        assert recovered_s < _RECOVERY_BOUND_S
        on_topic = await read_topic(settings, topic, count=len(acknowledged), timeout_s=30)
        keys = {r.key.decode() for r in on_topic if r.key is not None}
        assert set(acknowledged) <= keys
    finally:
        await asyncio.to_thread(runner.stop)
