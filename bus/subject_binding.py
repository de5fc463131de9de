"""The subject binding: which subject a signed request's data must name.

The gateway decides consent for the request's ``subject`` and checks that the data's
subject fields (``subject_fields`` in the contract) name the same person. It then puts
``HMAC-SHA-256(key, "interop-bus/subject-binding" 0x00 exchange id 0x00 normalised subject)``
in the signed envelope (``interop_subject_binding``). The connector recomputes it from the
data it decoded, before it calls the registry: a request whose data names someone else
than the subject its consent was decided for is refused at both ends.

Keyed with the payload-digest key that the gateway and the connectors already share, not
the subject-pseudonym key (which stays with the gateway), and salted with the exchange id,
so the header can neither be brute-forced into an identifier by someone who reads the
topic nor be linked across exchanges like the pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
from base64 import urlsafe_b64encode
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from contracts import InvalidSubjectError, normalise_subject, subject_values

__all__ = ["SubjectMismatch", "check_subject_binding", "subject_binding"]

_DOMAIN: Final = b"interop-bus/subject-binding\x00"


def subject_binding(key: bytes, exchange_id: str, subject: str) -> str:
    """The binding of ``subject`` (normalised here) to ``exchange_id``, base64url."""
    message = _DOMAIN + exchange_id.encode("ascii") + b"\x00"
    message += normalise_subject(subject).encode("utf-8")
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class SubjectMismatch:
    """Why a request's data does not name its bound subject (a value, not an error):
    ``pointer`` into the data and a stable ``reason`` code; never the identifier."""

    pointer: str
    reason: str


def check_subject_binding(
    key: bytes,
    exchange_id: str,
    binding: str | None,
    data: Mapping[str, Any],
    paths: Iterable[str],
) -> SubjectMismatch | None:
    """None when every subject field of ``data`` names the bound subject, else why not."""
    if binding is None:
        return SubjectMismatch("", "SUBJECT_BINDING_MISSING")
    for pointer, value in subject_values(data, paths):
        if not isinstance(value, str):
            return SubjectMismatch(pointer, "SUBJECT_FIELD_MISSING")
        try:
            expected = subject_binding(key, exchange_id, value)
        except InvalidSubjectError:
            return SubjectMismatch(pointer, "SUBJECT_FIELD_INVALID")
        if not hmac.compare_digest(expected, binding):
            return SubjectMismatch(pointer, "SUBJECT_MISMATCH")
    return None
