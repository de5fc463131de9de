"""Kafka client security against a real broker with TLS listeners and test certificates.

The module starts its own broker (the shared one has no TLS listener): a plaintext
listener the runner probes, an SSL listener that requires a client certificate (mutual
TLS), and a SASL_SSL listener with SCRAM users created at format time. Certificates come
from ``tests/support/certs.py``. Every client here goes through ``KafkaSettings`` and the
bus's own producer, consumer and admin code, as a production deployment would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bus import (
    Ack,
    BrokerUnavailableError,
    BusConsumer,
    BusError,
    BusProducer,
    DeadLetterPublisher,
    Envelope,
    InboundRecord,
    KafkaSettings,
    Outcome,
    ReplyTopic,
    RequestTopic,
    TopicSpec,
    ensure_topics,
    new_traceparent,
    parse_gateway_group_id,
    parse_member_id,
    parse_service_id,
    probe_cluster,
)
from bus.kafka_security import KafkaSecurityConfigError
from devservers.kafka import BrokerTls, KafkaRunner, RunningBroker
from tests.integration.bus.kafka_helpers import wait_for
from tests.integration.conftest import free_port
from tests.support.certs import CertificateAuthority

SCRAM_USER = "interop-gateway"
SCRAM_PASSWORD = "scram-test-password-1"


@dataclass(frozen=True)
class TlsBroker:
    """The running broker and the files a client needs to reach its TLS listeners."""

    broker: RunningBroker
    ca_file: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path
    stranger_key: Path

    def mtls(self, **changes: object) -> KafkaSettings:
        """Settings of a well-configured mutual-TLS client, with ``changes`` applied."""
        assert self.broker.ssl_bootstrap_servers is not None
        fields: dict[str, object] = {
            "bootstrap_servers": self.broker.ssl_bootstrap_servers,
            "client_id": "interop-security-it",
            "security_protocol": "SSL",
            "ssl_cafile": self.ca_file,
            "ssl_certfile": self.client_cert,
            "ssl_keyfile": self.client_key,
            "request_timeout_ms": 5000,
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 500,
        }
        fields.update(changes)
        return KafkaSettings.model_validate(fields)

    def scram(self, password: str = SCRAM_PASSWORD) -> KafkaSettings:
        """Settings of a SASL_SSL client that logs in with SCRAM-SHA-512."""
        assert self.broker.sasl_ssl_bootstrap_servers is not None
        return KafkaSettings.model_validate(
            {
                "bootstrap_servers": self.broker.sasl_ssl_bootstrap_servers,
                "client_id": "interop-security-it",
                "security_protocol": "SASL_SSL",
                "ssl_cafile": self.ca_file,
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_username": SCRAM_USER,
                "sasl_password": password,
                "request_timeout_ms": 5000,
                "session_timeout_ms": 6000,
                "heartbeat_interval_ms": 500,
            }
        )


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    """A private broker with an mTLS listener and a SCRAM listener, stopped at the end."""
    folder = tmp_path_factory.mktemp("kafka-tls")
    ca = CertificateAuthority.create("interop-bus test Kafka CA")
    server_cert, server_key = ca.issue_server(["127.0.0.1", "localhost"]).write(folder, "broker")
    keystore = folder / "broker-keystore.pem"
    keystore.write_bytes(server_key.read_bytes() + server_cert.read_bytes())
    ca_file = folder / "ca.crt"
    ca_file.write_bytes(ca.issued.cert_pem())
    client_cert, client_key = ca.issue_client("gateway.interop.example").write(folder, "client")
    stranger = CertificateAuthority.create("someone else's CA")
    stranger_cert, stranger_key = stranger.issue_client("gateway.interop.example").write(
        folder, "stranger"
    )
    runner = KafkaRunner(folder / "data")
    broker = runner.start(
        port=free_port(),
        controller_port=free_port(),
        tls=BrokerTls(
            ssl_port=free_port(),
            keystore_pem=keystore,
            truststore_pem=ca_file,
            client_auth="required",
            sasl_ssl_port=free_port(),
            scram_users={SCRAM_USER: SCRAM_PASSWORD},
        ),
    )
    try:
        yield TlsBroker(broker, ca_file, client_cert, client_key, stranger_cert, stranger_key)
    finally:
        runner.stop()


def _envelope(request: RequestTopic, reply: ReplyTopic) -> Envelope:
    return Envelope.new_request(
        source=parse_member_id("es.aeat"),
        service=request.service,
        major=request.major,
        provider=parse_member_id("es.ine"),
        purpose="residence-check",
        procedure="PROC-42",
        legal_basis="Ley 39/2015 art. 28",
        consent_ref="urn:consent:1234",
        subject_ref="q" * 43,
        deadline=datetime.now(UTC) + timedelta(seconds=30),
        reply_topic=reply.name,
        reply_partition=0,
        traceparent=new_traceparent(),
    )


async def _round_trip(settings: KafkaSettings, unique_name: Callable[[str], str]) -> None:
    """Provision a topic, produce one record and consume it, all over ``settings``."""
    request = RequestTopic(parse_service_id(f"sec.{unique_name('svc')}"), 1)
    reply = ReplyTopic(parse_gateway_group_id(unique_name("gw")))
    await ensure_topics(
        settings,
        [TopicSpec(request, 1, 1), TopicSpec(request.dead_letter, 1, 1), TopicSpec(reply, 1, 1)],
    )
    received: list[InboundRecord] = []

    async def handler(record: InboundRecord) -> Outcome:
        received.append(record)
        return Ack()

    async with BusProducer(settings) as producer:
        delivery = await producer.send(
            request, b"\x00secret-bytes", key=b"k", headers=_envelope(request, reply).to_headers()
        )
        consumer = BusConsumer(
            settings,
            topics=[request],
            group_id=unique_name("g"),
            handler=handler,
            dead_letters=DeadLetterPublisher(producer),
        )
        await consumer.start()
        try:
            await wait_for(lambda: bool(received), timeout_s=30, what="the record over TLS")
        finally:
            await consumer.stop()
    (record,) = received
    assert (record.topic, record.offset, record.value) == (
        delivery.topic,
        delivery.offset,
        b"\x00secret-bytes",
    )


async def test_mutual_tls_client_produces_and_consumes(
    tls_broker: TlsBroker, unique_name: Callable[[str], str]
) -> None:
    """With the broker's CA and a client certificate of that CA, the whole bus works."""
    info = await probe_cluster(tls_broker.mtls(), timeout_s=10)
    assert info.broker_count == 1
    await _round_trip(tls_broker.mtls(), unique_name)


