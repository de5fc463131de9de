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

from bus.header_values import check_code, check_text
from gateway.consent.subjects import normalise_subject, subject_pseudonym
from gateway.errors import FieldProblem, InvalidRequestError, UnsupportedMediaTypeError

__all__ = [
    "ExchangeRequest",
    "check_content_type",
    "normalise_subject",
    "parse_exchange_request",
    "parse_idempotency_key",
    "parse_prefer_wait",
    "request_digest",
    "subject_pseudonym",
]

_MAX_TEXT: Final = 256
_IDEMPOTENCY_KEY_RE: Final = re.compile(r"[\x21-\x7e]{1,200}")
# RFC 7240: Prefer = 1#preference; preference = token [ BWS "=" BWS word ] *( OWS ";" ... )
_WAIT_RE: Final = re.compile(r"\s*wait\s*=\s*\"?([0-9]{1,6})\"?\s*", re.IGNORECASE)


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
    official: Text
    """The civil servant who asks (auditors and citizens ask *who* looked)."""
    legal_basis: Text | None = None
    consent_ref: Code | None = None
    data: dict[str, Any]


def check_content_type(content_type: str) -> None:
    """415 unless the body is JSON (``application/json``, any charset parameter)."""
    if content_type.lower() != "application/json":
        raise UnsupportedMediaTypeError("send the exchange request as application/json")


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key[:40]!r} appears twice in one object")
        result[key] = value
    return result


def _pointer(loc: tuple[int | str, ...]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in loc)


def parse_exchange_request(body: bytes) -> tuple[ExchangeRequest, dict[str, Any]]:
    """The validated request and the decoded JSON document (for the idempotency digest)."""
    try:
        text = body.decode("utf-8")
        document = json.loads(
            text, parse_constant=_refuse_constant, object_pairs_hook=_no_duplicates
        )
    except UnicodeDecodeError:
        raise InvalidRequestError("the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InvalidRequestError(f"the body is not acceptable JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidRequestError(
            "the body must be a JSON object", [FieldProblem("", "expected an object")]
        )
    try:
        request = ExchangeRequest.model_validate(document)
    except pydantic.ValidationError as exc:
        problems = [
            FieldProblem(_pointer(err["loc"]), err["msg"].removeprefix("Value error, "))
            for err in exc.errors()
        ]
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
