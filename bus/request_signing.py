"""Signed requests: the gateway signs what it checked; the connector side verifies it.

The signature scheme itself is ``bus.record_signing`` (the same for replies and audit
events); this module adds what a *request* must claim.

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
5. the claims: the deadline has not passed (``DEADLINE_PASSED``), it lies at most
   ``bus.signed_time.MAX_REQUEST_LIFETIME`` after ``ce_time``, which is not ahead of the
   clock (``WRONG_TIME``), the service is known
   (``UNKNOWN_SERVICE``), an ``explicit`` service's request cites a consent
   (``MISSING_CONSENT_REF``), a ``legal`` one cites an allowed legal basis
   (``MISSING_LEGAL_BASIS``).

A valid signature does not stop a replay *before* the deadline: connectors dedupe by
exchange id (DESIGN.md, step 3). Keys load from raw 32-byte base64 or PEM, from a string or
a file; a bad key raises ``SigningKeyError`` without echoing the key material.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bus.envelope import Envelope
from bus.envelope_headers import MessageKind
from bus.errors import BusError, EnvelopeError
from bus.record_signing import (
    RecordSignatureError,
    RecordSigner,
    SignatureFailure,
    SigningKeyError,
    check_key_id,
    check_record_signature,
    load_private_key,
    load_private_key_file,
    load_public_key,
    public_key_text,
)
from bus.records import InboundRecord
from bus.signed_time import request_time_problem
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
    "public_key_text",
]

RequestSigner = RecordSigner
"""The gateway's request signer is the one record signer (kept under its old name)."""


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
    WRONG_TIME = "WRONG_TIME"
    """No deadline, one too far after ``ce_time``, or a ``ce_time`` ahead of the clock
    (``bus.signed_time``): what a key past its window would need to forge."""


_REASON_OF_FAILURE: Final = {
    SignatureFailure.UNSIGNED: RejectReason.UNSIGNED,
    SignatureFailure.MALFORMED: RejectReason.MALFORMED_ENVELOPE,
    SignatureFailure.UNKNOWN_KEY: RejectReason.UNKNOWN_KEY,
    SignatureFailure.BAD_SIGNATURE: RejectReason.BAD_SIGNATURE,
    SignatureFailure.KEY_NOT_VALID: RejectReason.UNKNOWN_KEY,
}


class RequestRejectedError(BusError):
    """A request record failed verification; ``reason`` says which check, ``detail`` how.

    Neither carries personal data or key material: they go to dead-letter headers and logs.
    """

    code = "BUS_REQUEST_REJECTED"

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"request refused ({reason.value}): {detail}")
        self.reason = reason
        self.detail = detail


# -- verification --------------------------------------------------------------------------
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
        key_windows: Callable[[str, datetime], bool] | None = None,
    ) -> None:
        self._key_windows = key_windows
        if not keys:
            raise SigningKeyError("a verifier needs at least one trusted gateway key")
        self._keys = {check_key_id(key_id): key for key_id, key in keys.items()}
        self._modes = dict(consent_modes)
        self._bases = {service: frozenset(b) for service, b in (legal_bases or {}).items()}

    @classmethod
    def from_catalogue(
        cls,
        keys: Mapping[str, Ed25519PublicKey],
        catalogue: Catalogue,
        *,
        key_windows: Callable[[str, datetime], bool] | None = None,
    ) -> RequestVerifier:
        """A verifier for every service of ``catalogue``, with its modes and legal bases.

        ``key_windows(key_id, signing time)``: whether a key may sign then (the members'
        key windows, ``MemberKeys.valid_at``); keys it does not know are always valid (those
        configured by id only, without a window)."""
        services = catalogue.services.values()
        return cls(
            keys,
            {s.id: s.meta.consent_mode for s in services},
            legal_bases={s.id: s.meta.legal_bases for s in services},
            key_windows=key_windows,
        )

    def verify(self, record: InboundRecord, *, now: datetime) -> Envelope:
        """The record's envelope once every check passed; else ``RequestRejectedError``."""
        return self.verify_with_digest(record, now=now)[0]

    def verify_with_digest(self, record: InboundRecord, *, now: datetime) -> tuple[Envelope, str]:
        """``verify``, and the request's ``request_digest`` (the SHA-256 of the bytes its
        signature covers, which the gateway stored and a reply must name), taken from the
        check instead of encoding the parsed envelope's headers again."""
        if record.value is None:
            raise RequestRejectedError(RejectReason.MALFORMED_ENVELOPE, "the record has no value")
        try:
            verified = check_record_signature(record.headers, record.value, self._keys.get)
        except RecordSignatureError as exc:
            raise RequestRejectedError(_REASON_OF_FAILURE[exc.reason], exc.detail) from None
        key_id = verified.key_id
        envelope = self._envelope(record)
        if self._key_windows is not None and not self._key_windows(key_id, envelope.time):
            raise RequestRejectedError(
                RejectReason.UNKNOWN_KEY, f"key {key_id} is not valid at the request's time"
            )
        self._check_claims(envelope, now)
        return envelope, verified.digest

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
        # The key window was checked at ce_time, which the signer wrote; the deadline
        # bounds how old that time can be (a retired gateway key cannot date a request
        # back into its window and still have it served).
        problem = request_time_problem(envelope.time, envelope.deadline, now)
        if problem is not None:
            raise RequestRejectedError(RejectReason.WRONG_TIME, problem)
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
