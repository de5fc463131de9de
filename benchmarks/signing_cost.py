"""What signing and verifying cost per exchange, on this machine's CPU (no broker).

One exchange signs six records and verifies six: the request (gateway signs, connector
verifies), the reply (connector signs with the request digest, gateway verifies with the
binding checks) and four audit events (REQUESTED and COMPLETED by the gateway, DELIVERED
and RESPONDED by the connector; the indexer verifies each). This runs exactly those code
paths (``bus.record_signing``, ``bus.request_signing``, ``connectors.answering``,
``gateway.reply_verification``, ``bus.audit.event_signing``) in a loop and prints the
median time per exchange::

    python -m benchmarks.signing_cost [--exchanges 2000]
"""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.stats import time_per_call
from bus import (
    Envelope,
    InboundRecord,
    MemberKey,
    MemberKeys,
    RecordSigner,
    Reply,
    ReplyStatus,
    RequestVerifier,
    TopicName,
    new_traceparent,
    parse_member_id,
    parse_service_id,
    public_key_text,
)
from bus.audit import (
    AuditEventType,
    EventRow,
    check_event,
    event_signature,
    exchange_event_id,
    sign_event,
)
from connectors.answering import ReplyPlan, signed_reply_envelope
from contracts import ConsentMode
from gateway.reply_verification import ReplyVerifier
from gateway.store.base import ExchangeRecord

__all__ = ["measure", "measure_by_process"]

_SERVICE = "register.residence-certificate"
_GATEWAY = "interop.gateway"
_PROVIDER = "es.ine.padron"
_VALUE = b"\x00\x00\x00\x00\x07" + b"x" * 120  # a typical framed Avro request/response


def _setup() -> tuple[RecordSigner, RecordSigner, MemberKeys, RequestVerifier]:
    gateway = RecordSigner("gw-1", Ed25519PrivateKey.generate())
    provider = RecordSigner("ine-1", Ed25519PrivateKey.generate())
    keys = MemberKeys(
        [
            (member, [role], [MemberKey(key_id=s.key_id, public_key=public_key_text(s.public_key))])
            for member, role, s in (
                (_GATEWAY, "gateway", gateway),
                (_PROVIDER, "provider", provider),
            )
        ]
    )
    verifier = RequestVerifier(
        keys.public_keys_of_role("gateway"), {_SERVICE: ConsentMode.PRESUMED}
    )
    return gateway, provider, keys, verifier


def _events(exchange_id: str) -> list[EventRow]:
    base = EventRow(
        event_id=exchange_event_id(_GATEWAY, exchange_id, AuditEventType.REQUESTED),
        type="REQUESTED",
        time=datetime.now(UTC),
        actor=_GATEWAY,
        exchange_id=exchange_id,
        requester="es.ayto-alcala",
        official="official-42",
        provider=_PROVIDER,
        service=_SERVICE,
        version="1.1",
        purpose="social-benefits",
        subject_ref="Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE",
        request_digest="hmac-sha256:" + "a" * 64,
        outcome="ALLOWED",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
    )

    def step(actor: str, kind: AuditEventType) -> EventRow:
        # An exchange step's id is its actor's, exchange's and type's (as the bus writes it).
        event_id = exchange_event_id(actor, exchange_id, kind)
        return dataclasses.replace(base, event_id=event_id, type=kind.value, actor=actor)

    return [
        base,
        step(_PROVIDER, AuditEventType.DELIVERED),
        step(_PROVIDER, AuditEventType.RESPONDED),
        dataclasses.replace(step(_GATEWAY, AuditEventType.COMPLETED), outcome="OK"),
    ]


@dataclasses.dataclass(frozen=True)
class _Exchange:
    """What one exchange's records look like by the time each process checks them."""

    gateway: RecordSigner
    provider: RecordSigner
    keys: MemberKeys
    verifier: RequestVerifier
    now: datetime
    unsigned: Envelope
    record: InboundRecord
    reply: Reply
    exchange: ExchangeRecord
    events: list[EventRow]
    signed_events: list[list[tuple[str, bytes]]]


