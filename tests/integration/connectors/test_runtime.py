"""The connector runtime against the real broker: signed requests written as the gateway
writes them, replies decoded as the gateway decodes them, redelivery, retries and the
circuit breaker, dead letters, and the reply store on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bus import BusProducer, Envelope, ReplyStatus
from bus.audit.trail import AuditEventType, MemoryAuditTrail
from connectors import ConnectorRuntime, ConnectorSettings
from contracts import avro_to_json
from tests.integration.bus.kafka_helpers import read_topic, wait_for
from tests.integration.connectors.support import World, make_world


@asynccontextmanager
async def running(
    settings: ConnectorSettings, audit: MemoryAuditTrail | None = None
) -> AsyncIterator[ConnectorRuntime]:
    trail = audit or MemoryAuditTrail()
    runtime = ConnectorRuntime(settings, audit=lambda _producer: trail)
    await runtime.start()
    try:
        await runtime.wait_assigned(timeout_s=30)
        yield runtime
    finally:
        await runtime.stop()


def _decode_like_the_gateway(world: World, envelope: Envelope, value: bytes | None) -> Any:
    """What gateway/replies.py does: read with the *requested* version's response schema."""
    contract = world.cat.catalogue.services[world.service].version("1.0")
    assert contract is not None
    decoded = world.codec.decode(value or b"", world.response_id("1.0"))
    return decoded.writer_id, avro_to_json(contract.response, decoded.datum)


