"""Signed requests: the gateway signs what it checked; the connector side verifies it.

The gateway decides consent and access before a request reaches Kafka; a connector must be
able to tell that a record on its request topic really went through those checks. So the
gateway signs each request (Ed25519) over the canonical encoding of the envelope headers
and the value (``bus.envelope_headers.canonical_signing_bytes``: every ``ce_*``,
``interop_*``, ``traceparent`` and ``content-type`` header except the signature, sorted and
length-prefixed) and names its key in ``interop_key_id``, which the signature covers too.

``RequestVerifier.verify`` works in a fixed order, and the first failure wins:

1. the record has a value and exactly one signature and key id header (``UNSIGNED``,
   ``MALFORMED_ENVELOPE``);
2. the key id names a trusted key (``UNKNOWN_KEY``);
3. the signature verifies over the *raw* headers and value, before anything is parsed
   (``BAD_SIGNATURE``): a flipped byte anywhere is a bad signature, not a parse error;
4. the headers form a request envelope addressed to the record's topic
   (``MALFORMED_ENVELOPE``, ``WRONG_TOPIC``);
5. the claims: the deadline has not passed (``DEADLINE_PASSED``), the service is known
   (``UNKNOWN_SERVICE``), an ``explicit`` service's request cites a consent
   (``MISSING_CONSENT_REF``), a ``legal`` one cites an allowed legal basis
   (``MISSING_LEGAL_BASIS``).

A valid signature does not stop a replay *before* the deadline: connectors dedupe by
exchange id (DESIGN.md, step 3). Keys load from raw 32-byte base64 or PEM, from a string or
a file; a bad key raises ``SigningKeyError`` without echoing the key material.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bus.envelope import Envelope
from bus.envelope_headers import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    MessageKind,
    canonical_signing_bytes,
)
from bus.errors import BusError, EnvelopeError
from bus.header_values import check_code
from bus.records import InboundRecord
from bus.topics import RequestTopic, parse_topic
from contracts import Catalogue, ConsentMode

__all__ = [
    "RejectReason",
    "RequestRejectedError",
    "RequestSigner",
    "RequestVerifier",
    "SigningKeyError",
    "load_private_key",
    "load_private_key_file",
    "load_public_key",
    "load_public_key_file",
    "public_key_text",
]

_RAW_KEY_BYTES: Final = 32
_SIGNATURE_BYTES: Final = 64


class RejectReason(StrEnum):
    """Why a connector refuses a request (it travels in the dead-letter headers)."""

    UNSIGNED = "UNSIGNED"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    MALFORMED_ENVELOPE = "MALFORMED_ENVELOPE"
    WRONG_TOPIC = "WRONG_TOPIC"
    DEADLINE_PASSED = "DEADLINE_PASSED"
    UNKNOWN_SERVICE = "UNKNOWN_SERVICE"
    MISSING_CONSENT_REF = "MISSING_CONSENT_REF"
    MISSING_LEGAL_BASIS = "MISSING_LEGAL_BASIS"


class RequestRejectedError(BusError):
    """A request record failed verification; ``reason`` says which check, ``detail`` how.

    Neither carries personal data or key material: they go to dead-letter headers and logs.
    """

    code = "BUS_REQUEST_REJECTED"

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"request refused ({reason.value}): {detail}")
        self.reason = reason
        self.detail = detail


class SigningKeyError(BusError):
    """A signing or verification key cannot be loaded (the message never shows the key)."""

    code = "BUS_SIGNING_KEY_INVALID"


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


def load_public_key_file(path: Path) -> Ed25519PublicKey:
    """``load_public_key`` on a file's content."""
    return load_public_key(_read(path))


