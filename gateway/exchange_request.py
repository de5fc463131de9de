"""The body of ``POST /v1/exchanges`` and its headers, parsed strictly.

Every problem is reported at once with its JSON pointer: malformed JSON, duplicated keys,
``NaN``, unknown top-level fields, wrong types, codes that could not travel in a Kafka
header. ``data`` is checked later against the service version's request schema (its
pointers are then prefixed with ``/data``). Nothing here logs a value: the body holds the
subject's identifier and the requested data.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Final

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from bus import check_code, check_text
from gateway.consent.subjects import normalise_subject, subject_pseudonym
from gateway.errors import FieldProblem, InvalidRequestError, UnsupportedMediaTypeError
from gateway.json_body import field_problems, load_json_object

__all__ = [
    "BATCH_KEY_PREFIX",
    "ExchangeRequest",
    "check_content_type",
    "check_official",
    "normalise_subject",
    "parse_exchange_request",
    "parse_idempotency_key",
    "parse_prefer_wait",
    "request_digest",
    "subject_pseudonym",
]

_MAX_TEXT: Final = 256
BATCH_KEY_PREFIX: Final = "batch:"
"""Idempotency keys the batch worker gives its items' exchanges; refused from callers, so
no request can take an item's key (and its exchange) before the worker sends it."""
_IDEMPOTENCY_KEY_RE: Final = re.compile(r"[\x21-\x7e]{1,200}")
# RFC 7240: Prefer = 1#preference; preference = token [ BWS "=" BWS word ] *( OWS ";" ... )
_WAIT_RE: Final = re.compile(r"\s*wait\s*=\s*\"?([0-9]{1,6})\"?\s*", re.IGNORECASE)


_OFFICIAL_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}")
_DIGIT_RUN_RE: Final = re.compile(r"[0-9]{7,}")


def check_official(value: str) -> str:
    """An official's identifier code: 1 to 64 of ``A-Z a-z 0-9 . _ : @ -``, starting with a
    letter or digit, and no run of 7 or more digits (a DNI, NIE or phone number would
    carry a person's identifier into the audit log). Auditors and spreadsheets read it,
    so it can neither hold a formula nor free text."""
    if _OFFICIAL_RE.fullmatch(value) is None:
        raise ValueError(
            "an official's identifier code: 1 to 64 letters, digits or . _ : @ -, "
            "starting with a letter or digit"
        )
    if _DIGIT_RUN_RE.search(value) is not None:
        raise ValueError(
            "an official's code, not a national identifier: no run of 7 or more digits"
        )
    return value


def _code(value: str) -> str:
    return check_code(value)


def _text(value: str) -> str:
    return check_text(value)


Code = Annotated[str, AfterValidator(_code)]
Text = Annotated[str, Field(max_length=_MAX_TEXT), AfterValidator(_text)]


class ExchangeRequest(BaseModel):
    """What a back-office sends (DESIGN.md, *Exchange lifecycle*, step 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    service: Annotated[str, Field(min_length=1, max_length=200)]
    version: Annotated[str, Field(min_length=1, max_length=20)]
    provider: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    subject: Annotated[
        str, Field(min_length=1, max_length=_MAX_TEXT), AfterValidator(normalise_subject)
    ]
    """The subject's identifier (NIF, NIE, passport...), normalised and its check letter
    verified (``gateway/consent/subjects.py``): only its pseudonym is kept."""
    purpose: Code
    procedure: Code | None = None
    case_file: Text | None = None
    official: Annotated[str, AfterValidator(check_official)]
    """The civil servant who asks (auditors and citizens ask *who* looked): an identifier
    code of the official in the requesting administration, never their national id
    (``check_official``)."""
    legal_basis: Text | None = None
    consent_ref: Code | None = None
    data: dict[str, Any]


def check_content_type(content_type: str, what: str = "the exchange request") -> None:
    """415 unless the body is JSON (``application/json``, any charset parameter)."""
    if content_type.lower() != "application/json":
        raise UnsupportedMediaTypeError(f"send {what} as application/json")


def parse_exchange_request(body: bytes) -> tuple[ExchangeRequest, dict[str, Any]]:
    """The validated request and the decoded JSON document (for the idempotency digest)."""
    document = load_json_object(body)
    try:
        request = ExchangeRequest.model_validate(document)
    except pydantic.ValidationError as exc:
        problems = field_problems(exc)
        raise InvalidRequestError(
            f"{len(problems)} problem(s) in the exchange request", problems
        ) from None
    return request, document


def request_digest(document: dict[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of the body: same meaning, same digest."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_idempotency_key(header: str | None) -> str | None:
    """The ``Idempotency-Key`` header: 1..200 visible ASCII characters, or absent."""
    if header is None:
        return None
    key = header.strip().strip('"')
    if _IDEMPOTENCY_KEY_RE.fullmatch(key) is None:
        raise InvalidRequestError(
            "Idempotency-Key must be 1 to 200 visible ASCII characters",
            [FieldProblem("", "invalid Idempotency-Key header")],
        )
    if key.startswith(BATCH_KEY_PREFIX):
        raise InvalidRequestError(
            f"Idempotency-Key values starting with {BATCH_KEY_PREFIX!r} are reserved for"
            " batch items",
            [FieldProblem("", "reserved Idempotency-Key prefix")],
        )
    return key


def parse_prefer_wait(header: str | None, *, cap_s: float) -> float | None:
    """Seconds to wait from ``Prefer: wait=N`` (RFC 7240), capped; ``None`` when absent.

    Other preferences are ignored, as RFC 7240 asks; a malformed ``wait`` is ignored too
    (a preference is a hint, never a reason to refuse the request).
    """
    if header is None:
        return None
    for preference in header.split(","):
        name, _, _ = preference.partition(";")
        match = _WAIT_RE.fullmatch(name)
        if match is not None:
            return min(float(match[1]), cap_s)
    return None
