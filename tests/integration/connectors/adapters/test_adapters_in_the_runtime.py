"""Adapters and mappings served by the real connector runtime on the real broker: a request
signed as the gateway signs it is answered from the demo's SQLite register, and from a CSV
export replaced while the connector runs."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bus import BusProducer, ReplyStatus
from bus.audit.trail import MemoryAuditTrail
from connectors import ConnectorRuntime, ConnectorSettings
from connectors.demo import create_demo_registries, demo_connector_documents
from contracts import avro_to_json
from tests.integration.connectors.support import World, make_world

RESIDENCE_MAPPING: dict[str, Any] = {
    "registered": {"constant": True},
    "municipality_code": {"from": "MUNICIPIO"},
    "registered_since": {"from": "ALTA", "date_format": "%Y%m%d"},
    "certified_at": {"now": True},
}


@asynccontextmanager
async def running(settings: ConnectorSettings) -> AsyncIterator[ConnectorRuntime]:
    runtime = ConnectorRuntime(settings, audit=lambda _producer: MemoryAuditTrail())
    await runtime.start()
    try:
        await runtime.wait_assigned(timeout_s=30)
        yield runtime
    finally:
        await runtime.stop()


def decoded(world: World, value: bytes | None) -> Any:
    contract = world.cat.catalogue.services[world.service].version("1.1")
    assert contract is not None
    datum = world.codec.decode(value or b"", world.response_id("1.1")).datum
    return avro_to_json(contract.response, datum)


def service_config(world: World, adapter: dict[str, Any], mapping: dict[str, Any]) -> Any:
    return {
        "service": world.service,
        "version": "1.1",
        "adapter": adapter,
        "mapping": mapping,
        "group_id": f"{world.group}-connector",
    }


async def test_the_sql_register_answers_through_the_runtime(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """The demo padrón's sql adapter and mapping: found with mapped fields, then not found."""
    world = await make_world(kafka_bootstrap, tmp_path, unique_name)
    registries = create_demo_registries(tmp_path / "demo", people=100)
    person = next(p for p in registries.examples if p.document_type == "DNI")
    padron = demo_connector_documents(registries.directory, "http://unused")["padron"]
    demo_service = padron["services"][0]
    settings = world.connector_settings(
        services=[service_config(world, demo_service["adapter"], demo_service["mapping"])]
    )
    async with (
        running(settings),
        BusProducer(world.kafka) as producer,
        world.requester(producer) as requester,
    ):
        reply = await requester.request(
            world.outbound(), world.request_value(person.document_number)
        )
        assert reply.envelope.status is ReplyStatus.OK
        data = decoded(world, reply.value)
        assert data["municipality_code"] == person.municipality.code
        assert data["registered_since"] == person.registered_since.isoformat()
        assert data["household_size"] == person.household_size
        missing = await requester.request(world.outbound(), world.request_value("00000000T"))
        assert missing.envelope.status is ReplyStatus.NOT_FOUND


async def test_a_csv_export_replaced_while_the_connector_runs(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """After the export is renamed over, the connector answers from the new file."""
    world = await make_world(kafka_bootstrap, tmp_path, unique_name)
    export = tmp_path / "padron.csv"
    export.write_bytes(b"DNI;MUNICIPIO;ALTA\n12345678Z;28079;20110203\n")
    adapter = {
        "kind": "file",
        "path": str(export),
        "format": "csv",
        "delimiter": ";",
        "key_column": "DNI",
        "key_field": "document_number",
        "poll_interval_s": 0.05,
    }
    settings = world.connector_settings(
        services=[service_config(world, adapter, RESIDENCE_MAPPING)]
    )
    async with (
        running(settings),
        BusProducer(world.kafka) as producer,
        world.requester(producer) as requester,
    ):
        first = await requester.request(world.outbound(), world.request_value("12345678Z"))
        assert first.envelope.status is ReplyStatus.OK
        assert decoded(world, first.value)["municipality_code"] == "28079"
        replacement = tmp_path / "padron.csv.new"
        replacement.write_bytes(b"DNI;MUNICIPIO;ALTA\n12345678Z;08019;20240501\n")
        os.replace(replacement, export)
        # Ask until the new export answers (each request is a fresh exchange).
        for _ in range(200):
            again = await requester.request(world.outbound(), world.request_value("12345678Z"))
            assert again.envelope.status is ReplyStatus.OK
            if decoded(world, again.value)["municipality_code"] == "08019":
                break
        else:
            raise AssertionError("the replaced export was never served")
        assert decoded(world, again.value)["registered_since"] == "2024-05-01"
