"""A minimal provider on ``bus.Responder`` answering from memory (until a connector runs).

It does what a connector does per request minus the legacy call: decode the Avro request
with the catalogue's codec, look the document up in the in-memory registry, map the row
to the response schema (strict JSON to Avro) and encode it with the provider's minor.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.errors import BenchConfigError
from benchmarks.registry_data import lookup
from bus import (
    BusProducer,
    Envelope,
    KafkaSettings,
    ReplyOutcome,
    ReplyStatus,
    RequestTopic,
    Responder,
    parse_member_id,
    parse_service_id,
)
from contracts import Codec, LockFile, json_to_avro, load_catalogue

__all__ = ["MemoryProvider"]

_PROVIDER_MINOR = "1.1"


class MemoryProvider:
    """One responder member serving ``service`` v1 in consumer group ``group_id``."""

    def __init__(
        self, settings: KafkaSettings, *, catalogue_dir: Path, service: str, group_id: str
    ) -> None:
        catalogue = load_catalogue(catalogue_dir)
        lock = LockFile.load(catalogue.lock_path())
        self._codec = Codec({int(k): v for k, v in catalogue.schemas_by_id(lock).items()})
        found = catalogue.services.get(service)
        version = found.version(_PROVIDER_MINOR) if found is not None else None
        entry = lock.entry(service, _PROVIDER_MINOR, "response")
        if found is None or version is None or entry is None:
            raise BenchConfigError(f"{service} {_PROVIDER_MINOR} is not in {catalogue_dir}")
        self._response_schema = version.response
        self._response_id = entry.schema_id
        self._producer = BusProducer(settings)
        self._responder = Responder(
            settings,
            member=parse_member_id(found.meta.providers[0]),
            topic=RequestTopic(parse_service_id(service), 1),
            group_id=group_id,
            handler=self._answer,
            producer=self._producer,
            max_in_flight=64,
            drain_timeout_s=5,
        )

    async def _answer(self, _envelope: Envelope, value: bytes | None) -> ReplyOutcome:
        datum = self._codec.decode(value or b"").datum
        row = lookup(str(datum.get("document_number")))
        if row is None:
            return ReplyOutcome(b"", ReplyStatus.NOT_FOUND)
        return ReplyOutcome(
            self._codec.encode(self._response_id, json_to_avro(self._response_schema, row))
        )

    async def start(self) -> None:
        await self._producer.start()
        await self._responder.start()
        await self._responder.consumer.wait_assigned(timeout_s=60)

    async def stop(self) -> None:
        await self._responder.stop()
        await self._producer.stop()
