"""The requester signs each request once: the gateway signs before it stores the exchange
(to keep the digest a reply must name), and ``send`` writes that envelope as it is."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bus import (
    BusProducer,
    Envelope,
    KafkaSettings,
    RecordSigner,
    ReplyTopic,
    Requester,
    RequestTopic,
    parse_member_id,
    parse_service_id,
    request_digest,
)
from bus.ids import parse_gateway_group_id
from bus.record_signing import verify_record_signature
from bus.records import Delivery
from bus.requester import OutboundRequest
from bus.topics import Topic, TopicName

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
VALUE = b"\x00\x00\x00\x00\x07request"


class _Counting(RecordSigner):
    def __init__(self) -> None:
        super().__init__("gw-1", KEY)
        self.signed = 0

    def sign_with_digest(self, envelope: Envelope, value: bytes) -> tuple[Envelope, str]:
        self.signed += 1
        return super().sign_with_digest(envelope, value)


class _Captured(BusProducer):
    """Records what would be written; never connects."""

    def __init__(self) -> None:
        super().__init__(KafkaSettings(bootstrap_servers="127.0.0.1:1"))
        self.headers: list[list[tuple[str, bytes]]] = []

    async def send(
        self,
        topic: Topic | TopicName,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        partition: int | None = None,
    ) -> Delivery:
        self.headers.append(list(headers))
        return Delivery(topic=str(topic), partition=0, offset=len(self.headers), timestamp_ms=0)


def _requester(signer: RecordSigner, producer: BusProducer) -> Requester:
    return Requester(
        KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        member=parse_member_id("es.ayto-alcala"),
        producer=producer,
        reply_topic=ReplyTopic(parse_gateway_group_id("gw.a")),
        reply_partitions=[0],
        signer=signer,
    )


def _outbound() -> OutboundRequest:
    return OutboundRequest(
        topic=RequestTopic(parse_service_id("register.residence-certificate"), 1),
        provider=parse_member_id("es.ine.padron"),
        purpose="social-benefits",
    )


def test_sign_with_digest_is_sign_and_request_digest_from_one_computation() -> None:
    signer = RecordSigner("gw-1", KEY)
    requester = _requester(signer, _Captured())
    envelope = requester.new_envelope(
        _outbound(), deadline=datetime.now(UTC) + timedelta(seconds=10)
    )
    signed, digest = signer.sign_with_digest(envelope, VALUE)
    assert signed == signer.sign(envelope, VALUE)
    assert digest == request_digest(signed, VALUE)


async def test_a_signed_envelope_is_written_as_it_is_and_an_unsigned_one_is_signed() -> None:
    signer, producer = _Counting(), _Captured()
    requester = _requester(signer, producer)
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    envelope = requester.new_envelope(_outbound(), deadline=deadline)

    signed, _digest = requester.sign_with_digest(envelope, VALUE)
    await requester.send(_outbound(), signed, VALUE)
    assert signer.signed == 1  # the gateway's flow: one signature per request
    assert producer.headers[0] == signed.to_headers()

    await requester.send(_outbound(), envelope, VALUE)  # unsigned: signed here
    assert signer.signed == 2
    assert producer.headers[1] == signed.to_headers()
    keys = {"gw-1": KEY.public_key()}
    assert verify_record_signature(producer.headers[1], VALUE, keys.get) == "gw-1"
