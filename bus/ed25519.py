"""Ed25519 on the record path: the signatures made and checked for every exchange.

Keys are loaded, written and compared with ``cryptography`` (``bus.record_signing``); the
signing and checking themselves go through libsodium (PyNaCl), which is the cheaper of the
two on the path that runs six signatures and six checks per exchange. On the bench machine
(``interop bench --trust-cost``, and one loop of each in one process): OpenSSL 3 through
``cryptography`` signs a 600-byte message in 34 µs and checks it in 97 µs; libsodium in 21
and 45 µs.

Ed25519 is deterministic (RFC 8032): both libraries make the same signature from the same
key and message, so records signed before and after this module verify alike. libsodium's
check is the stricter one: it also refuses small-order or non-canonical public keys and
``R`` points, which no honest signer produces.
"""

from __future__ import annotations

from typing import Final

import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["SIGNATURE_BYTES", "Ed25519Signer", "ed25519_valid"]

SIGNATURE_BYTES: Final = 64


class Ed25519Signer:
    """Signs with one private key; holds libsodium's expanded secret, never shows it."""

    __slots__ = ("_secret",)

    def __init__(self, key: Ed25519PrivateKey) -> None:
        _public, self._secret = nacl.bindings.crypto_sign_seed_keypair(key.private_bytes_raw())

    def __repr__(self) -> str:
        return "Ed25519Signer(<secret>)"

    def sign(self, message: bytes) -> bytes:
        """The 64-byte signature of ``message``."""
        # crypto_sign returns the signature followed by the message.
        return nacl.bindings.crypto_sign(message, self._secret)[:SIGNATURE_BYTES]


def ed25519_valid(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is ``key``'s signature of ``message``."""
    if len(signature) != SIGNATURE_BYTES:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, key.public_bytes_raw())
    except nacl.exceptions.BadSignatureError:
        return False
    return True
