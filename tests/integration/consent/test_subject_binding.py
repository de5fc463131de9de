"""The consent bypass of issue #12, closed at both ends: the data must name the subject.

Consent and oppositions are decided for the request's ``subject``; the registry looks up
whoever the data's subject fields name. Real gateway over real HTTP, the real broker, and
the real connector runtime verifying with the gateway's public key.
"""

from __future__ import annotations

import json
from pathlib import Path

from bus import BusProducer, Envelope, TopicName, new_exchange_id, subject_binding
from bus.audit.trail import AuditEventType, MemoryAuditTrail
from bus.request_signing import RequestSigner
from connectors import ConnectorRuntime
from contracts import Codec, LockFile, json_to_avro
from tests.integration.bus.kafka_helpers import end_offsets, read_topic
from tests.integration.consent import handlers
from tests.integration.consent.support import (
    DIGEST,
    SIGNING_KEY,
    ConsentGateway,
    new_subject,
    provider_connector_settings,
    start_consent_gateway,
)
from tests.integration.gateway.support import DIGEST_KEY


async def _grant_tax_consent(gw: ConsentGateway, subject: str) -> None:
    body = {
        "subject": subject,
        "grantee": "it.town",
        "services": [gw.service("explicit")],
        "purposes": ["social-benefits"],
        "evidence": {"channel": "citizen-portal", "digest": DIGEST},
    }
    status, _, answer = await gw.call("POST", "/v1/consents", json=body)
    assert status == 201, answer


async def test_naming_a_consenting_subject_does_not_unlock_another_persons_data(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """The issue's attack, both ways: explicit (a consent exists for the named subject,
    none for the person in ``data.nif``) and presumed (the person in the data opposed).
    Each is a 400 SUBJECT_MISMATCH pointing at the data field, the identifier never
    echoed, nothing produced on the request topic and nothing audited as allowed."""
    async with start_consent_gateway(kafka_bootstrap, tmp_path / "gw") as gw:
        consenting, victim = new_subject(), new_subject()
        await _grant_tax_consent(gw, consenting)
        status, _, answer = await gw.call(
            "POST",
            "/v1/oppositions",
            json={"subject": victim, "services": [gw.service("presumed")]},
        )
        assert status == 201, answer
        topics = [f"interop.req.{gw.service(m)}.v1" for m in ("explicit", "presumed")]
        before = {t: await end_offsets(gw.gateway.kafka, t) for t in topics}

        tax = gw.exchange("explicit", consenting, "social-benefits")
        tax["data"]["nif"] = victim
        register = gw.exchange("presumed", consenting, "social-benefits")
        register["data"]["document_number"] = victim.lower()  # another form, same person
        answers = []
        for body, field in ((tax, "/data/nif"), (register, "/data/document_number")):
            status, headers, problem = await gw.call(
                "POST", "/v1/exchanges", "town", json=body, prefer="wait=5"
            )
            answers.append(json.dumps(problem))
            assert status == 400, problem
            assert headers["Content-Type"].startswith("application/problem+json")
            assert problem["code"] == "SUBJECT_MISMATCH"
            assert [p["pointer"] for p in problem["errors"]] == [field]

        # The same person in the data, in another written form, is not a mismatch.
        status, _, allowed = await gw.call(
            "POST",
            "/v1/exchanges",
            "town",
            json=gw.exchange("explicit", consenting.lower(), "social-benefits"),
        )
        assert status == 202, allowed
        after = {t: await end_offsets(gw.gateway.kafka, t) for t in topics}

    for text in answers:
        assert victim not in text
        assert victim.lower() not in text
    assert before[topics[1]] == after[topics[1]]
    assert sum(after[topics[0]].values()) == sum(before[topics[0]].values()) + 1
    requested = [r for r in gw.trail.records if r.type is AuditEventType.REQUESTED]
    assert len(requested) == 1


async def test_the_connector_refuses_signed_data_about_another_subject(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Even with the gateway's valid signature, a request whose decoded data names another
    person than the signed subject binding is refused before the registry is called:
    answered ``rejected`` (the caller does not wait), audited REJECTED SUBJECT_MISMATCH,
    dead-lettered; a request without a binding is refused the same way."""
    async with start_consent_gateway(kafka_bootstrap, tmp_path / "gw") as gw:
        service = gw.service("presumed")
        settings = provider_connector_settings(
            gw, kafka_bootstrap, tmp_path, group_prefix="subject-conn"
        )
        audit = MemoryAuditTrail()
        runtime = ConnectorRuntime(settings, audit=lambda _producer: audit)
        await runtime.start()
        try:
            await runtime.wait_assigned(timeout_s=30)
            subject = new_subject()
            status, _, served = await gw.call(
                "POST",
                "/v1/exchanges",
                "town",
                json=gw.exchange("presumed", subject, "social-benefits"),
                prefer="wait=10",
            )
            assert status == 200, served
            topic = f"interop.req.{service}.v1"
            [genuine] = await read_topic(gw.gateway.kafka, topic, count=1)
            envelope = Envelope.from_headers(genuine.headers)
            assert envelope.subject_binding == subject_binding(
                DIGEST_KEY.encode(), envelope.exchange_id, subject
            )
            # Same signed binding, data about someone else (a gateway that skipped its
            # check, or a forger holding its key): re-encoded and re-signed.
            version = gw.catalogue.services[service].version("1.1")
            assert version is not None
            entry = LockFile.load(gw.catalogue.lock_path()).entry(service, "1.1", "request")
            assert entry is not None
            codec = Codec({int(entry.schema_id): version.request})
            other = json_to_avro(
                version.request, {"document_type": "DNI", "document_number": new_subject()}
            )
            value = codec.encode(entry.schema_id, other)
            signer = RequestSigner("gw-consent-it", SIGNING_KEY)
            # New exchange ids, so the reply store's dedupe does not answer them instead.
            exchange_id = new_exchange_id()
            mismatched = envelope.model_copy(
                update={
                    "exchange_id": exchange_id,
                    # Bound to the consenting subject, correctly for this exchange id.
                    "subject_binding": subject_binding(DIGEST_KEY.encode(), exchange_id, subject),
                    "key_id": None,
                    "signature": None,
                }
            )
            unbound = mismatched.model_copy(
                update={"exchange_id": new_exchange_id(), "subject_binding": None}
            )
            genuine_value = genuine.value or b""
            async with BusProducer(gw.gateway.kafka) as producer:
                await producer.send(
                    TopicName(topic),
                    value,
                    headers=signer.sign(mismatched, value).to_headers(),
                )
                await producer.send(
                    TopicName(topic),
                    genuine_value,
                    headers=signer.sign(unbound, genuine_value).to_headers(),
                )
            parked = await read_topic(gw.gateway.kafka, f"interop.dlq.{service}.v1", count=2)
        finally:
            await runtime.stop()
    codes = sorted(dict(p.headers)["interop_dlq_error_code"] for p in parked)
    assert codes == [b"SUBJECT_BINDING_MISSING", b"SUBJECT_MISMATCH"]
    rejected = sorted((r.reason or "") for r in audit.records if r.type is AuditEventType.REJECTED)
    assert rejected == ["SUBJECT_BINDING_MISSING", "SUBJECT_MISMATCH"]
    assert handlers.CALLS[-1] == served["id"]
    assert mismatched.exchange_id not in handlers.CALLS
    assert unbound.exchange_id not in handlers.CALLS