def _new_request(now: datetime) -> Envelope:
    return Envelope.new_request(
        source=parse_member_id("es.ayto-alcala"),
        service=parse_service_id(_SERVICE),
        major=1,
        provider=parse_member_id(_PROVIDER),
        purpose="social-benefits",
        deadline=now + timedelta(seconds=10),
        reply_topic=TopicName("interop.rep.bench"),
        reply_partition=0,
        traceparent=new_traceparent(),
    )


def _exchange() -> _Exchange:
    gateway, provider, keys, verifier = _setup()
    now = datetime.now(UTC)
    unsigned = _new_request(now)
    request, sent = gateway.sign_with_digest(unsigned, _VALUE)
    record = InboundRecord(
        f"interop.req.{_SERVICE}.v1", 0, 0, 0, None, _VALUE, tuple(request.to_headers())
    )
    received, digest = verifier.verify_with_digest(record, now=now)
    reply = signed_reply_envelope(
        received,
        digest,
        ReplyPlan(ReplyStatus.OK, value=_VALUE),
        member=parse_member_id(_PROVIDER),
        signer=provider,
    )
    exchange = ExchangeRecord(
        id=request.exchange_id,
        requester="es.ayto-alcala",
        service=_SERVICE,
        version="1.1",
        provider=_PROVIDER,
        purpose="social-benefits",
        official="official-42",
        subject_ref="",
        request_digest="",
        created_at=now,
        deadline=now + timedelta(seconds=10),
        sent_digest=sent,
    )
    events = _events(request.exchange_id)
    signed = [sign_event(gateway if e.actor == _GATEWAY else provider, e) for e in events]
    return _Exchange(
        gateway,
        provider,
        keys,
        verifier,
        now,
        unsigned,
        record,
        Reply(reply, _VALUE, 0, 0, headers=tuple(reply.to_headers())),
        exchange,
        events,
        signed,
    )


def _gateway_part(x: _Exchange) -> None:
    """Sign the request (and take its digest), REQUESTED and COMPLETED; verify the reply."""
    x.gateway.sign_with_digest(x.unsigned, _VALUE)
    requested, _, _, completed = x.events
    sign_event(x.gateway, requested)
    problem = ReplyVerifier(x.keys).check(x.reply, x.exchange)
    assert problem is None, problem  # noqa: S101 - a benchmark of the accepted path
    sign_event(x.gateway, completed)


def _connector_part(x: _Exchange) -> None:
    """Verify the request; sign DELIVERED, the reply and RESPONDED."""
    received, digest = x.verifier.verify_with_digest(x.record, now=x.now)
    _, delivered, responded, _ = x.events
    sign_event(x.provider, delivered)
    signed_reply_envelope(
        received,
        digest,
        ReplyPlan(ReplyStatus.OK, value=_VALUE),
        member=parse_member_id(_PROVIDER),
        signer=x.provider,
    )
    sign_event(x.provider, responded)


def _indexer_part(x: _Exchange) -> None:
    """Check the exchange's four audit events (signature, actor, rights, id)."""
    for row, headers in zip(x.events, x.signed_events, strict=True):
        assert check_event(row, event_signature(headers), x.keys) is None  # noqa: S101


def measure_by_process(exchanges: int) -> dict[str, tuple[float, float]]:
    """(median, p99) microseconds of one exchange's signing and verifying, per process
    that does it: the gateway, the provider's connector, the audit indexer."""
    x = _exchange()
    return {
        "gateway": time_per_call(lambda: _gateway_part(x), calls=exchanges),
        "connector": time_per_call(lambda: _connector_part(x), calls=exchanges),
        "indexer": time_per_call(lambda: _indexer_part(x), calls=exchanges),
    }


def _one_exchange(x: _Exchange) -> None:
    _gateway_part(x)
    _connector_part(x)
    _indexer_part(x)


def measure(exchanges: int) -> tuple[float, float]:
    """(median, p99) microseconds of signing and verifying for one exchange."""
    x = _exchange()
    return time_per_call(lambda: _one_exchange(x), calls=exchanges)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--exchanges", type=int, default=2000)
    args = parser.parse_args()
    median, p99 = measure(args.exchanges)
    print(
        f"signing + verifying per exchange (6 signatures, 6 verifications, binding checks): "
        f"median {median:.0f} us, p99 {p99:.0f} us over {args.exchanges} exchanges"
    )


if __name__ == "__main__":
    main()
