"""What the gateway puts on the request topic, read back with Confluent's own tooling.

The promise of the wire format: a request the gateway produced can be decoded by any
standard Kafka consumer that points Confluent's ``AvroDeserializer`` at the gateway's
Schema Registry routes, without knowing interop-bus.
"""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bus import RequestTopic, parse_service_id
from tests.integration.gateway.support import RunningGateway, http


async def test_confluent_decodes_the_request_the_gateway_produced(
    running_gateway: RunningGateway, kafka_bootstrap: str
) -> None:
    gw = running_gateway
    ident = f"FOUND-{uuid.uuid4().hex[:8]}"
    status, _, answer = await http(
        "POST",
        f"{gw.base_url}/v1/exchanges",
        headers=gw.headers(Prefer="wait=10"),
        json=gw.body(ident, data={"document_type": "NIE", "document_number": ident}),
    )
    assert status == 200, answer

    topic = RequestTopic(parse_service_id(gw.cat.residence), 1).name
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"wire-reader-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    try:
        # The gateway keys requests by subject reference; ours is the only one on this topic
        # whose id is the exchange's (ce_id header).
        async with asyncio.timeout(30):
            while True:
                record = await consumer.getone()
                headers = {k: v.decode() for k, v in record.headers}
                if headers.get("ce_id") == answer["id"]:
                    break
    finally:
        await consumer.stop()

    assert record.value is not None
    assert record.value[0] == 0  # Confluent framing: magic byte, then the schema id
    context = SerializationContext(topic, MessageField.VALUE)
    with SchemaRegistryClient({"url": gw.base_url}) as client:
        deserializer = AvroDeserializer(client)
        # Confluent's client is synchronous; the gateway serves it from this loop.
        decoded = await asyncio.to_thread(deserializer, record.value, context)
    assert decoded == {
        "document_type": "NIE",
        "document_number": ident,
        "municipality_code": None,
        "as_of_date": None,
    }
    # Headers carry the pseudonym, never the subject's identifier.
    assert "12345678Z" not in repr(record.headers)
