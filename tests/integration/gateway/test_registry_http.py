"""The Schema Registry read API over real HTTP, checked with Confluent's own client.

A record framed by our codec travels through the real broker; Confluent's
``SchemaRegistryClient`` + ``AvroDeserializer`` fetch its writer schema from the gateway's
registry routes and decode it. That is the promise: standard Kafka tooling decodes our
topics without knowing interop-bus.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bus import BusProducer, KafkaSettings, TopicSpec, ensure_topics, parse_topic
from bus.audit.kafka_trail import KafkaAuditTrail
from bus.audit.trail import AuditEventType, AuditRecord
from contracts import Codec, LockFile, json_to_avro, load_catalogue
from gateway.problems import error_middleware
from gateway.registry_api import REGISTRY_CONTENT_TYPE, add_registry_routes
from tests.integration.audit.support import create_audit_topic
from tests.integration.conftest import free_port

CATALOGUE = load_catalogue()
LOCK = LockFile.load(CATALOGUE.lock_path())


@pytest.fixture
async def registry_url() -> AsyncIterator[str]:
    """A real HTTP server with only the registry routes (and the error middleware)."""
    app = web.Application(middlewares=[error_middleware])
    add_registry_routes(app, catalogue=CATALOGUE, lock=LOCK)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _get(url: str) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.content_type, await response.json(content_type=None)


def _entry_id(service: str, version: str, role: str) -> int:
    entry = LOCK.entry(service, version, role)  # type: ignore[arg-type]
    assert entry is not None
    return entry.schema_id


async def test_subjects_versions_and_schemas(registry_url: str) -> None:
    """Subjects list both sides of every service major; versions resolve to locked ids."""
    status, content_type, subjects = await _get(f"{registry_url}/subjects")
    assert status == 200
    assert content_type == REGISTRY_CONTENT_TYPE
    assert "interop.req.tax.income-band.v1-value" in subjects
    assert "interop.rep.register.residence-certificate.v2-value" in subjects
    assert subjects == sorted(subjects)

    service = "register.residence-certificate"
    subject = f"interop.req.{service}.v1-value"
    status, _, versions = await _get(f"{registry_url}/subjects/{subject}/versions")
    assert (status, versions) == (200, [1, 2])

    status, _, latest = await _get(f"{registry_url}/subjects/{subject}/versions/latest")
    assert status == 200
    assert latest["version"] == 2
    assert latest["id"] == _entry_id(service, "1.1", "request")
    assert json.loads(latest["schema"])["name"] == "ResidenceCertificateRequest"

    status, _, first = await _get(f"{registry_url}/subjects/{subject}/versions/1")
    assert (status, first["id"]) == (200, _entry_id(service, "1.0", "request"))

    # tax.income-band 1.1 kept 1.0's request schema: one id, so one subject version.
    tax = "interop.req.tax.income-band.v1-value"
    status, _, versions = await _get(f"{registry_url}/subjects/{tax}/versions")
    assert (status, versions) == (200, [1])

    status, _, by_id = await _get(f"{registry_url}/schemas/ids/{first['id']}")
    assert status == 200
    assert json.loads(by_id["schema"]) == json.loads(first["schema"])
    assert "schemaType" not in by_id  # AVRO is the registry's implicit default


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/schemas/ids/999999", 404, 40403),
        ("/schemas/ids/not-a-number", 404, 40403),
        ("/schemas/ids/" + "9" * 40, 404, 40403),
        ("/subjects/nope-value/versions", 404, 40401),
        ("/subjects/nope-value/versions/latest", 404, 40401),
        ("/subjects/interop.req.tax.income-band.v1-value/versions/2", 404, 40402),
        ("/subjects/interop.req.tax.income-band.v1-value/versions/0", 422, 42202),
        ("/subjects/interop.req.tax.income-band.v1-value/versions/-5", 422, 42202),
        ("/subjects/interop.req.tax.income-band.v1-value/versions/%27%20OR%201=1", 422, 42202),
        # Digits of another script: int() reads U+0661 as 1, the API promises 1..2^31-1.
        ("/subjects/interop.req.tax.income-band.v1-value/versions/%D9%A1", 422, 42202),
        ("/schemas/ids/%D9%A1", 404, 40403),
    ],
)
async def test_errors_use_the_registry_format(
    registry_url: str, path: str, status: int, code: int
) -> None:
    """Unknown ids, subjects and versions answer the registry's own error codes, no 500."""
    got_status, content_type, body = await _get(registry_url + path)
    assert got_status == status
    assert content_type == REGISTRY_CONTENT_TYPE
    assert body["error_code"] == code
    assert body["message"]


async def test_confluent_deserializer_decodes_a_record_from_the_broker(
    registry_url: str, kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    """Confluent's AvroDeserializer decodes our Confluent-framed record via our registry."""
    service, version = "register.residence-certificate", "1.1"
    item = CATALOGUE.services[service].version(version)
    assert item is not None
    schema_id = _entry_id(service, version, "request")
    datum = json_to_avro(
        item.request,
        {"document_type": "DNI", "document_number": "12345678Z", "municipality_code": "08019"},
    )
    value = Codec(CATALOGUE.schemas_by_id(LOCK)).encode(schema_id, datum)

    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    topic = parse_topic(f"interop.req.it.{unique_name('reg')}.v1")
    await ensure_topics(settings, [TopicSpec(topic, 1, 1)])
    async with BusProducer(settings) as producer:
        await producer.send(topic, value)
    consumer = AIOKafkaConsumer(
        topic.name, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()

    context = SerializationContext(topic.name, MessageField.VALUE)
    with SchemaRegistryClient({"url": registry_url}) as client:
        deserializer = AvroDeserializer(client)
        # Confluent's client is synchronous: run it off the loop that serves the registry.
        decoded = await asyncio.to_thread(deserializer, record.value, context)
    assert decoded == {
        "document_type": "DNI",
        "document_number": "12345678Z",
        "municipality_code": "08019",
        "as_of_date": None,
    }


async def test_confluent_decodes_an_audit_event_through_the_registry(
    registry_url: str, kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    """The audit topic is decodable by standard tooling too: its AuditEvent schema is served
    (subject ``interop.audit-value``) and Confluent's deserializer reads a real event."""
    status, _, subjects = await _get(f"{registry_url}/subjects")
    assert status == 200
    assert "interop.audit-value" in subjects
    status, _, latest = await _get(f"{registry_url}/subjects/interop.audit-value/versions/latest")
    assert status == 200
    assert json.loads(latest["schema"])["name"] == "AuditEvent"

    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    topic = await create_audit_topic(settings, unique_name("audit"))
    async with BusProducer(settings) as producer:
        trail = KafkaAuditTrail(producer, topic=topic)
        await trail.record(
            AuditRecord(
                type=AuditEventType.COMPLETED,
                time=datetime.now(UTC),
                actor="es.gateway",
                exchange_id="01a20000-0000-7000-8000-000000000001",
                requester="es.ayto-alcala",
                service="tax.income-band",
                outcome="OK",
            )
        )
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    context = SerializationContext(topic, MessageField.VALUE)
    with SchemaRegistryClient({"url": registry_url}) as client:
        decoded = await asyncio.to_thread(AvroDeserializer(client), record.value, context)
    assert decoded["exchange_id"] == "01a20000-0000-7000-8000-000000000001"
    assert decoded["requester"] == "es.ayto-alcala"
    assert decoded["outcome"] == "OK"