async def test_client_without_the_ca_is_told_the_broker_is_not_trusted(
    tls_broker: TlsBroker,
) -> None:
    """Without ``ssl_cafile`` the system CAs do not know the broker: a clear TLS error."""
    settings = tls_broker.mtls(ssl_cafile=None)
    with pytest.raises(BrokerUnavailableError, match="certificate is not trusted"):
        await probe_cluster(settings, timeout_s=5)


async def test_client_without_a_certificate_is_refused_by_the_mtls_listener(
    tls_broker: TlsBroker,
) -> None:
    """The listener requires a client certificate; a client with none is turned away."""
    settings = tls_broker.mtls(ssl_certfile=None, ssl_keyfile=None)
    with pytest.raises(BrokerUnavailableError, match="broker refused this client"):
        await probe_cluster(settings, timeout_s=5)


async def test_client_with_an_untrusted_certificate_is_refused(tls_broker: TlsBroker) -> None:
    """A certificate from another CA is refused, and the bus's producer fails, not hangs."""
    settings = tls_broker.mtls(
        ssl_certfile=tls_broker.stranger_cert, ssl_keyfile=tls_broker.stranger_key
    )
    with pytest.raises(BrokerUnavailableError, match="broker refused this client"):
        await probe_cluster(settings, timeout_s=5)
    producer = BusProducer(settings)
    with pytest.raises(BusError, match="broker refused this client"):
        async with asyncio.timeout(60):
            await producer.start()


async def test_scram_client_produces_and_consumes(
    tls_broker: TlsBroker, unique_name: Callable[[str], str]
) -> None:
    """SASL_SSL with SCRAM-SHA-512 and the right password: the whole bus works."""
    await _round_trip(tls_broker.scram(), unique_name)


async def test_scram_client_with_a_wrong_password_is_denied(tls_broker: TlsBroker) -> None:
    """A wrong SCRAM password is an authentication failure, not a retry loop."""
    producer = BusProducer(tls_broker.scram(password="not-the-password"))
    with pytest.raises(BusError) as caught:
        async with asyncio.timeout(60):
            await producer.start()
    assert "SASL login as 'interop-gateway' with SCRAM-SHA-512 failed" in caught.value.message


async def test_unreadable_security_files_are_named_before_connecting(tmp_path: Path) -> None:
    """A missing CA file is reported with the setting and the path, before any connection."""
    settings = KafkaSettings(
        security_protocol="SSL", ssl_cafile=tmp_path / "missing-ca.pem", bootstrap_servers="h:1"
    )
    with pytest.raises(KafkaSecurityConfigError, match=r"kafka\.ssl_cafile .*missing-ca\.pem"):
        await BusProducer(settings).start()
