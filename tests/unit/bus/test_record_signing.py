"""One signing scheme for every record, and the members' key set that verifies it."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bus import Envelope, InboundRecord, ReplyStatus, parse_member_id
from bus.envelope_headers import KEY_ID_HEADER, SIGNATURE_HEADER, canonical_signing_bytes
from bus.member_keys import MemberKey, MemberKeys, MemberKeysError, load_member_keys
from bus.record_signing import (
    RecordSignatureError,
    RecordSigner,
    SignatureFailure,
    load_private_key,
    private_key_text,
    public_key_text,
    request_digest,
    verify_record_signature,
)
from bus.request_signing import RejectReason, RequestRejectedError, RequestVerifier
from contracts import ConsentMode
from tests.unit.bus.envelopes import request_envelope

VALUE = b"\x00\x00\x00\x00\x07avro-reply"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PROVIDER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def _key(key_id: str, private: Ed25519PrivateKey, **window: datetime) -> MemberKey:
    return MemberKey(key_id=key_id, public_key=public_key_text(private.public_key()), **window)


def _keys() -> MemberKeys:
    return MemberKeys(
        [
            ("es.ine", ["provider"], [_key("ine-1", PROVIDER_KEY, not_after=T0)]),
            ("es.other", ["provider"], [_key("other-1", OTHER_KEY)]),
        ]
    )


def _reply(**overrides: object) -> Envelope:
    request = request_envelope()
    reply = request.reply(
        source=parse_member_id("es.ine"),
        status=ReplyStatus.OK,
        request_digest=request_digest(request, b"request-bytes"),
    )
    return Envelope.model_validate({**reply.model_dump(), **overrides}) if overrides else reply


def _failure(headers: list[tuple[str, bytes]], value: bytes = VALUE) -> SignatureFailure:
    with pytest.raises(RecordSignatureError) as caught:
        _keys().verify(headers, value, at=T0 - timedelta(days=1))
    assert caught.value.code == "BUS_RECORD_SIGNATURE_INVALID"
    return caught.value.reason


def test_a_signed_reply_verifies_and_names_its_member_and_key() -> None:
    """Envelope signing and raw-header verification agree; the signer is found by key id."""
    signed = RecordSigner("ine-1", PROVIDER_KEY).sign(_reply(), VALUE)
    by = _keys().verify(signed.to_headers(), VALUE, at=T0 - timedelta(seconds=1))
    assert (by.member, by.key.key_id) == ("es.ine", "ine-1")


def test_the_request_digest_is_covered_by_the_signature() -> None:
    """Re-pointing a signed reply at another request breaks its signature."""
    signed = RecordSigner("ine-1", PROVIDER_KEY).sign(_reply(), VALUE)
    moved = signed.model_copy(update={"request_digest": "0" * 64})
    assert _failure(moved.to_headers()) is SignatureFailure.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h: [x for x in h if x[0] not in (SIGNATURE_HEADER, KEY_ID_HEADER)], "UNSIGNED"),
        (lambda h: [x for x in h if x[0] != SIGNATURE_HEADER], "UNSIGNED"),
        (lambda h: [*h, (SIGNATURE_HEADER, b"AAAA")], "MALFORMED"),
        (
            lambda h: [(n, b"nobody-1" if n == KEY_ID_HEADER else v) for n, v in h],
            "UNKNOWN_KEY",
        ),
        (lambda h: [(n, v + b"x" if n == "ce_source" else v) for n, v in h], "BAD_SIGNATURE"),
        (
            lambda h: [(n, b"not base64!" if n == SIGNATURE_HEADER else v) for n, v in h],
            "BAD_SIGNATURE",
        ),
    ],
)
def test_each_broken_signature_is_refused_with_its_reason(mutate: object, reason: str) -> None:
    """Unsigned, duplicated, unknown key, altered header or garbage signature: named apart."""
    signed = RecordSigner("ine-1", PROVIDER_KEY).sign(_reply(), VALUE).to_headers()
    assert callable(mutate)
    assert _failure(mutate(signed)).value == reason


def test_a_key_of_another_member_under_the_right_id_does_not_verify() -> None:
    """Claiming a member's key id does not make another key sign for it."""
    forged = RecordSigner("ine-1", OTHER_KEY).sign(_reply(), VALUE)
    assert _failure(forged.to_headers()) is SignatureFailure.BAD_SIGNATURE


def test_a_key_outside_its_window_is_refused_even_with_a_good_signature() -> None:
    """Validity windows bound each key: after not_after it signs nothing."""
    signed = RecordSigner("ine-1", PROVIDER_KEY).sign(_reply(), VALUE)
    with pytest.raises(RecordSignatureError) as caught:
        _keys().verify(signed.to_headers(), VALUE, at=T0)
    assert caught.value.reason is SignatureFailure.KEY_NOT_VALID


def test_the_value_is_covered() -> None:
    """A changed value (the provider's answer) is a bad signature."""
    signed = RecordSigner("ine-1", PROVIDER_KEY).sign(_reply(), VALUE)
    assert _failure(signed.to_headers(), VALUE + b"!") is SignatureFailure.BAD_SIGNATURE


def test_sign_headers_replaces_an_earlier_signature_and_verifies_on_raw_headers() -> None:
    """The header-level signer (audit events) replaces stale signature headers."""
    signer = RecordSigner("other-1", OTHER_KEY)
    once = signer.sign_headers([("content-type", b"application/avro")], VALUE)
    twice = signer.sign_headers(once, VALUE)
    assert [n for n, _ in twice].count(SIGNATURE_HEADER) == 1
    assert verify_record_signature(twice, VALUE, {"other-1": OTHER_KEY.public_key()}.get) == (
        "other-1"
    )
    assert canonical_signing_bytes(once, VALUE) == canonical_signing_bytes(twice, VALUE)


