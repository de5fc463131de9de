"""The reply path's first step: signature and binding against the stored exchange."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bus import Envelope, Reply, ReplyStatus, parse_member_id
from bus.member_keys import MemberKey, MemberKeys
from bus.record_signing import RecordSigner, public_key_text, request_digest
from gateway.reply_verification import ReplyRejection, ReplyVerifier
from gateway.store.base import ExchangeRecord
from tests.unit.bus.envelopes import request_envelope

VALUE = b"\x00\x00\x00\x00\x07reply"
INE = RecordSigner("ine-1", Ed25519PrivateKey.generate())
AEAT = RecordSigner("aeat-1", Ed25519PrivateKey.generate())
EXPIRED = RecordSigner("ine-0", Ed25519PrivateKey.generate())


def _key(signer: RecordSigner, **window: datetime) -> MemberKey:
    return MemberKey(key_id=signer.key_id, public_key=public_key_text(signer.public_key), **window)


KEYS = MemberKeys(
    [
        (
            "es.ine",
            ["provider"],
            [_key(INE), _key(EXPIRED, not_after=datetime(2020, 1, 1, tzinfo=UTC))],
        ),
        ("es.aeat", ["provider"], [_key(AEAT)]),
    ]
)
REQUEST = request_envelope()  # provider es.ine, register.residence-certificate v1
REQUEST_VALUE = b"request"


def _exchange(**overrides: object) -> ExchangeRecord:
    now = datetime.now(UTC)
    record = ExchangeRecord(
        id=REQUEST.exchange_id,
        requester="es.aeat",
        service="register.residence-certificate",
        version="1.1",
        provider="es.ine",
        purpose="residence-check",
        official="official-1",
        subject_ref="",
        request_digest="",
        created_at=now,
        deadline=now + timedelta(seconds=10),
        sent_digest=request_digest(REQUEST, REQUEST_VALUE),
    )
    return dataclasses.replace(record, **overrides)  # type: ignore[arg-type]


def _reply(
    signer: RecordSigner | None = INE, *, source: str = "es.ine", **overrides: object
) -> Reply:
    envelope = REQUEST.reply(
        source=parse_member_id(source),
        status=ReplyStatus.OK,
        request_digest=request_digest(REQUEST, REQUEST_VALUE),
    )
    if overrides:
        envelope = Envelope.model_validate({**envelope.model_dump(), **overrides})
    if signer is not None:
        envelope = signer.sign(envelope, VALUE)
    return Reply(envelope, VALUE, 0, 7, headers=tuple(envelope.to_headers()))


def _reason(reply: Reply, exchange: ExchangeRecord | None = None) -> ReplyRejection | None:
    problem = ReplyVerifier(KEYS).check(reply, exchange or _exchange())
    return None if problem is None else problem.reason


def test_the_providers_signed_reply_to_the_sent_request_is_accepted() -> None:
    """Signed by the exchange's provider, bound to the request the gateway stored."""
    assert _reason(_reply()) is None


@pytest.mark.parametrize(
    ("reply", "exchange", "reason"),
    [
        (_reply(None), None, ReplyRejection.UNSIGNED),
        (_reply(AEAT, source="es.aeat", provider="es.aeat"), None, ReplyRejection.NOT_THE_PROVIDER),
        (_reply(AEAT), None, ReplyRejection.NOT_THE_PROVIDER),
        (_reply(INE, source="es.aeat"), None, ReplyRejection.NOT_THE_PROVIDER),
        (_reply(EXPIRED), None, ReplyRejection.KEY_NOT_VALID),
        (_reply(request_digest="0" * 64), None, ReplyRejection.WRONG_REQUEST),
        (_reply(), _exchange(sent_digest=None), ReplyRejection.WRONG_REQUEST),
        (_reply(), _exchange(service="tax.income-band"), ReplyRejection.WRONG_SERVICE),
        (_reply(), _exchange(version="2.0"), ReplyRejection.WRONG_SERVICE),
        (_reply(), _exchange(provider="es.aeat"), ReplyRejection.NOT_THE_PROVIDER),
    ],
)
def test_each_unverifiable_reply_is_refused_with_its_reason(
    reply: Reply, exchange: ExchangeRecord | None, reason: ReplyRejection
) -> None:
    """Unsigned, another provider (as signer or as claimed), an expired key, another
    request, an exchange of another service or version: each named apart."""
    assert _reason(reply, exchange) is reason


def test_a_forged_signature_under_the_providers_key_id_is_bad() -> None:
    """The issue's forger cannot sign with the provider's key."""
    impostor = RecordSigner("ine-1", Ed25519PrivateKey.generate())
    assert _reason(_reply(impostor)) is ReplyRejection.BAD_SIGNATURE


def test_for_an_unknown_exchange_only_the_signature_is_checked() -> None:
    """No stored exchange: a good signature passes (the sink drops it as unknown), a bad
    one is refused (and dead-lettered)."""
    verifier = ReplyVerifier(KEYS)
    assert verifier.check(_reply(), None) is None
    problem = verifier.check(_reply(None), None)
    assert problem is not None
    assert problem.reason is ReplyRejection.UNSIGNED
    assert problem.text.startswith("UNSIGNED: ")


def test_a_retired_key_cannot_answer_by_dating_its_reply_back_into_its_window() -> None:
    """The key window is checked at ``ce_time``, which the signer writes. ``EXPIRED``'s
    window ended in 2020; a reply dated 2019 passes the window check, and is refused
    because the exchange it claims to answer was created today."""
    backdated = _reply(EXPIRED, time=datetime(2019, 6, 1, tzinfo=UTC))
    problem = ReplyVerifier(KEYS).check(backdated, _exchange())
    assert problem is not None
    assert problem.reason is ReplyRejection.WRONG_TIME
    assert "before its exchange was created" in problem.detail


def test_reply_times_within_the_clock_skew_are_accepted_and_beyond_it_refused() -> None:
    """Hosts' clocks differ: up to five minutes either way is accepted; a reply dated
    further ahead of the gateway's clock, or before the exchange by more, is not."""
    created = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    exchange = _exchange(created_at=created)
    verifier = ReplyVerifier(KEYS, clock=lambda: created + timedelta(seconds=1))

    def reason(at: datetime) -> ReplyRejection | None:
        problem = verifier.check(_reply(time=at), exchange)
        return None if problem is None else problem.reason

    assert reason(created - timedelta(minutes=4)) is None
    assert reason(created + timedelta(minutes=4)) is None
    assert reason(created - timedelta(minutes=6)) is ReplyRejection.WRONG_TIME
    assert reason(created + timedelta(minutes=6)) is ReplyRejection.WRONG_TIME
