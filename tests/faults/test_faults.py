"""Faults injected into the running system, each ending with reconciliation (issue #14).

One ``interop dev`` for the module (``conftest.system``): broker, gateway and connectors
as real processes, supervised and restarted by ``interop dev``. Each case runs a bounded
load, injects its fault mid-load, and calls ``support.reconcile``: every accepted
exchange ends exactly once with the registry's data, none lost or duplicated, every
REQUESTED closed, ``interop audit verify`` passes. The figures each case saw are printed
at the end of the run (``faults: what clients saw``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.faults.support import Load, System, reconcile
from tests.integration.bus.kafka_helpers import partitions_of, settings_for

pytestmark = pytest.mark.timeout(240)


async def _after_answers(load: Load, count: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while len(load.answers) < count:
        assert time.monotonic() < deadline, f"only {len(load.answers)} answers"
        await asyncio.sleep(0.05)


async def test_connector_sigkill_mid_load(system: System) -> None:
    """The register's connector is SIGKILLed after 40 answers; interop dev restarts it
    (static membership: it gets its partitions back at once)."""
    load = Load(system)
    running = asyncio.create_task(load.run(200, 8))
    await _after_answers(load, 40)
    os.kill(system.pid_of("connector run", "connector-padron.yaml"), signal.SIGKILL)
    killed_at = time.monotonic()
    await running
    await reconcile(
        system, load, name="connector SIGKILL", recovery_s=load.first_success_after(killed_at)
    )


async def test_gateway_sigkill_with_pending_exchanges(system: System) -> None:
    """60 exchanges accepted without waiting (202), the gateway SIGKILLed at once; after
    its restart every one of them ends completed, none timed out."""
    load = Load(system, wait_s=0)
    await load.run(60, 8)
    assert len(load.accepted()) == 60, load.answers[:3]
    os.kill(system.pid_of("gateway", "--config"), signal.SIGKILL)
    killed_at = time.monotonic()
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 120
        while True:
            try:
                async with session.get(f"{system.url}/readyz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, "the gateway did not come back"
            await asyncio.sleep(0.2)
    await reconcile(system, load, name="gateway SIGKILL", recovery_s=time.monotonic() - killed_at)


async def test_broker_stopped_for_ten_seconds_and_503d_keys_retried(system: System) -> None:
    """``interop kafka stop`` mid-load, 10 s, ``interop kafka start``: answers during the
    outage are 503 (never 502), accepted exchanges complete, and every 503'd
    Idempotency-Key retried after recovery proceeds to a completed exchange."""
    load = Load(system)
    running = asyncio.create_task(load.run(300, 8))
    await _after_answers(load, 40)
    await asyncio.to_thread(system.kafka, "stop")
    await asyncio.sleep(10)  # the fault itself: the broker stays down 10 s
    await asyncio.to_thread(system.kafka, "start")
    back_at = time.monotonic()
    await running
    codes = {ident for _, status, ident in load.answers if status not in (200, 202)}
    assert "PROVIDER_ERROR" not in codes, codes
    refused = load.refused_keys()
    deadline = time.monotonic() + 90
    while refused:
        await load.run(0, 8, keys=refused)
        refused = load.refused_keys()
        last = {k: (status, ident) for k, status, ident in load.answers if k in refused}
        assert time.monotonic() < deadline, f"{len(refused)} keys still refused: {last}"
    await reconcile(
        system, load, name="broker down 10 s", recovery_s=load.first_success_after(back_at)
    )


async def test_garbage_and_forged_requests_are_unverified_not_blamed_on_an_exchange(
    system: System,
) -> None:
    """Garbage, and a real request copied with one flipped byte, produced on a request
    topic: both are audited UNVERIFIED by where they were read; the exchange the forgery
    copied gets no REJECTED event, and the log still verifies."""
    load = Load(system)
    await load.run(1, 1)
    [(_, status, exchange_id)] = load.answers
    assert status == 200
    topic = "interop.req.register.residence-certificate.v1"
    bootstrap = f"127.0.0.1:{system.kafka_port}"
    real = await _find_request(bootstrap, topic, exchange_id)
    forged = bytearray(real.value or b"")
    forged[-1] ^= 1
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"\x00garbage")
        await producer.send_and_wait(topic, bytes(forged), headers=list(real.headers))
    finally:
        await producer.stop()
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 60
        headers = {"Authorization": f"Bearer {system.keys['AUDITOR']}"}
        while True:
            async with session.get(
                f"{system.url}/v1/audit/events?type=UNVERIFIED&limit=1000", headers=headers
            ) as response:
                unverified = (await response.json())["events"]
            mine = [e for e in unverified if f"at {topic}/" in (e["reason"] or "")]
            if len(mine) >= 2:
                break
            assert time.monotonic() < deadline, unverified
            await asyncio.sleep(0.5)
        async with session.get(
            f"{system.url}/v1/audit/events?exchange_id={exchange_id}", headers=headers
        ) as response:
            kinds = [e["type"] for e in (await response.json())["events"]]
    assert "REJECTED" not in kinds, kinds
    assert all(e["exchange_id"] is None for e in mine)
    await reconcile(system, load, name="garbage + forged requests", recovery_s=None)


async def _find_request(bootstrap: str, topic: str, exchange_id: str) -> Any:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(settings_for(bootstrap), topic)
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if (b"ce_id", exchange_id.encode()) in [
                        (n.encode(), v) for n, v in record.headers
                    ]:
                        return record
        raise AssertionError(f"request {exchange_id} not found on {topic}")
    finally:
        await consumer.stop()