def test_request_digest_is_the_digest_of_what_was_signed() -> None:
    """Signing does not change the digest (the signature is not covered), the content does."""
    request = request_envelope()
    signed = RecordSigner("gw-1", OTHER_KEY).sign(request, VALUE)
    assert request_digest(signed, VALUE) == request_digest(signed, VALUE)
    assert request_digest(signed, VALUE) != request_digest(signed, VALUE + b"x")
    assert len(request_digest(signed, VALUE)) == 64


def test_keys_round_trip_through_their_text_form() -> None:
    """``private_key_text`` is what ``interop keys new`` writes and loaders read back."""
    loaded = load_private_key(private_key_text(PROVIDER_KEY))
    assert public_key_text(loaded.public_key()) == public_key_text(PROVIDER_KEY.public_key())


def test_a_key_id_names_one_key_in_the_whole_file() -> None:
    """Two members may not share a key id: who signed would be ambiguous."""
    with pytest.raises(MemberKeysError, match=r"already names a key of es\.ine"):
        MemberKeys(
            [
                ("es.ine", ["provider"], [_key("k-1", PROVIDER_KEY)]),
                ("es.aeat", ["provider"], [_key("k-1", OTHER_KEY)]),
            ]
        )


def test_rotation_two_keys_valid_at_once() -> None:
    """During the overlap both keys verify; after it only the new one."""
    keys = MemberKeys(
        [
            (
                "es.ine",
                ["provider"],
                [
                    _key("old", PROVIDER_KEY, not_after=T0 + timedelta(days=1)),
                    _key("new", OTHER_KEY, not_before=T0),
                ],
            )
        ]
    )
    old = RecordSigner("old", PROVIDER_KEY).sign(_reply(), VALUE).to_headers()
    new = RecordSigner("new", OTHER_KEY).sign(_reply(), VALUE).to_headers()
    overlap = T0 + timedelta(hours=1)
    assert keys.verify(old, VALUE, at=overlap).key.key_id == "old"
    assert keys.verify(new, VALUE, at=overlap).key.key_id == "new"
    with pytest.raises(RecordSignatureError):
        keys.verify(old, VALUE, at=T0 + timedelta(days=2))


def test_the_members_file_gives_keys_and_roles_and_ignores_the_rest(tmp_path: Path) -> None:
    """A connector reads only ids, roles and signing keys of the gateway's members file."""
    path = tmp_path / "members.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            members:
              - id: interop.gateway
                name: Gateway
                roles: [gateway]
                signing_keys:
                  - key_id: gw-1
                    public_key: "{public_key_text(OTHER_KEY.public_key())}"
                    not_after: 2027-01-01T00:00:00Z
              - id: es.town
                name: Town
                roles: [consumer]
                api_keys: [{{sha256: "{"a" * 64}"}}]
            """
        ),
        encoding="utf-8",
    )
    keys = load_member_keys(path)
    assert keys.roles("interop.gateway") == frozenset({"gateway"})
    assert list(keys.public_keys_of_role("gateway")) == ["gw-1"]
    assert keys.keys_of("es.town") == ()


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('{key_id: "has space", public_key: "AAAA"}', "key_id"),
        ('{key_id: k1, public_key: "not a key"}', "public_key"),
        (
            "{key_id: k1, public_key: PUB, not_before: 2027-01-01T00:00:00Z,"
            " not_after: 2026-01-01T00:00:00Z}",
            "not_after must be later",
        ),
        ("{key_id: k1, public_key: PUB, not_after: 2027-01-01T00:00:00}", "not_after"),
    ],
)
def test_a_bad_key_entry_is_refused_naming_the_field(
    tmp_path: Path, entry: str, problem: str
) -> None:
    """Bad key ids, unreadable keys, inverted or naive windows fail at start-up."""
    entry = entry.replace("PUB", public_key_text(OTHER_KEY.public_key()))
    path = tmp_path / "members.yaml"
    path.write_text(f"members:\n  - id: es.ine\n    signing_keys: [{entry}]\n", encoding="utf-8")
    with pytest.raises(MemberKeysError, match=problem):
        load_member_keys(path)


def test_a_connector_refuses_requests_signed_outside_the_gateway_keys_window() -> None:
    """Gateway keys from the members file sign requests only within their window."""
    keys = MemberKeys(
        [
            (
                "interop.gateway",
                ["gateway"],
                [_key("gw-old", PROVIDER_KEY, not_after=T0), _key("gw-new", OTHER_KEY)],
            )
        ]
    )
    verifier = RequestVerifier(
        keys.public_keys_of_role("gateway"),
        {"register.residence-certificate": ConsentMode.PRESUMED},
        key_windows=keys.valid_at,
    )
    value = b"request"
    topic = "interop.req.register.residence-certificate.v1"

    def record(signer: RecordSigner) -> InboundRecord:
        headers = tuple(signer.sign(request_envelope(), value).to_headers())
        return InboundRecord(topic, 0, 0, 0, None, value, headers)

    now = datetime.now(UTC)
    assert verifier.verify(record(RecordSigner("gw-new", OTHER_KEY)), now=now).key_id == "gw-new"
    with pytest.raises(RequestRejectedError) as caught:
        verifier.verify(record(RecordSigner("gw-old", PROVIDER_KEY)), now=now)
    assert caught.value.reason is RejectReason.UNKNOWN_KEY
