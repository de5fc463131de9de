"""Personal fields encrypted for the provider on the real broker (issue #13).

The gateway seals a request's personal fields for the provider's encryption key (from the
members file); the provider's connector opens them and answers. Read with anything else -
a plain consumer, Confluent's own ``AvroDeserializer``, the dead-letter topic - the record
decodes and shows ``enc:v1:`` ciphertext where the identifier was, and the identifier
appears nowhere in its value or headers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bus import CIPHERTEXT_PREFIX, RequestTopic, dead_letter_topic_for, parse_service_id
from bus.audit import AuditEventType, MemoryAuditTrail
from connectors import ConnectorRuntime, ConnectorSettings
from tests.integration.bus.kafka_helpers import read_topic
from tests.integration.connectors.support import DIGEST_KEY, PROVIDER
from tests.integration.gateway.support import RunningGateway, http, start_gateway
from tests.integration.member_signing import (
    field_keys_of,
    gateway_signing_settings,
    key_id_of,
    private_key_of,
    public_key_text_of,
)


def _connector(
    gw: RunningGateway, kafka_bootstrap: str, tmp_path: Path, group: str, **extra: Any
) -> ConnectorSettings:
    gateway_key = gateway_signing_settings()["key_id"]
    return ConnectorSettings.model_validate(
        {
            "member_id": PROVIDER,
            "kafka": {"bootstrap_servers": kafka_bootstrap},
            "catalogue_dir": str(gw.cat.root),
            "reply_store_url": f"sqlite:///{tmp_path / (group + '.db')}",
            "gateway_keys": {gateway_key: public_key_text_of("interop.gateway")},
            "signing": {"key_id": key_id_of(PROVIDER), "private_key": private_key_of(PROVIDER)},
            "audit_digest_key": DIGEST_KEY,
            "health": {"enabled": False},
            "services": [
                {
                    "service": gw.cat.residence,
                    "version": "1",
                    "handler": "tests.integration.connectors.handlers:residence",
                    "group_id": group,
                }
            ],
            **extra,
        }
    )


async def _record_of(kafka_bootstrap: str, topic: str, exchange_id: str) -> Any:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"fle-reader-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            while True:
                record = await consumer.getone()
                if dict(record.headers).get("ce_id") == exchange_id.encode():
                    return record
    finally:
        await consumer.stop()


async def test_the_provider_opens_what_every_other_reader_sees_as_ciphertext(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """An exchange completes with the registry's data through sealed fields; the request
    record, read by a plain consumer and by Confluent's deserializer with the gateway's
    registry, holds ``enc:v1:`` where the document number was and the number nowhere."""
    ident = f"FOUND-{uuid.uuid4().hex[:10].upper()}"
    async with start_gateway(
        kafka_bootstrap, tmp_path, unique_name, with_provider=False, encrypt_for=(PROVIDER,)
    ) as gw:
        settings = _connector(
            gw, kafka_bootstrap, tmp_path, unique_name("fle"), field_keys=field_keys_of(PROVIDER)
        )
        runtime = ConnectorRuntime(settings, audit=lambda _producer: MemoryAuditTrail())
        await runtime.start()
        try:
            await runtime.wait_assigned(timeout_s=30)
            status, _, answer = await http(
                "POST",
                f"{gw.base_url}/v1/exchanges",
                headers=gw.headers(Prefer="wait=10"),
                json=gw.body(ident, version="1.0"),
            )
        finally:
            await runtime.stop()
        assert status == 200, answer
        assert answer["found"] is True
        topic = RequestTopic(parse_service_id(gw.cat.residence), 1).name
        record = await _record_of(kafka_bootstrap, topic, answer["id"])
        with SchemaRegistryClient({"url": gw.base_url}) as client:
            deserializer = AvroDeserializer(client)
            context = SerializationContext(topic, MessageField.VALUE)
            decoded = await asyncio.to_thread(deserializer, record.value, context)
    assert decoded["document_type"] == "DNI"
    assert decoded["document_number"].startswith(CIPHERTEXT_PREFIX)
    assert ident.encode() not in record.value
    assert ident not in repr(record.headers)
    headers = dict(record.headers)
    assert headers["interop_field_key"].startswith(f"{PROVIDER}-enc-1:".encode())


async def test_a_connector_without_the_key_refuses_and_the_dead_letter_keeps_ciphertext(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """A connector that holds no field key cannot read the subject: the request is
    answered ``rejected`` (a 502 to the caller, never the registry called), audited
    REJECTED ``FIELDS_NOT_OPENED``, and its dead letter shows no identifier either."""
    ident = f"FOUND-{uuid.uuid4().hex[:10].upper()}"
    async with start_gateway(
        kafka_bootstrap, tmp_path, unique_name, with_provider=False, encrypt_for=(PROVIDER,)
    ) as gw:
        audit = MemoryAuditTrail()
        runtime = ConnectorRuntime(
            _connector(gw, kafka_bootstrap, tmp_path, unique_name("nokey")),
            audit=lambda _producer: audit,
        )
        await runtime.start()
        try:
            await runtime.wait_assigned(timeout_s=30)
            status, _, problem = await http(
                "POST",
                f"{gw.base_url}/v1/exchanges",
                headers=gw.headers(Prefer="wait=10"),
                json=gw.body(ident, version="1.0"),
            )
        finally:
            await runtime.stop()
        topic = RequestTopic(parse_service_id(gw.cat.residence), 1)
        dead = await read_topic(gw.kafka, dead_letter_topic_for(topic.name).name, count=1)
    assert status == 502, problem
    rejected = [r for r in audit.records if r.type is AuditEventType.REJECTED]
    assert [r.reason for r in rejected] == ["FIELDS_NOT_OPENED:NO_FIELD_KEY"]
    assert ident.encode() not in (dead[0].value or b"")
    assert CIPHERTEXT_PREFIX.encode() in (dead[0].value or b"")
