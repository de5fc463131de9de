"""Request signing: the gateway's Ed25519 signature and the connector side's checks."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bus import Envelope, InboundRecord, ReplyStatus, parse_service_id, request_digest
from bus.request_signing import (
    RejectReason,
    RequestRejectedError,
    RequestSigner,
    RequestVerifier,
    SigningKeyError,
    load_private_key,
    load_private_key_file,
    load_public_key,
    public_key_text,
)
from contracts import ConsentMode
from tests.unit.bus.envelopes import request_envelope

SERVICE = "register.residence-certificate"
TOPIC = f"interop.req.{SERVICE}.v1"
VALUE = b"\x00\x00\x00\x00\x07avro-payload"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
SIGNER = RequestSigner("gw-2026-01", KEY)


def _verifier(
    mode: ConsentMode = ConsentMode.PRESUMED, legal_bases: dict[str, list[str]] | None = None
) -> RequestVerifier:
    return RequestVerifier(
        {"gw-2026-01": KEY.public_key()}, {SERVICE: mode}, legal_bases=legal_bases
    )


def _record(
    envelope: Envelope, value: bytes | None = VALUE, *, topic: str = TOPIC
) -> InboundRecord:
    return InboundRecord(
        topic=topic,
        partition=0,
        offset=0,
        timestamp_ms=0,
        key=None,
        value=value,
        headers=tuple(envelope.to_headers()),
    )


def _signed(**overrides: Any) -> InboundRecord:
    return _record(SIGNER.sign(request_envelope(**overrides), VALUE))


def _now() -> datetime:
    return datetime.now(UTC)


def _reason(verifier: RequestVerifier, record: InboundRecord) -> RejectReason:
    with pytest.raises(RequestRejectedError) as caught:
        verifier.verify(record, now=_now())
    assert caught.value.code == "BUS_REQUEST_REJECTED"
    return caught.value.reason


def test_the_digest_from_the_check_is_the_one_the_gateway_stored() -> None:
    """The connector names the request in its reply by the digest its signature check
    computed; the gateway stored the digest of what it signed. They are the same, and
    the same as ``request_digest`` of the parsed envelope (what was computed before)."""
    signed, stored = SIGNER.sign_with_digest(request_envelope(), VALUE)
    envelope, digest = _verifier().verify_with_digest(_record(signed), now=_now())
    assert digest == stored == request_digest(envelope, VALUE)
    assert envelope == signed


def test_a_signed_request_verifies_and_yields_its_envelope() -> None:
    """The verifier returns the envelope the gateway signed, key id included."""
    record = _signed()
    envelope = _verifier().verify(record, now=_now())
    assert envelope.key_id == "gw-2026-01"
    assert envelope.signature is not None
    assert envelope.exchange_id == Envelope.from_headers(record.headers).exchange_id


def test_the_signature_is_64_bytes_of_unpadded_base64url() -> None:
    """The header carries the raw Ed25519 signature in unpadded base64url."""
    signature = SIGNER.sign(request_envelope(), VALUE).signature
    assert signature is not None
    assert "=" not in signature
    assert len(base64.urlsafe_b64decode(signature + "==")) == 64


def test_an_unsigned_request_is_refused_as_unsigned() -> None:
    """A request produced without the gateway carries no signature: UNSIGNED."""
    assert _reason(_verifier(), _record(request_envelope())) is RejectReason.UNSIGNED


def test_a_key_id_without_a_signature_is_unsigned() -> None:
    """Dropping only the signature header does not pass as signed."""
    record = _signed()
    headers = tuple(h for h in record.headers if h[0] != "interop_signature")
    stripped = InboundRecord(TOPIC, 0, 0, 0, None, VALUE, headers)
    assert _reason(_verifier(), stripped) is RejectReason.UNSIGNED


def test_an_unknown_key_id_is_refused() -> None:
    """A signature by a key this side does not trust: UNKNOWN_KEY."""
    other = RequestSigner("rogue-1", Ed25519PrivateKey.generate())
    record = _record(other.sign(request_envelope(), VALUE))
    assert _reason(_verifier(), record) is RejectReason.UNKNOWN_KEY


def test_a_trusted_key_id_with_another_key_is_a_bad_signature() -> None:
    """Claiming the trusted key id while signing with another key fails verification."""
    impostor = RequestSigner("gw-2026-01", Ed25519PrivateKey.generate())
    record = _record(impostor.sign(request_envelope(), VALUE))
    assert _reason(_verifier(), record) is RejectReason.BAD_SIGNATURE


def test_a_flipped_byte_in_the_value_is_a_bad_signature() -> None:
    """Every byte of the value is covered."""
    record = _signed()
    for index in range(len(VALUE)):
        flipped = bytearray(VALUE)
        flipped[index] ^= 0x01
        tampered = InboundRecord(TOPIC, 0, 0, 0, None, bytes(flipped), record.headers)
        assert _reason(_verifier(), tampered) is RejectReason.BAD_SIGNATURE


def test_a_flipped_byte_in_any_signed_header_is_a_bad_signature() -> None:
    """A flipped bit in any header value (but the key id) is BAD_SIGNATURE, never a parse
    error: the signature is checked on the raw bytes before anything is parsed."""
    record = _signed()
    checked = 0
    for position, (name, raw) in enumerate(record.headers):
        if name == "interop_key_id":
            continue
        assert raw is not None
        for index in (0, len(raw) // 2, len(raw) - 1):
            flipped = bytearray(raw)
            flipped[index] ^= 0x01
            headers = list(record.headers)
            headers[position] = (name, bytes(flipped))
            tampered = InboundRecord(TOPIC, 0, 0, 0, None, VALUE, tuple(headers))
            assert _reason(_verifier(), tampered) is RejectReason.BAD_SIGNATURE, name
            checked += 1
    assert checked >= 3 * 15


def test_a_flipped_key_id_names_an_unknown_key() -> None:
    """Changing the key id makes it name no trusted key."""
    record = _signed()
    headers = tuple((n, b"gw-2026-02" if n == "interop_key_id" else v) for n, v in record.headers)
    tampered = InboundRecord(TOPIC, 0, 0, 0, None, VALUE, headers)
    assert _reason(_verifier(), tampered) is RejectReason.UNKNOWN_KEY


def test_an_added_or_removed_envelope_header_is_a_bad_signature() -> None:
    """Adding a policy header (a consent reference) or removing one breaks the signature."""
    envelope = request_envelope(consent_ref=None)
    record = _record(SIGNER.sign(envelope, VALUE))
    added = InboundRecord(
        TOPIC, 0, 0, 0, None, VALUE, (*record.headers, ("interop_consent_ref", b"forged"))
    )
    assert _reason(_verifier(), added) is RejectReason.BAD_SIGNATURE
    removed = tuple(h for h in record.headers if h[0] != "interop_legal_basis")
    assert (
        _reason(_verifier(), InboundRecord(TOPIC, 0, 0, 0, None, VALUE, removed))
        is RejectReason.BAD_SIGNATURE
    )


def test_foreign_headers_are_not_signed_and_do_not_matter() -> None:
    """Headers other tooling adds (not ce_/interop_/traceparent) leave the signature valid."""
    record = _signed()
    extra = InboundRecord(TOPIC, 0, 0, 0, None, VALUE, (*record.headers, ("x-tool", b"1")))
    assert _verifier().verify(extra, now=_now()).key_id == "gw-2026-01"


def test_a_duplicated_signature_header_is_malformed() -> None:
    """Two signature headers: which one is meant cannot be told."""
    record = _signed()
    signature = dict((n, v) for n, v in record.headers)["interop_signature"]
    doubled = (*record.headers, ("interop_signature", signature))
    reason = _reason(_verifier(), InboundRecord(TOPIC, 0, 0, 0, None, VALUE, doubled))
    assert reason is RejectReason.MALFORMED_ENVELOPE


def test_a_garbage_signature_is_a_bad_signature() -> None:
    """A signature that is not base64url, or not 64 bytes, is refused as BAD_SIGNATURE."""
    record = _signed()
    for garbage in (b"!!!not-base64!!!", b"AAAA"):
        headers = tuple((n, garbage if n == "interop_signature" else v) for n, v in record.headers)
        tampered = InboundRecord(TOPIC, 0, 0, 0, None, VALUE, headers)
        assert _reason(_verifier(), tampered) is RejectReason.BAD_SIGNATURE


def test_a_record_without_value_is_malformed() -> None:
    """A tombstone on a request topic is not a request."""
    record = _record(SIGNER.sign(request_envelope(), VALUE), value=None)
    assert _reason(_verifier(), record) is RejectReason.MALFORMED_ENVELOPE


def test_a_signed_reply_is_not_a_request() -> None:
    """A validly signed reply envelope replayed on a request topic is refused."""
    request = request_envelope()
    reply = request.reply(source=request.provider, status=ReplyStatus.OK)
    signed = SIGNER.sign(reply, VALUE)
    assert _reason(_verifier(), _record(signed)) is RejectReason.MALFORMED_ENVELOPE


def test_a_signed_request_on_another_services_topic_is_refused() -> None:
    """The topic is not signed, so the verifier compares it with the signed ce_type."""
    record = _record(SIGNER.sign(request_envelope(), VALUE), topic="interop.req.tax.income-band.v1")
    assert _reason(_verifier(), record) is RejectReason.WRONG_TOPIC
    other_major = _record(SIGNER.sign(request_envelope(), VALUE), topic=f"interop.req.{SERVICE}.v2")
    assert _reason(_verifier(), other_major) is RejectReason.WRONG_TOPIC


def test_a_passed_deadline_is_refused() -> None:
    """A request replayed after its deadline is refused, even with a valid signature."""
    record = _signed(deadline=_now() + timedelta(seconds=5))
    later = _now() + timedelta(seconds=6)
    with pytest.raises(RequestRejectedError) as caught:
        _verifier().verify(record, now=later)
    assert caught.value.reason is RejectReason.DEADLINE_PASSED


def test_a_retired_key_cannot_date_a_request_back_into_its_window() -> None:
    """The key window is checked at ``ce_time``, which the signer writes. A gateway key
    retired in 2020 signs a request dated 2019 (inside its window): with a deadline an
    hour after that time it has long passed; with one that has not passed, the deadline
    lies more than ``MAX_REQUEST_LIFETIME`` after the time. Either way, not served."""
    old = datetime(2019, 6, 1, tzinfo=UTC)
    verifier = RequestVerifier(
        {"gw-2026-01": KEY.public_key()},
        {SERVICE: ConsentMode.PRESUMED},
        key_windows=lambda _key_id, at: at < datetime(2020, 1, 1, tzinfo=UTC),
    )
    expired = _signed(time=old, deadline=old + timedelta(hours=1))
    assert _reason(verifier, expired) is RejectReason.DEADLINE_PASSED
    stretched = _signed(time=old, deadline=_now() + timedelta(seconds=30))
    with pytest.raises(RequestRejectedError) as caught:
        verifier.verify(stretched, now=_now())
    assert caught.value.reason is RejectReason.WRONG_TIME
    assert "3600 s after the request's time" in caught.value.detail


def test_request_times_ahead_of_the_clock_beyond_the_skew_are_refused() -> None:
    """A ``ce_time`` up to five minutes ahead (another host's clock) is served; further
    ahead, a key valid only in the future could sign now for then."""
    now = _now()
    ahead = _signed(time=now + timedelta(minutes=4), deadline=now + timedelta(minutes=5))
    assert _verifier().verify(ahead, now=now).exchange_id
    too_far = _signed(time=now + timedelta(minutes=6), deadline=now + timedelta(minutes=7))
    with pytest.raises(RequestRejectedError) as caught:
        _verifier().verify(too_far, now=now)
    assert caught.value.reason is RejectReason.WRONG_TIME
    assert "ahead of this host's clock" in caught.value.detail


def test_a_request_without_a_deadline_is_refused() -> None:
    """Every gateway request has one; without it, nothing would bound how old it may be.
    The envelope's own rules refuse it first."""
    envelope = request_envelope().model_copy(update={"deadline": None})
    with pytest.raises(RequestRejectedError) as caught:
        _verifier().verify(_record(SIGNER.sign(envelope, VALUE)), now=_now())
    assert caught.value.reason is RejectReason.MALFORMED_ENVELOPE
    assert "interop_deadline" in caught.value.detail


def test_explicit_services_need_a_consent_reference() -> None:
    """An explicit-consent service's request must cite a consent."""
    verifier = _verifier(ConsentMode.EXPLICIT)
    assert _reason(verifier, _signed(consent_ref=None)) is RejectReason.MISSING_CONSENT_REF
    assert verifier.verify(_signed(), now=_now()).consent_ref == "urn:consent:1234"


def test_legal_services_need_an_allowed_legal_basis() -> None:
    """A legal-obligation service's request must cite one of its legal bases."""
    verifier = _verifier(ConsentMode.LEGAL, legal_bases={SERVICE: ["Ley 39/2015 art. 28"]})
    assert _reason(verifier, _signed(legal_basis=None)) is RejectReason.MISSING_LEGAL_BASIS
    assert _reason(verifier, _signed(legal_basis="Ley 1/2000")) is RejectReason.MISSING_LEGAL_BASIS
    assert verifier.verify(_signed(), now=_now()).legal_basis == "Ley 39/2015 art. 28"


def test_presumed_services_need_neither() -> None:
    """Presumed consent: no consent reference and no legal basis needed."""
    envelope = _verifier().verify(_signed(consent_ref=None, legal_basis=None), now=_now())
    assert envelope.consent_ref is None
    assert envelope.legal_basis is None


def test_an_unknown_service_is_refused() -> None:
    """A service without a known consent mode fails closed."""
    service = parse_service_id("other.thing")
    record = _record(
        SIGNER.sign(request_envelope(service=service), VALUE), topic="interop.req.other.thing.v1"
    )
    assert _reason(_verifier(), record) is RejectReason.UNKNOWN_SERVICE


def test_the_signature_is_checked_before_the_claims() -> None:
    """A tampered record with a passed deadline reports the signature, the first check."""
    record = _signed(deadline=_now() + timedelta(seconds=1))
    tampered = InboundRecord(TOPIC, 0, 0, 0, None, VALUE + b"x", record.headers)
    with pytest.raises(RequestRejectedError) as caught:
        _verifier().verify(tampered, now=_now() + timedelta(hours=1))
    assert caught.value.reason is RejectReason.BAD_SIGNATURE


# -- keys ----------------------------------------------------------------------------------
def test_keys_load_from_raw_base64_and_pem(tmp_path: Path) -> None:
    """Raw 32-byte base64 (standard or URL-safe) and PEM give the same keys."""
    raw = KEY.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem = KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signed = SIGNER.sign(request_envelope(), VALUE).signature
    for private in (
        load_private_key(base64.b64encode(raw).decode()),
        load_private_key(base64.urlsafe_b64encode(raw).rstrip(b"=")),
        load_private_key(pem),
    ):
        assert RequestSigner("gw-2026-01", private).sign(request_envelope(), VALUE).signature
        assert public_key_text(private.public_key()) == public_key_text(KEY.public_key())
    (tmp_path / "key.pem").write_bytes(pem)
    (tmp_path / "key.pub").write_text(public_key_text(KEY.public_key()) + "\n")
    (tmp_path / "pub.pem").write_bytes(public_pem)
    assert public_key_text(load_private_key_file(tmp_path / "key.pem").public_key()) == (
        public_key_text(KEY.public_key())
    )
    raw_public = (tmp_path / "key.pub").read_text()
    for public in (load_public_key(raw_public.encode()), load_public_key(public_pem)):
        assert public_key_text(public) == public_key_text(KEY.public_key())
    assert signed is not None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a key",
        base64.b64encode(b"x" * 31).decode(),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ],
)
def test_bad_keys_raise_a_key_error_without_the_key(text: str) -> None:
    """A malformed key is a SigningKeyError whose message does not echo the input."""
    for load in (load_private_key, load_public_key):
        with pytest.raises(SigningKeyError) as caught:
            load(text)
        assert caught.value.code == "BUS_SIGNING_KEY_INVALID"
        if text.strip():
            assert text.strip() not in caught.value.message


def test_a_missing_key_file_is_a_key_error(tmp_path: Path) -> None:
    """A key file that cannot be read names the path, not a stack trace."""
    with pytest.raises(SigningKeyError, match="cannot read key file"):
        load_private_key_file(tmp_path / "absent.pem")


def test_a_non_ed25519_pem_is_refused() -> None:
    """An RSA or EC key in PEM is not accepted as an Ed25519 key."""
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1())
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(SigningKeyError, match="not an Ed25519 key"):
        load_private_key(pem)


def test_bad_key_ids_and_empty_key_sets_are_refused() -> None:
    """Key ids follow the code form; a verifier trusts at least one key."""
    with pytest.raises(SigningKeyError):
        RequestSigner("has space", KEY)
    with pytest.raises(SigningKeyError):
        RequestVerifier({}, {SERVICE: ConsentMode.PRESUMED})
