"""Garbage and forged records produced on a request topic (issue #14, item 10).

Whoever can write to a request topic can copy a real exchange's headers. With the
broker's ACLs on (``interop dev``'s default) that is only the gateway's Kafka identity, so
the forger here holds the gateway's login (a stolen password, a compromised host), and
reads the real request as the operator would. Such a record fails verification, so it
must be dead-lettered and audited as what it is, an ``UNVERIFIED`` record at
topic/partition/offset, never under the exchange, requester or subject it claims: the
copied exchange keeps exactly its own trail.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from bus import KafkaSettings, kafka_client_security
from interop.dev_setup import GATEWAY_KAFKA_USER
from tests.faults.load import Load
from tests.faults.reconcile import audit_events, audit_mark, reconcile
from tests.faults.report import CaseReport
from tests.faults.system import System
from tests.integration.bus.kafka_helpers import partitions_of

pytestmark = pytest.mark.timeout(120)

_TOPIC = "interop.req.register.residence-certificate.v1"
_DLQ = "interop.dlq.register.residence-certificate.v1"
_FORGERIES = 10


async def test_garbage_and_forged_requests_are_unverified_not_blamed_on_an_exchange(
    system: System, case: CaseReport
) -> None:
    """Ten garbage records and ten copies of a real request with one flipped value byte
    go to the request topic: each is dead-lettered and audited UNVERIFIED at exactly the
    offset it was written to, with no exchange, requester or subject; the real
    exchange's trail is unchanged (no REJECTED), and everything reconciles."""
    mark = await audit_mark(system)
    load = Load(system, report=case)
    await load.run(1, 1)
    [answer] = load.answers
    assert answer.status == 200, (answer.status, answer.code)
    assert answer.exchange_id is not None
    real = await find_request(system.kafka_login(), answer.exchange_id)
    forged = bytearray(real.value or b"")
    forged[-1] ^= 1
    forger = system.kafka_login(GATEWAY_KAFKA_USER)
    producer = AIOKafkaProducer(
        bootstrap_servers=forger.bootstrap_servers, **kafka_client_security(forger)
    )
    await producer.start()
    try:
        written = []
        for _ in range(_FORGERIES):
            garbage = await producer.send_and_wait(_TOPIC, b"\x00garbage")
            forgery = await producer.send_and_wait(
                _TOPIC, bytes(forged), headers=list(real.headers)
            )
            written += [garbage, forgery]
    finally:
        await producer.stop()
    places = {f"at {_TOPIC}/{m.partition}/{m.offset}" for m in written}

    deadline = time.monotonic() + 60
    while True:
        unverified = await audit_events(system, mark, type="UNVERIFIED")
        mine = {e["reason"].split(" ", 1)[1]: e for e in unverified if e["reason"]}
        if places <= set(mine):
            break
        assert time.monotonic() < deadline, (sorted(places - set(mine))[:3], unverified[:3])
        await asyncio.sleep(0.5)
    claimed = [
        (e["exchange_id"], e.get("requester"), e.get("subject_ref"))
        for place, e in mine.items()
        if place in places
    ]
    assert set(claimed) == {(None, None, None)}, claimed[:3]
    trail = await audit_events(system, 0, exchange_id=answer.exchange_id)
    kinds = sorted(e["type"] for e in trail)
    assert "REJECTED" not in kinds, kinds
    assert kinds.count("REQUESTED") == 1, kinds
    dead = await _dead_letters(system.kafka_login(), {(m.partition, m.offset) for m in written})
    assert dead == {(m.partition, m.offset) for m in written}
    case.notes.append(f"{len(written)} records dead-lettered and audited UNVERIFIED by offset")
    await reconcile(system, load, case, mark=mark)


async def _consume(settings: KafkaSettings, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on ``topic`` now (from the beginning, no group)."""
    consumer: AIOKafkaConsumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, **kafka_client_security(settings)
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions_of(settings, topic)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + 30
        while await _behind(consumer, ends):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records += batch
        return records
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False


async def find_request(settings: KafkaSettings, exchange_id: str) -> ConsumerRecord[bytes, bytes]:
    for record in await _consume(settings, _TOPIC):
        if ("ce_id", exchange_id.encode()) in list(record.headers):
            return record
    raise AssertionError(f"request {exchange_id} not found on {_TOPIC}")


async def _dead_letters(
    settings: KafkaSettings, wanted: set[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Which of the request topic's (partition, offset) in ``wanted`` are on the DLQ."""
    deadline = time.monotonic() + 30
    while True:
        found: set[tuple[int, int]] = set()
        for record in await _consume(settings, _DLQ):
            headers: dict[str, Any] = {k: v.decode() for k, v in record.headers}
            if headers.get("interop_dlq_topic") == _TOPIC:
                place = (int(headers["interop_dlq_partition"]), int(headers["interop_dlq_offset"]))
                if place in wanted:
                    found.add(place)
        if found == wanted or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)