async def test_a_signed_request_gets_the_reply_the_gateway_decodes(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Requested with minor 1.0; the provider reads with 1.1, writes with 1.1's locked id;
    the gateway's 1.0 reader decodes it. Audit: DELIVERED then RESPONDED."""
    world = await make_world(kafka_bootstrap, tmp_path, unique_name)
    audit = MemoryAuditTrail()
    async with (
        running(world.connector_settings(), audit),
        BusProducer(world.kafka) as producer,
        world.requester(producer) as requester,
    ):
        reply = await requester.request(world.outbound(), world.request_value("FOUND-1"))
        assert reply.envelope.status is ReplyStatus.OK
        assert reply.envelope.source == "es.ine.padron"
        writer, data = _decode_like_the_gateway(world, reply.envelope, reply.value)
        assert writer == world.response_id("1.1")
        assert data["municipality_code"] == "28005"
        assert data["registered_since"] == "2019-03-01"
        missing = await requester.request(world.outbound(), world.request_value("MISSING-1"))
        assert missing.envelope.status is ReplyStatus.NOT_FOUND
    kinds = [(r.type, r.exchange_id) for r in audit.records]
    assert kinds[:2] == [
        (AuditEventType.DELIVERED, reply.envelope.exchange_id),
        (AuditEventType.RESPONDED, reply.envelope.exchange_id),
    ]


async def test_a_redelivered_request_is_served_from_the_store(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """The same signed record produced twice: two identical replies, one handler call
    (the audit shows one DELIVERED, written again with the same id before the replay,
    and a RESPONDED marked as replayed)."""
    world = await make_world(kafka_bootstrap, tmp_path, unique_name)
    audit = MemoryAuditTrail()
    async with (
        running(world.connector_settings(), audit),
        BusProducer(world.kafka) as producer,
        world.requester(producer) as requester,
    ):
        envelope = world.envelope(requester)
        value = world.request_value("FOUND-2")
        await requester.send(world.outbound(), envelope, value)
        await requester.send(world.outbound(), envelope, value)
        await wait_for(
            lambda: len(world.replies.get(envelope.exchange_id, [])) == 2,
            timeout_s=30,
            what="two replies",
        )
    first, second = world.replies[envelope.exchange_id]
    assert first.value == second.value
    delivered = {r.event_id for r in audit.records if r.type is AuditEventType.DELIVERED}
    assert len(delivered) == 1
    # Both records run concurrently, so their RESPONDED events may come in either order.
    responded = [r.reason for r in audit.records if r.type is AuditEventType.RESPONDED]
    assert sorted(responded, key=str) == [None, "replayed from the reply store"]


async def test_legacy_failures_are_retried_then_the_circuit_opens(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """A registry that is down: each exchange tried max_attempts times, then the breaker
    opens and later requests are answered PROVIDER_UNAVAILABLE without a call."""
    world = await make_world(kafka_bootstrap, tmp_path, unique_name)
    service = world.connector_settings().services[0].model_dump()
    service["retry"] = {"max_attempts": 2, "base_delay_s": 0.01, "jitter": False}
    service["circuit"] = {"failure_threshold": 2, "open_s": 300}
    async with (
        running(world.connector_settings(services=[service])) as runtime,
        BusProducer(world.kafka) as producer,
        world.requester(producer) as requester,
    ):
        codes = []
        for n in range(4):
            reply = await requester.request(world.outbound(), world.request_value(f"DOWN-{n}"))
            codes.append((reply.envelope.status, reply.envelope.error_code))
        label = f"{world.service}.v1"
        calls = runtime.metrics.legacy_errors.labels(label, "unavailable")._value.get()
        state = runtime.metrics.circuit_state.labels(label)._value.get()
    assert codes == [(ReplyStatus.ERROR, "PROVIDER_UNAVAILABLE")] * 4
    assert calls == 4  # 2 exchanges x 2 attempts; exchanges 3 and 4 never reached it
    assert state == 2  # open


async def test_an_undecodable_request_is_dead_lettered_and_answered_rejected(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Signed but not Avro: the requester hears 'rejected'; the record lands on the DLQ
    with its reason; the partition keeps moving (the next request is answered)."""
    world = await make_world(kafka_bootstrap, tmp_path, unique_name, partitions=1)
    async with (
        running(world.connector_settings()),
        BusProducer(world.kafka) as producer,
        world.requester(producer) as requester,
    ):
        bad = await requester.request(world.outbound(), b"\x00\x00\x00\x00\x01not avro")
        good = await requester.request(world.outbound(), world.request_value("FOUND-3"))
        [parked] = await read_topic(world.kafka, world.topic.dead_letter.name, count=1)
    assert (bad.envelope.status, bad.envelope.error_code) == (
        ReplyStatus.REJECTED,
        "REQUEST_UNDECODABLE",
    )
    assert good.envelope.status is ReplyStatus.OK
    headers = dict(parked.headers)
    assert headers["interop_dlq_error_code"].startswith(b"CONTRACT_")
    assert headers["interop_dlq_topic"] == world.topic.name.encode()


async def test_an_unsigned_request_is_dead_lettered_and_not_answered(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Produced without the gateway's signature: DLQ with REQUEST_UNSIGNED, no reply."""
    world = await make_world(kafka_bootstrap, tmp_path, unique_name, partitions=1)
    async with (
        running(world.connector_settings()),
        BusProducer(world.kafka) as producer,
        world.requester(producer) as requester,
    ):
        envelope = world.envelope(requester)
        await producer.send(
            world.topic, world.request_value("FOUND-4"), headers=envelope.to_headers()
        )
        [parked] = await read_topic(world.kafka, world.topic.dead_letter.name, count=1)
        signed = await requester.request(world.outbound(), world.request_value("FOUND-5"))
    assert dict(parked.headers)["interop_dlq_error_code"] == b"REQUEST_UNSIGNED"
    assert envelope.exchange_id not in world.replies
    assert signed.envelope.status is ReplyStatus.OK


async def test_the_postgresql_reply_store_dedupes_across_a_restart(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str], postgres_dsn: str
) -> None:
    """Reply stored in PostgreSQL by one runtime; a second runtime given the same record
    replays it from the store (same bytes) without calling its handler."""
    world = await make_world(kafka_bootstrap, tmp_path, unique_name)
    settings = world.connector_settings(reply_store_url=postgres_dsn)
    audit = MemoryAuditTrail()
    async with BusProducer(world.kafka) as producer, world.requester(producer) as requester:
        envelope = world.envelope(requester)
        value = world.request_value("FOUND-PG")
        async with running(settings):
            await requester.send(world.outbound(), envelope, value)
            await wait_for(
                lambda: envelope.exchange_id in world.replies, timeout_s=30, what="first reply"
            )
        group = unique_name("second")
        service = settings.services[0].model_dump() | {"group_id": group}
        async with running(
            world.connector_settings(reply_store_url=postgres_dsn, services=[service]), audit
        ):
            # A new group starts from the beginning: the same record is delivered again.
            await wait_for(
                lambda: len(world.replies[envelope.exchange_id]) == 2,
                timeout_s=30,
                what="the replayed reply",
            )
    first, second = world.replies[envelope.exchange_id]
    assert first.value == second.value
    # The replay's DELIVERED comes again, with the step's own id (the index keeps one).
    assert [r.type for r in audit.records] == [AuditEventType.DELIVERED, AuditEventType.RESPONDED]
    assert audit.records[1].reason == "replayed from the reply store"