def public_key_text(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key in standard base64 (what registry owners configure)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _check_key_id(key_id: str) -> str:
    try:
        return check_code(key_id)
    except ValueError as exc:
        raise SigningKeyError(f"key id: {exc}") from None


# -- signing -------------------------------------------------------------------------------
class RequestSigner:
    """Signs request envelopes with one Ed25519 key named ``key_id``."""

    def __init__(self, key_id: str, private_key: Ed25519PrivateKey) -> None:
        self.key_id = _check_key_id(key_id)
        self._key = private_key

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def sign(self, envelope: Envelope, value: bytes) -> Envelope:
        """``envelope`` with ``key_id`` and ``signature`` set, over its headers and ``value``.

        The key id is set first, so the signature covers it: a record cannot be re-labelled
        to claim another key.
        """
        named = envelope.model_copy(update={"key_id": self.key_id, "signature": None})
        signature = self._key.sign(named.signing_bytes(value))
        encoded = base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii")
        return named.model_copy(update={"signature": encoded})


# -- verification --------------------------------------------------------------------------
def _single_header(record: InboundRecord, name: str) -> bytes | None:
    values = [raw for header, raw in record.headers if header == name]
    if not values:
        return None
    if len(values) > 1 or values[0] is None:
        raise RequestRejectedError(
            RejectReason.MALFORMED_ENVELOPE, f"header {name!r} must appear once, with a value"
        )
    return values[0]


def _decode_signature(raw: bytes) -> bytes:
    text = raw.strip()
    try:
        signature = base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise RequestRejectedError(
            RejectReason.BAD_SIGNATURE, "the signature is not base64url"
        ) from None
    if len(signature) != _SIGNATURE_BYTES:
        raise RequestRejectedError(RejectReason.BAD_SIGNATURE, "the signature is not 64 bytes")
    return signature


class RequestVerifier:
    """Checks that a request record was signed by a trusted gateway and makes its claims.

    ``keys``: key id -> the public key of a trusted gateway (several during a rotation).
    ``consent_modes``: service id -> its consent mode; a service not listed is refused.
    ``legal_bases``: service id -> the legal bases it accepts (none listed: any non-empty).
    ``RequestVerifier.from_catalogue`` fills both from the catalogue.
    """

    def __init__(
        self,
        keys: Mapping[str, Ed25519PublicKey],
        consent_modes: Mapping[str, ConsentMode],
        *,
        legal_bases: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        if not keys:
            raise SigningKeyError("a verifier needs at least one trusted gateway key")
        self._keys = {_check_key_id(key_id): key for key_id, key in keys.items()}
        self._modes = dict(consent_modes)
        self._bases = {service: frozenset(b) for service, b in (legal_bases or {}).items()}

    @classmethod
    def from_catalogue(
        cls, keys: Mapping[str, Ed25519PublicKey], catalogue: Catalogue
    ) -> RequestVerifier:
        """A verifier for every service of ``catalogue``, with its modes and legal bases."""
        services = catalogue.services.values()
        return cls(
            keys,
            {s.id: s.meta.consent_mode for s in services},
            legal_bases={s.id: s.meta.legal_bases for s in services},
        )

    def verify(self, record: InboundRecord, *, now: datetime) -> Envelope:
        """The record's envelope once every check passed; else ``RequestRejectedError``."""
        if record.value is None:
            raise RequestRejectedError(RejectReason.MALFORMED_ENVELOPE, "the record has no value")
        signature_raw = _single_header(record, SIGNATURE_HEADER)
        key_id_raw = _single_header(record, KEY_ID_HEADER)
        if signature_raw is None and key_id_raw is None:
            raise RequestRejectedError(RejectReason.UNSIGNED, "the request carries no signature")
        if signature_raw is None or key_id_raw is None:
            raise RequestRejectedError(
                RejectReason.UNSIGNED, "a signature needs both interop_signature and interop_key_id"
            )
        key = self._keys.get(key_id_raw.decode("utf-8", "replace"))
        if key is None:
            raise RequestRejectedError(
                RejectReason.UNKNOWN_KEY,
                "the request is signed with a key this side does not trust",
            )
        try:
            key.verify(
                _decode_signature(signature_raw),
                canonical_signing_bytes(record.headers, record.value),
            )
        except InvalidSignature:
            raise RequestRejectedError(
                RejectReason.BAD_SIGNATURE, "the signature does not match the headers and value"
            ) from None
        envelope = self._envelope(record)
        self._check_claims(envelope, now)
        return envelope

    @staticmethod
    def _envelope(record: InboundRecord) -> Envelope:
        try:
            envelope = Envelope.from_headers(record.headers)
        except EnvelopeError as exc:
            raise RequestRejectedError(RejectReason.MALFORMED_ENVELOPE, exc.message) from None
        if envelope.kind is not MessageKind.REQUEST:
            raise RequestRejectedError(RejectReason.MALFORMED_ENVELOPE, "not a request envelope")
        try:
            topic = parse_topic(record.topic)
        except BusError:
            topic = None
        if not isinstance(topic, RequestTopic) or (topic.service, topic.major) != (
            envelope.service,
            envelope.major,
        ):
            # The topic is not signed: a signed request copied to another service's topic
            # must not be served by that service.
            raise RequestRejectedError(
                RejectReason.WRONG_TOPIC,
                f"a {envelope.service}.v{envelope.major} request does not belong on this topic",
            )
        return envelope

    def _check_claims(self, envelope: Envelope, now: datetime) -> None:
        if envelope.deadline is not None and envelope.deadline <= now:
            raise RequestRejectedError(
                RejectReason.DEADLINE_PASSED, "the request's deadline has passed"
            )
        mode = self._modes.get(envelope.service)
        if mode is None:
            raise RequestRejectedError(
                RejectReason.UNKNOWN_SERVICE, f"{envelope.service} has no known consent mode"
            )
        if mode is ConsentMode.EXPLICIT and envelope.consent_ref is None:
            raise RequestRejectedError(
                RejectReason.MISSING_CONSENT_REF,
                f"{envelope.service} needs explicit consent: the request cites none",
            )
        if mode is ConsentMode.LEGAL:
            bases = self._bases.get(envelope.service, frozenset())
            if envelope.legal_basis is None or (bases and envelope.legal_basis not in bases):
                raise RequestRejectedError(
                    RejectReason.MISSING_LEGAL_BASIS,
                    f"{envelope.service} is served on a legal obligation: "
                    "the request cites none of its legal bases",
                )
