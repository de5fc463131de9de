"""The gateway signs what it produces; the connector side's verifier refuses the rest.

Real gateway over HTTP, real broker: the request the gateway writes is read back from the
request topic and verified with the public key only; a record produced straight onto the
topic (no gateway) and a copy with one flipped byte are both refused.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from aiokafka.structs import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from bus import BusProducer, Envelope, InboundRecord, TopicName
from bus.request_signing import RejectReason, RequestRejectedError, RequestVerifier
from tests.integration.bus.kafka_helpers import read_topic
from tests.integration.gateway.support import http, start_gateway

GATEWAY_KEY = Ed25519PrivateKey.generate()
RAW_KEY = base64.b64encode(
    GATEWAY_KEY.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
).decode()


def _inbound(record: ConsumerRecord[bytes, bytes]) -> InboundRecord:
    return InboundRecord.from_consumer_record(record)


def _refusal(verifier: RequestVerifier, record: InboundRecord) -> RejectReason:
    try:
        verifier.verify(record, now=datetime.now(UTC))
    except RequestRejectedError as exc:
        return exc.reason
    raise AssertionError("the verifier accepted a record it must refuse")


async def test_gateway_requests_verify_and_forged_ones_do_not(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Signed by the gateway: accepted with the public key. Produced without the gateway,
    or with one byte of the value flipped: refused (UNSIGNED, BAD_SIGNATURE)."""
    signing = {"key_id": "gw-it-1", "private_key": RAW_KEY}
    async with start_gateway(
        kafka_bootstrap, tmp_path, unique_name, with_provider=False, signing=signing
    ) as gw:
        status, _, body = await http(
            "POST",
            f"{gw.base_url}/v1/exchanges",
            headers=gw.headers(),
            json=gw.body("FOUND-SIGNED"),
        )
        assert status == 202, body
        topic = f"interop.req.{gw.cat.residence}.v1"
        [written] = await read_topic(gw.kafka, topic, count=1)
        verifier = RequestVerifier.from_catalogue(
            {"gw-it-1": GATEWAY_KEY.public_key()}, gw.cat.catalogue
        )
        envelope = verifier.verify(_inbound(written), now=datetime.now(UTC))
        assert envelope.exchange_id == body["id"]
        assert envelope.key_id == "gw-it-1"

        # The same request, produced straight onto the topic without the gateway.
        unsigned = Envelope.from_headers(written.headers).model_copy(
            update={"key_id": None, "signature": None}
        )
        flipped = bytearray(written.value or b"")
        flipped[-1] ^= 0x01
        async with BusProducer(gw.kafka) as producer:
            await producer.send(
                TopicName(topic), written.value or b"", headers=unsigned.to_headers()
            )
            await producer.send(
                TopicName(topic),
                bytes(flipped),
                headers=[(n, v or b"") for n, v in written.headers],
            )
        records = [_inbound(r) for r in await read_topic(gw.kafka, topic, count=3)]
        original = (written.partition, written.offset)
        forged = [r for r in records if (r.partition, r.offset) != original]
        reasons = sorted(_refusal(verifier, r).value for r in forged)
        assert reasons == [RejectReason.BAD_SIGNATURE.value, RejectReason.UNSIGNED.value]

        # A verifier that trusts another key refuses the genuine request too.
        stranger = RequestVerifier.from_catalogue(
            {"gw-other": Ed25519PrivateKey.generate().public_key()}, gw.cat.catalogue
        )
        assert _refusal(stranger, _inbound(written)) is RejectReason.UNKNOWN_KEY
