"""Record signatures through libsodium: the same signatures as OpenSSL's, checked strictly."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bus.ed25519 import Ed25519Signer, ed25519_valid

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
MESSAGE = b"interop-bus envelope signing v1\n" + b"x" * 300


def test_the_same_signature_as_openssl_and_each_verifies_the_other() -> None:
    """Ed25519 is deterministic: records signed before libsodium took over verify after,
    and a signature libsodium makes verifies with OpenSSL."""
    ours = Ed25519Signer(KEY).sign(MESSAGE)
    assert ours == KEY.sign(MESSAGE)
    KEY.public_key().verify(ours, MESSAGE)  # raises if not
    assert ed25519_valid(KEY.public_key(), KEY.sign(MESSAGE), MESSAGE)


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        (KEY.sign(MESSAGE)[:-1] + bytes([KEY.sign(MESSAGE)[-1] ^ 1]), MESSAGE),  # one bit off
        (KEY.sign(MESSAGE), MESSAGE + b"!"),  # another message
        (KEY.sign(MESSAGE)[:63], MESSAGE),  # too short
        (KEY.sign(MESSAGE) + b"\x00", MESSAGE),  # too long: not a prefix match
        (b"", MESSAGE),
        (bytes(64), MESSAGE),
    ],
)
def test_what_does_not_verify(signature: bytes, message: bytes) -> None:
    assert not ed25519_valid(KEY.public_key(), signature, message)


def test_another_key_does_not_verify() -> None:
    other = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))).public_key()
    assert not ed25519_valid(other, KEY.sign(MESSAGE), MESSAGE)


def test_a_small_order_public_key_is_refused() -> None:
    """The identity point as a public key: with it, some signatures verify for any message
    (OpenSSL accepts such a key; libsodium refuses it outright)."""
    identity = Ed25519PublicKey.from_public_bytes(b"\x01" + bytes(31))
    # R = identity, S = 0: valid for every message under the identity key.
    forged = b"\x01" + bytes(31) + bytes(32)
    assert not ed25519_valid(identity, forged, MESSAGE)
    assert not ed25519_valid(identity, forged, b"anything else")


def test_the_signer_never_shows_its_secret() -> None:
    signer = Ed25519Signer(KEY)
    assert "<secret>" in repr(signer)
    assert KEY.private_bytes_raw().hex() not in repr(signer)
