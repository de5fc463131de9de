"""Producers that lived through a long broker outage write again by themselves (issue #14).

After ``interop kafka stop``, ~50 s, ``interop kafka start``, the gateway's idempotent
producer was answered ``OutOfOrderSequenceException`` for good, and only a restart helped.
Here a dedicated real broker (its own data directory and ports below the ephemeral range)
is stopped for 55 s while two producers keep writing, then started again. Both share the
one outage (each part would cost its own minute):

* a plain ``BusProducer`` sending every 50 ms: its sends fail retriably, it must not
  hammer the dead broker, and it must be writing with acks=all again within 30 s with no
  restart of its own;
* a ``KafkaAuditTrail`` writing with the gateway's bound of 1 s per write, so every write
  is abandoned at the timeout before the broker ever answers its record while aiokafka
  keeps retrying the idempotent batches: it must not leave its producer stuck, and the
  producer's health must say "cannot produce" during the outage and "can" after.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bus import BusError, BusProducer, KafkaSettings, TopicName
from bus.audit.errors import AuditWriteError
from bus.audit.kafka_trail import KafkaAuditTrail
from devservers.kafka import KafkaRunner
from tests.integration.audit.support import create_audit_topic, sample_record
from tests.integration.bus.kafka_helpers import read_topic, settings_for
from tests.integration.conftest import free_port

_OUTAGE_S = 55.0
_RECOVERY_BOUND_S = 30.0
_WRITE_TIMEOUT_S = 1.0


async def _create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def _wait_for(predicate: Callable[[], bool], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


@dataclass
class _Writes:
    """What one steady writer saw: confirmed values, and the failures' (code, retriable)."""

    confirmed: list[str] = field(default_factory=list)
    failures: list[tuple[str, bool]] = field(default_factory=list)


async def _send_steadily(
    producer: BusProducer, topic: str, out: _Writes, stop: asyncio.Event
) -> None:
    n = 0
    while not stop.is_set():
        value = f"record-{n}"
        n += 1
        try:
            await producer.send(TopicName(topic), value.encode())
            out.confirmed.append(value)
        except BusError as exc:
            out.failures.append((exc.code, exc.retriable))
        await asyncio.sleep(0.05)


async def _audit_steadily(trail: KafkaAuditTrail, out: _Writes, stop: asyncio.Event) -> None:
    n = 0
    while not stop.is_set():
        record = sample_record(n)
        n += 1
        try:
            await trail.record(record)
            assert record.exchange_id is not None
            out.confirmed.append(record.exchange_id)
        except AuditWriteError as exc:
            out.failures.append((exc.code, exc.retriable))
        await asyncio.sleep(0.05)


async def test_producers_write_again_after_a_long_outage(tmp_path: Path) -> None:
    """During a 55 s outage the plain producer's sends fail retriably at a bounded rate of
    connection attempts and the trail's writes are abandoned at its timeout; within 30 s
    of the broker's return both write again (acks=all), the trail's producer health goes
    from failing to producing, and everything confirmed before and after is on its topic."""
    runner = KafkaRunner(tmp_path / "kafka")
    port, controller = free_port(), free_port()
    # The runner waits with asyncio.run of its own: from a thread, not this loop.
    broker = await asyncio.to_thread(runner.start, port=port, controller_port=controller)
    try:
        plain_topic = "recovery-" + uuid.uuid4().hex[:10]
        await _create_topic(broker.bootstrap_servers, plain_topic)
        settings: KafkaSettings = settings_for(broker.bootstrap_servers, client_id="recovery")
        audit_topic = await create_audit_topic(settings, "audit-" + uuid.uuid4().hex[:10])
        plain, audited = _Writes(), _Writes()
        stop = asyncio.Event()
        async with BusProducer(settings) as producer, BusProducer(settings) as trail_producer:
            trail = KafkaAuditTrail(trail_producer, topic=audit_topic, timeout_s=_WRITE_TIMEOUT_S)
            writers = [
                asyncio.create_task(_send_steadily(producer, plain_topic, plain, stop)),
                asyncio.create_task(_audit_steadily(trail, audited, stop)),
            ]
            await _wait_for(
                lambda: len(plain.confirmed) >= 5 and len(audited.confirmed) >= 5,
                "nothing written before the outage",
                20,
            )
            assert trail_producer.health.can_produce
            await asyncio.to_thread(runner.stop)
            before = (len(plain.confirmed), len(audited.confirmed))
            await _wait_for(
                lambda: not trail_producer.health.can_produce,
                "the health still says it can produce with the broker down",
                10,
            )
            await asyncio.sleep(_OUTAGE_S)  # the fault itself: the broker stays down
            during = (len(plain.confirmed) - before[0], len(audited.confirmed) - before[1])
            failing_for = trail_producer.health.failing_for_s()
            await asyncio.to_thread(runner.start, port=port, controller_port=controller)
            back_at = time.monotonic()
            recovered_s: dict[str, float] = {}

            def recovered() -> bool:
                for name, writes, count in (
                    ("plain", plain, before[0] + during[0]),
                    ("audit", audited, before[1] + during[1]),
                ):
                    if name not in recovered_s and len(writes.confirmed) > count:
                        recovered_s[name] = time.monotonic() - back_at
                return len(recovered_s) == 2

            await _wait_for(
                recovered,
                f"not both writing {_RECOVERY_BOUND_S} s after the broker returned: "
                f"{plain.failures[-3:]} {audited.failures[-3:]}",
                _RECOVERY_BOUND_S,
            )
            await _wait_for(lambda: trail_producer.health.can_produce, "health not back", 5)
            stop.set()
            await asyncio.gather(*writers)

        assert during == (0, 0)
        assert plain.failures, "sends during the outage must fail"
        assert all(retriable for _, retriable in plain.failures), set(plain.failures)
        assert audited.failures, "audit writes during the outage must be refused"
        # Back-off: sends every 50 ms for 55 s, but far fewer connection attempts.
        assert 1 <= producer.replacements <= producer.replacement_attempts <= 60, (
            producer.replacements,
            producer.replacement_attempts,
        )
        assert failing_for is not None
        assert failing_for >= _OUTAGE_S
        assert max(recovered_s.values()) < _RECOVERY_BOUND_S
        on_plain = await read_topic(settings, plain_topic, count=len(plain.confirmed), timeout_s=30)
        assert set(plain.confirmed) <= {r.value.decode() for r in on_plain if r.value}
        on_audit = await read_topic(
            settings, audit_topic, count=len(audited.confirmed), timeout_s=30
        )
        keys = {r.key.decode() for r in on_audit if r.key is not None}
        assert set(audited.confirmed) <= keys
    finally:
        await asyncio.to_thread(runner.stop)
