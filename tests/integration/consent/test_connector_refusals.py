"""The connector side refuses what did not pass the gateway: real gateway, real broker,
the real connector runtime verifying with the gateway's public key.

A request the gateway allowed is served. The same request produced straight onto the
request topic without a signature, and a signed copy with one flipped byte, are both
dead-lettered with their reason, audited UNVERIFIED (by topic, partition and offset,
never under the exchange they copy), and never reach the registry.
"""

from __future__ import annotations

from pathlib import Path

from bus import BusProducer, Envelope, TopicName, new_exchange_id
from bus.audit.trail import AuditEventType, MemoryAuditTrail
from connectors import ConnectorRuntime
from tests.integration.bus.kafka_helpers import read_topic
from tests.integration.consent import handlers
from tests.integration.consent.support import (
    new_subject,
    provider_connector_settings,
    start_consent_gateway,
)


async def test_unsigned_and_tampered_requests_are_refused_and_audited(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Signed by the gateway: answered 200. Unsigned or one byte flipped: dead-lettered
    (REQUEST_UNSIGNED, REQUEST_BAD_SIGNATURE), audited REJECTED, no registry call."""
    async with start_consent_gateway(kafka_bootstrap, tmp_path / "gw") as gw:
        service = gw.service("presumed")
        settings = provider_connector_settings(
            gw, kafka_bootstrap, tmp_path, group_prefix="consent-conn"
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
