"""The connector side refuses what did not pass the gateway: real gateway, real broker,
the real connector runtime verifying with the gateway's public key.

A request the gateway allowed is served. The same request produced straight onto the
request topic without a signature, and a signed copy with one flipped byte, are both
dead-lettered with their reason, audited UNVERIFIED (by topic, partition and offset,
never under the exchange they copy), and never reach the registry.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bus import BusProducer, Envelope, TopicName, new_exchange_id
from bus.audit.trail import AuditEventType, MemoryAuditTrail
from connectors import ConnectorRuntime, ConnectorSettings
from tests.integration.bus.kafka_helpers import read_topic
from tests.integration.consent import handlers
from tests.integration.consent.support import (
    SIGNING_KEY,
    new_subject,
    start_consent_gateway,
)
from tests.integration.gateway.support import DIGEST_KEY as CONNECTOR_DIGEST_KEY
from tests.integration.member_signing import key_id_of, private_key_of

PROVIDER = "es.ine.padron"


async def test_unsigned_and_tampered_requests_are_refused_and_audited(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Signed by the gateway: answered 200. Unsigned or one byte flipped: dead-lettered
    (REQUEST_UNSIGNED, REQUEST_BAD_SIGNATURE), audited REJECTED, no registry call."""
    public = SIGNING_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    async with start_consent_gateway(kafka_bootstrap, tmp_path / "gw") as gw:
        service = gw.service("presumed")
        settings = ConnectorSettings.model_validate(
            {
                "member_id": PROVIDER,
                "kafka": {"bootstrap_servers": kafka_bootstrap},
                "catalogue_dir": str(gw.catalogue.root),
                "reply_store_url": f"sqlite:///{tmp_path / 'replies.db'}",
                "gateway_keys": {"gw-consent-it": base64.b64encode(public).decode()},
                "audit_digest_key": CONNECTOR_DIGEST_KEY,
                "signing": {"key_id": key_id_of(PROVIDER), "private_key": private_key_of(PROVIDER)},
                "health": {"port": 0},
                "services": [
                    {
                        "service": service,
                        "version": "1",
                        "handler": "tests.integration.consent.handlers:residence",
                        "group_id": "consent-conn-" + uuid.uuid4().hex[:10],
                    }
                ],
            }
        )
        audit = MemoryAuditTrail()
        runtime = ConnectorRuntime(settings, audit=lambda _producer: audit)
        await runtime.start()
        try:
            await runtime.wait_assigned(timeout_s=30)
            status, _, served = await gw.call(
                "POST",
                "/v1/exchanges",
                "town",
                json=gw.exchange("presumed", new_subject(), "social-benefits"),
                prefer="wait=10",
            )
            assert status == 200, served
            assert served["found"] is True
            topic = f"interop.req.{service}.v1"
            [genuine] = await read_topic(gw.gateway.kafka, topic, count=1)
            headers = [(n, v or b"") for n, v in genuine.headers]
            unsigned = Envelope.from_headers(genuine.headers).model_copy(
                update={"key_id": None, "signature": None, "exchange_id": new_exchange_id()}
            )
            tampered_value = bytearray(genuine.value or b"")
            tampered_value[-1] ^= 0x01
            async with BusProducer(gw.gateway.kafka) as producer:
                await producer.send(
                    TopicName(topic), genuine.value or b"", headers=unsigned.to_headers()
                )
                await producer.send(TopicName(topic), bytes(tampered_value), headers=headers)
            parked = await read_topic(gw.gateway.kafka, f"interop.dlq.{service}.v1", count=2)
        finally:
            await runtime.stop()
    codes = sorted(dict(p.headers)["interop_dlq_error_code"] for p in parked)
    assert codes == [b"REQUEST_BAD_SIGNATURE", b"REQUEST_UNSIGNED"]
    # Unverified: audited by where they were read, never under the exchange they copy.
    unverified = [r for r in audit.records if r.type is AuditEventType.UNVERIFIED]
    assert sorted((r.reason or "").split(" at ")[0] for r in unverified) == [
        "BAD_SIGNATURE",
        "UNSIGNED",
    ]
    assert all(r.exchange_id is None and r.subject_ref is None for r in unverified)
    assert not [r for r in audit.records if r.type is AuditEventType.REJECTED]
    assert [served["id"]] == handlers.CALLS
