"""Record signing: one scheme for every record a member produces on the bus.

Requests (the gateway), replies (a provider's connector) and audit events (their actor)
are all signed the same way: Ed25519 over ``bus.envelope_headers.canonical_signing_bytes``
(a domain prefix, then every ``ce_*``, ``interop_*``, ``traceparent`` and ``content-type``
header but the signature, sorted and length-prefixed, then the value), with the key named
in ``interop_key_id``, which the signature covers too, and the signature (base64url, no
padding) in ``interop_signature``.

``verify_record_signature`` checks a record against a key lookup, on the *raw* headers and
value, before anything is parsed; the first failure wins: no signature headers
(``UNSIGNED``), duplicated or empty ones (``MALFORMED``), a key id the lookup does not know
(``UNKNOWN_KEY``), a signature that does not verify (``BAD_SIGNATURE``). What a verified
record may *claim* (a request's consent, a reply's exchange, an event's actor) is checked
by the caller: ``bus.request_signing``, ``gateway.reply_verification``, the audit indexer.

Keys load from raw 32-byte base64 or PEM, from a string or a file; a bad key raises
``SigningKeyError`` without echoing the key material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bus.ed25519 import SIGNATURE_BYTES, Ed25519Signer, ed25519_valid
from bus.envelope import Envelope
from bus.envelope_headers import KEY_ID_HEADER, SIGNATURE_HEADER, canonical_signing_bytes
from bus.errors import BusError
from bus.header_values import check_code

__all__ = [
    "KeyLookup",
    "RecordSignatureError",
    "RecordSigner",
    "SignatureFailure",
    "SigningKeyError",
    "VerifiedSignature",
    "check_key_id",
    "check_record_signature",
    "load_private_key",
    "load_private_key_file",
    "load_public_key",
    "private_key_text",
    "public_key_text",
    "record_key_id",
    "request_digest",
    "verify_record_signature",
]

_RAW_KEY_BYTES: Final = 32

KeyLookup = Callable[[str], Ed25519PublicKey | None]
"""Key id -> the public key to verify with, or None when the key is not trusted."""


class SigningKeyError(BusError):
    """A signing or verification key cannot be loaded (the message never shows the key)."""

    code = "BUS_SIGNING_KEY_INVALID"


class SignatureFailure(StrEnum):
    """Why a record's signature does not hold (stable: it goes to dead-letter headers)."""

    UNSIGNED = "UNSIGNED"
    MALFORMED = "MALFORMED"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    KEY_NOT_VALID = "KEY_NOT_VALID"
    """The key is known, but its validity window does not cover the signing time."""


class RecordSignatureError(BusError):
    """A record's signature does not hold; ``reason`` says which check, ``detail`` how.

    Neither carries personal data or key material.
    """

    code = "BUS_RECORD_SIGNATURE_INVALID"

    def __init__(self, reason: SignatureFailure, detail: str) -> None:
        super().__init__(f"signature refused ({reason.value}): {detail}")
        self.reason = reason
        self.detail = detail


