"""Shared pieces of the connector integration tests: a per-test catalogue and topics on
the real broker, the gateway's signing key, a signed requester, connector settings."""

from __future__ import annotations

import base64
import contextlib
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bus import (
    BusProducer,
    Envelope,
    KafkaSettings,
    OutboundRequest,
    Reply,
    ReplyTopic,
    Requester,
    RequestTopic,
    catalogue_topic_specs,
    ensure_topics,
    parse_gateway_group_id,
    parse_member_id,
    parse_service_id,
    subject_binding,
)
from bus.request_signing import RequestSigner
from connectors import ConnectorSettings
from contracts import Codec, CodecError, InvalidSubjectError, json_to_avro
from tests.integration.bus.kafka_helpers import settings_for
from tests.integration.gateway.support import DIGEST_KEY, TestCatalogue, make_catalogue

PROVIDER = "es.ine.padron"
KEY_ID = "gw-it"


class BindingSigner(RequestSigner):
    """Signs like the gateway: first binds the subject the request's data names
    (``bus.subject_binding``, with the test digest key), as ``ExchangeService`` does after
    checking it against the request's subject. Undecodable values stay unbound."""

    def __init__(self, key_id: str, private_key: Ed25519PrivateKey, codec: Codec) -> None:
        super().__init__(key_id, private_key)
        self._codec = codec

    def sign(self, envelope: Envelope, value: bytes) -> Envelope:
        try:
            datum = self._codec.decode(value).datum
        except CodecError:
            return super().sign(envelope, value)
        document = datum.get("document_number") if isinstance(datum, dict) else None
        if isinstance(document, str):
            with contextlib.suppress(InvalidSubjectError):
                binding = subject_binding(DIGEST_KEY.encode(), envelope.exchange_id, document)
                envelope = envelope.model_copy(update={"subject_binding": binding})
        return super().sign(envelope, value)


@dataclass
class World:
    """Topics, catalogue, signing key and a requester for one test."""

    kafka: KafkaSettings
    cat: TestCatalogue
    group: str
    signing_key: Ed25519PrivateKey
    tmp_path: Path
    replies: dict[str, list[Reply]] = field(default_factory=dict)

    @property
    def service(self) -> str:
        return self.cat.residence

    @property
    def topic(self) -> RequestTopic:
        return RequestTopic(parse_service_id(self.service), 1)

    @property
    def codec(self) -> Codec:
        return Codec(
            {int(k): v for k, v in self.cat.catalogue.schemas_by_id(self.cat.lock).items()}
        )

    def public_key_text(self) -> str:
        raw = self.signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def request_value(self, document: str, version: str = "1.0") -> bytes:
        """A request written with minor ``version`` (the provider reads with 1.1)."""
        contract = self.cat.catalogue.services[self.service].version(version)
        entry = self.cat.lock.entry(self.service, version, "request")
        assert contract is not None
        assert entry is not None
        data = {"document_type": "DNI", "document_number": document}
        return self.codec.encode(entry.schema_id, json_to_avro(contract.request, data))

    def response_id(self, version: str) -> Any:
        entry = self.cat.lock.entry(self.service, version, "response")
        assert entry is not None
        return entry.schema_id

    def connector_settings(self, **overrides: Any) -> ConnectorSettings:
        values: dict[str, Any] = {
            "member_id": PROVIDER,
            "kafka": {"bootstrap_servers": self.kafka.bootstrap_servers},
            "catalogue_dir": str(self.cat.root),
            "reply_store_url": f"sqlite:///{self.tmp_path / 'replies.db'}",
            "gateway_keys": {KEY_ID: self.public_key_text()},
            "audit_digest_key": DIGEST_KEY,
            "health": {"enabled": False},
            "shutdown_timeout_s": 5,
            "services": [
                {
                    "service": self.service,
                    "version": "1.1",
                    "handler": "tests.integration.connectors.handlers:residence",
                    "group_id": f"{self.group}-connector",
                }
            ],
        }
        values.update(overrides)
        return ConnectorSettings.model_validate(values)

    def outbound(self) -> OutboundRequest:
        return OutboundRequest(
            topic=self.topic,
            provider=parse_member_id(PROVIDER),
            purpose="social-benefits",
            subject_ref="p_" + "b" * 43,
            source=parse_member_id("es.town.alcala"),
        )

    async def on_reply(self, reply: Reply) -> None:
        self.replies.setdefault(reply.envelope.exchange_id, []).append(reply)

    @asynccontextmanager
    async def requester(self, producer: BusProducer) -> AsyncIterator[Requester]:
        """A signing requester on the test's reply topic (both partitions)."""
        requester = Requester(
            self.kafka,
            member=parse_member_id("interop.gateway"),
            producer=producer,
            reply_topic=ReplyTopic(parse_gateway_group_id(self.group)),
            reply_partitions=[0, 1],
            on_reply=self.on_reply,
            signer=BindingSigner(KEY_ID, self.signing_key, self.codec),
        )
        async with requester:
            yield requester

    def envelope(self, requester: Requester, deadline_s: float = 60.0) -> Envelope:
        return requester.new_envelope(
            self.outbound(), deadline=datetime.now(UTC) + timedelta(seconds=deadline_s)
        )


async def make_world(
    kafka_bootstrap: str, tmp_path: Path, unique: Callable[[str], str], *, partitions: int = 2
) -> World:
    """A catalogue copy under a unique domain and its topics on the real broker."""
    kafka = settings_for(kafka_bootstrap, client_id="interop-connector-it")
    domain = "ct" + unique("d").rsplit("-", 1)[-1]
    cat = make_catalogue(tmp_path / "catalogue", domain)
    group = unique("cg")
    specs = catalogue_topic_specs(
        cat.catalogue,
        gateway_groups=[parse_gateway_group_id(group)],
        request_partitions=partitions,
        reply_partitions=2,
        replication_factor=1,
    )
    await ensure_topics(kafka, specs)
    return World(kafka, cat, group, Ed25519PrivateKey.generate(), tmp_path)


def terminate(process: subprocess.Popen[Any] | None) -> None:
    """SIGTERM a connector process still running and wait for it (SIGKILL after 30 s)."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
