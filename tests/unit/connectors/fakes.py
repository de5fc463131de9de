"""In-memory fakes and builders for the connector's unit tests (no network)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from bus import (
    BusError,
    Envelope,
    InboundRecord,
    PublishError,
    RequestTopic,
    TopicName,
    new_traceparent,
    parse_member_id,
    parse_service_id,
)
from bus.audit.trail import MemoryAuditTrail
from bus.records import Delivery
from bus.request_signing import RequestSigner, RequestVerifier
from bus.topics import Topic
from connectors.answering import Answerer, CallLimits
from connectors.circuit import CircuitPolicy
from connectors.errors import ReplyStoreError
from connectors.metrics import ConnectorMetrics
from connectors.pipeline import RequestPipeline, ServedContract
from connectors.reply_store import StoredReply
from connectors.retry import RetryPolicy
from connectors.sdk import Handler
from contracts import Codec, LockFile, SchemaId, json_to_avro, load_catalogue

SERVICE = "register.residence-certificate"
PROVIDER = "es.ine.padron"
CATALOGUE = load_catalogue()
LOCK = LockFile.load(CATALOGUE.lock_path())
CODEC = Codec({int(k): v for k, v in CATALOGUE.schemas_by_id(LOCK).items()})
TOPIC = RequestTopic(parse_service_id(SERVICE), 1)
SIGNING_KEY = Ed25519PrivateKey.generate()
SIGNER = RequestSigner("gw-test", SIGNING_KEY)


def schema_id(version: str, role: str) -> SchemaId:
    entry = LOCK.entry(SERVICE, version, role)  # type: ignore[arg-type]
    assert entry is not None
    return entry.schema_id


def request_value(document: str = "12345678Z", version: str = "1.1") -> bytes:
    contract = CATALOGUE.services[SERVICE].version(version)
    assert contract is not None
    datum = json_to_avro(contract.request, {"document_type": "DNI", "document_number": document})
    return CODEC.encode(schema_id(version, "request"), datum)


def request_record(
    value: bytes | None = None,
    *,
    sign: bool = True,
    deadline_s: float = 30.0,
    provider: str = PROVIDER,
    offset: int = 0,
) -> tuple[Envelope, InboundRecord]:
    """A request record as the gateway writes it (signed), and its envelope."""
    body = value if value is not None else request_value()
    envelope = Envelope.new_request(
        source=parse_member_id("es.town.alcala"),
        service=parse_service_id(SERVICE),
        major=1,
        provider=parse_member_id(provider),
        purpose="social-benefits",
        deadline=datetime.now(UTC) + timedelta(seconds=deadline_s),
        reply_topic=TopicName("interop.rep.test"),
        reply_partition=1,
        traceparent=new_traceparent(),
        subject_ref="p_" + "a" * 43,
    )
    if sign:
        envelope = SIGNER.sign(envelope, body)
    record = InboundRecord(
        topic=TOPIC.name,
        partition=0,
        offset=offset,
        timestamp_ms=0,
        key=None,
        value=body,
        headers=tuple(envelope.to_headers()),
    )
    return envelope, record


@dataclass
class MemoryReplyStore:
    """A dict of replies; ``fail`` makes every call raise ReplyStoreError."""

    replies: dict[str, StoredReply] = field(default_factory=dict)
    fail: bool = False

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        self._check()

    def _check(self) -> None:
        if self.fail:
            raise ReplyStoreError("the store is down")

    async def get(self, exchange_id: str) -> StoredReply | None:
        self._check()
        return self.replies.get(exchange_id)

    async def put(self, reply: StoredReply) -> StoredReply:
        self._check()
        return self.replies.setdefault(reply.exchange_id, reply)

    async def purge(self, older_than: datetime) -> int:
        return 0


@dataclass
class Sent:
    topic: str
    value: bytes
    key: bytes | None
    headers: list[tuple[str, bytes]]
    partition: int | None

    @property
    def envelope(self) -> Envelope:
        return Envelope.from_headers(self.headers)


@dataclass
class MemorySender:
    """Records what would be produced; ``error`` is raised instead when set."""

    sent: list[Sent] = field(default_factory=list)
    error: BusError | None = None

    async def send(
        self,
        topic: Topic | TopicName,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        partition: int | None = None,
    ) -> Delivery:
        if self.error is not None:
            raise self.error
        name = topic if isinstance(topic, str) else topic.name
        self.sent.append(Sent(name, value, key, list(headers), partition))
        return Delivery(name, partition or 0, len(self.sent) - 1, 0)


@dataclass
class Harness:
    pipeline: RequestPipeline
    answerer: Answerer
    store: MemoryReplyStore
    sender: MemorySender
    audit: MemoryAuditTrail
    metrics: ConnectorMetrics


def harness(
    handler: Handler,
    *,
    retry: RetryPolicy | None = None,
    circuit: CircuitPolicy | None = None,
    call_timeout_s: float = 5.0,
    mapping: Any = None,
) -> Harness:
    metrics = ConnectorMetrics(CollectorRegistry())
    store = MemoryReplyStore()
    sender = MemorySender()
    audit = MemoryAuditTrail()
    answerer = Answerer(
        service=f"{SERVICE}.v1",
        handler=handler,
        codec=CODEC,
        response_schema_id=schema_id("1.1", "response"),
        metrics=metrics,
        limits=CallLimits(
            concurrency=2,
            call_timeout_s=call_timeout_s,
            retry=retry or RetryPolicy(max_attempts=3, base_delay_s=0.001, jitter=False),
            circuit=circuit or CircuitPolicy(failure_threshold=3, open_s=60),
        ),
        mapping=mapping,
    )
    pipeline = RequestPipeline(
        member=parse_member_id(PROVIDER),
        served=ServedContract(SERVICE, "1.1", schema_id("1.1", "request")),
        codec=CODEC,
        verifier=RequestVerifier.from_catalogue({"gw-test": SIGNING_KEY.public_key()}, CATALOGUE),
        answerer=answerer,
        store=store,
        sender=sender,
        audit=audit,
        metrics=metrics,
        digest_key=b"k" * 32,
    )
    return Harness(pipeline, answerer, store, sender, audit, metrics)


RESIDENCE: dict[str, Any] = {
    "registered": True,
    "municipality_code": "28005",
    "municipality_name": "Alcalá de Henares",
    "registered_since": datetime(2019, 3, 1).date(),
    "certified_at": datetime(2026, 5, 9, 10, tzinfo=UTC),
    "household_size": 3,
}

__all__ = [
    "RESIDENCE",
    "Harness",
    "MemoryReplyStore",
    "MemorySender",
    "PublishError",
    "harness",
    "request_record",
    "request_value",
    "schema_id",
]


async def nothing(_request: Any, _ctx: Any) -> Any:
    """A handler that knows nobody (named by the config tests)."""
    from connectors.adapters.base import NotFound

    return NotFound()