# -- keys ----------------------------------------------------------------------------------
def _raw_key(text: str) -> bytes | None:
    """32 bytes from standard or URL-safe base64 (padding optional), else None."""
    compact = "".join(text.split())
    padded = compact + "=" * (-len(compact) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(padded.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            continue
        if len(raw) == _RAW_KEY_BYTES:
            return raw
    return None


def load_private_key(text: str | bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8, unencrypted) or raw 32-byte base64."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if b"-----BEGIN" in data:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise SigningKeyError(
                "the private key PEM cannot be read (unencrypted PKCS#8 expected)"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError("the private key is not an Ed25519 key")
        return key
    raw = _raw_key(data.decode("utf-8", "replace"))
    if raw is None:
        raise SigningKeyError("the private key is neither PEM nor 32 bytes of base64")
    return Ed25519PrivateKey.from_private_bytes(raw)


def load_public_key(text: str | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo) or raw 32-byte base64."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if b"-----BEGIN" in data:
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise SigningKeyError("the public key PEM cannot be read") from None
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError("the public key is not an Ed25519 key")
        return key
    raw = _raw_key(data.decode("utf-8", "replace"))
    if raw is None:
        raise SigningKeyError("the public key is neither PEM nor 32 bytes of base64")
    return Ed25519PublicKey.from_public_bytes(raw)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read key file {path}: {exc.strerror}") from None


def load_private_key_file(path: Path) -> Ed25519PrivateKey:
    """``load_private_key`` on a file's content."""
    return load_private_key(_read(path))


def public_key_text(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key in standard base64 (what the members file holds)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def private_key_text(key: Ed25519PrivateKey) -> str:
    """The raw 32-byte private key in standard base64 (for a 0600 key file, never a log)."""
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode("ascii")


def check_key_id(key_id: str) -> str:
    """``key_id`` if it is a code (what ``interop_key_id`` may hold), else ``SigningKeyError``."""
    try:
        return check_code(key_id)
    except ValueError as exc:
        raise SigningKeyError(f"key id: {exc}") from None


# -- signing -------------------------------------------------------------------------------
def _encode_signature(signature: bytes) -> bytes:
    return base64.urlsafe_b64encode(signature).rstrip(b"=")


class RecordSigner:
    """Signs records with one Ed25519 key named ``key_id`` (a member's current key)."""

    def __init__(self, key_id: str, private_key: Ed25519PrivateKey) -> None:
        self.key_id = check_key_id(key_id)
        self._key = private_key
        self._signer = Ed25519Signer(private_key)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def sign(self, envelope: Envelope, value: bytes) -> Envelope:
        """``envelope`` with ``key_id`` and ``signature`` set, over its headers and ``value``.

        The key id is set first, so the signature covers it: a record cannot be re-labelled
        to claim another key.
        """
        return self.sign_with_digest(envelope, value)[0]

    def sign_with_digest(self, envelope: Envelope, value: bytes) -> tuple[Envelope, str]:
        """``sign``, and the ``request_digest`` of the result, from one computation of the
        signed bytes (the gateway stores the digest a reply must name)."""
        named = envelope.model_copy(update={"key_id": self.key_id, "signature": None})
        signed_bytes = named.signing_bytes(value)
        signature = self._signer.sign(signed_bytes)
        signed = named.model_copy(update={"signature": _encode_signature(signature).decode()})
        return signed, hashlib.sha256(signed_bytes).hexdigest()

    def sign_headers(
        self, headers: Sequence[tuple[str, bytes]], value: bytes
    ) -> list[tuple[str, bytes]]:
        """``headers`` plus ``interop_key_id`` and ``interop_signature`` over them and
        ``value`` (any earlier key id or signature header is replaced)."""
        kept = [(n, v) for n, v in headers if n not in (KEY_ID_HEADER, SIGNATURE_HEADER)]
        named = [*kept, (KEY_ID_HEADER, self.key_id.encode("ascii"))]
        signature = self._signer.sign(canonical_signing_bytes(named, value))
        return [*named, (SIGNATURE_HEADER, _encode_signature(signature))]


def request_digest(envelope: Envelope, value: bytes) -> str:
    """SHA-256 (hex) of the bytes a request's signature covers: what a reply binds to.

    Both sides compute it from the request as signed (the gateway when it sends, the
    connector from the record it verified), so a reply names exactly one request record.
    """
    return hashlib.sha256(envelope.signing_bytes(value)).hexdigest()


# -- verification --------------------------------------------------------------------------
def _single_header(headers: Sequence[tuple[str, bytes | None]], name: str) -> bytes | None:
    values = [raw for header, raw in headers if header == name]
    if not values:
        return None
    if len(values) > 1 or values[0] is None:
        raise RecordSignatureError(
            SignatureFailure.MALFORMED, f"header {name!r} must appear once, with a value"
        )
    return values[0]


def _decode_signature(raw: bytes) -> bytes:
    text = raw.strip()
    try:
        signature = base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise RecordSignatureError(
            SignatureFailure.BAD_SIGNATURE, "the signature is not base64url"
        ) from None
    if len(signature) != SIGNATURE_BYTES:
        raise RecordSignatureError(SignatureFailure.BAD_SIGNATURE, "the signature is not 64 bytes")
    return signature


def record_key_id(headers: Sequence[tuple[str, bytes | None]]) -> str | None:
    """The key id a record claims (unverified), or None; for stores and error reports."""
    raw = _single_header(headers, KEY_ID_HEADER)
    return None if raw is None else raw.decode("utf-8", "replace")


def verify_record_signature(
    headers: Sequence[tuple[str, bytes | None]], value: bytes, lookup: KeyLookup
) -> str:
    """The key id that signed ``headers`` and ``value``; else ``RecordSignatureError``."""
    return check_record_signature(headers, value, lookup).key_id


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """A record's signature that verified: by which key, over which bytes."""

    key_id: str
    signed_bytes: bytes
    """``canonical_signing_bytes(headers, value)``: what the signature covers."""

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the signed bytes: a request's ``request_digest``, the one its
        signer computed, without encoding the parsed envelope's headers again."""
        return hashlib.sha256(self.signed_bytes).hexdigest()


def check_record_signature(
    headers: Sequence[tuple[str, bytes | None]], value: bytes, lookup: KeyLookup
) -> VerifiedSignature:
    """``verify_record_signature``, keeping the bytes the signature covers."""
    signature_raw = _single_header(headers, SIGNATURE_HEADER)
    key_id_raw = _single_header(headers, KEY_ID_HEADER)
    if signature_raw is None and key_id_raw is None:
        raise RecordSignatureError(SignatureFailure.UNSIGNED, "the record carries no signature")
    if signature_raw is None or key_id_raw is None:
        raise RecordSignatureError(
            SignatureFailure.UNSIGNED,
            "a signature needs both interop_signature and interop_key_id",
        )
    key_id = key_id_raw.decode("utf-8", "replace")
    key = lookup(key_id)
    if key is None:
        raise RecordSignatureError(
            SignatureFailure.UNKNOWN_KEY, "the record is signed with a key this side does not trust"
        )
    signature = _decode_signature(signature_raw)
    signed_bytes = canonical_signing_bytes(headers, value)
    if not ed25519_valid(key, signature, signed_bytes):
        raise RecordSignatureError(
            SignatureFailure.BAD_SIGNATURE, "the signature does not match the headers and value"
        )
    return VerifiedSignature(key_id, signed_bytes)
