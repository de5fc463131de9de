"""The JSON bodies of the consent API: strict parsing in, pseudonymous JSON out.

Parsing reports every problem at once with its JSON pointer (as ``POST /v1/exchanges``
does): malformed JSON, duplicated keys, unknown fields, wrong types, a subject whose check
letter is wrong, a naive time. Nothing returned ever holds the subject's identifier: the
registry keeps and shows only its pseudonym.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final, TypeVar

import pydantic
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from bus import check_code
from gateway.consent.records import Consent, EvidenceChannel, Opposition
from gateway.consent.registry import ConsentGrant, OppositionGrant
from gateway.consent.subjects import normalise_subject
from gateway.errors import FieldProblem, InvalidRequestError, UnsupportedMediaTypeError
from gateway.json_body import field_problems, load_json_object

__all__ = [
    "ConsentBody",
    "OppositionBody",
    "consent_json",
    "opposition_json",
    "parse_body",
    "parse_subject_query",
]

_DIGEST_RE: Final = re.compile(r"sha256:[0-9a-f]{64}")
_MAX_ITEMS: Final = 50
_MAX_TIME_TEXT: Final = 64


def _code(value: str) -> str:
    return check_code(value)


def _digest(value: str) -> str:
    if _DIGEST_RE.fullmatch(value) is None:
        raise ValueError("must be sha256:<64 lower-case hex digits> of the evidence")
    return value


def _iso_time(value: object) -> datetime:
    # Only ISO 8601 text, as the OpenAPI document says: pydantic alone would also take a
    # number, or a string of digits, as Unix time (seconds or milliseconds, its guess).
    if not isinstance(value, str) or len(value) > _MAX_TIME_TEXT:
        raise ValueError("must be an ISO 8601 time with a zone, as text (2026-05-09T10:00:00Z)")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            "must be an ISO 8601 time with a zone, as text (2026-05-09T10:00:00Z)"
        ) from None


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a time zone (e.g. 2026-05-09T10:00:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00, 9999-12-31T23:59-00:01
        raise ValueError("must lie between years 1 and 9999 once in UTC") from None


def _distinct(values: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(values)) != len(values):
        raise ValueError("list each entry once")
    return values


Code = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_code)]
Codes = Annotated[
    tuple[Code, ...], Field(min_length=1, max_length=_MAX_ITEMS), AfterValidator(_distinct)
]
Subject = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(normalise_subject)]
Moment = Annotated[datetime, BeforeValidator(_iso_time), AfterValidator(_aware)]


class EvidenceBody(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: EvidenceChannel
    digest: Annotated[str, AfterValidator(_digest)]


class ConsentBody(BaseModel):
    """``POST /v1/consents``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: Subject
    grantee: Code | None = None
    """The member the consent is given to; absent or null: any member (portal only)."""
    services: Codes
    purposes: Codes
    valid_from: Moment | None = None
    valid_until: Moment | None = None
    evidence: EvidenceBody

    def grant(self) -> ConsentGrant:
        return ConsentGrant(
            subject=self.subject,
            grantee=self.grantee,
            services=self.services,
            purposes=self.purposes,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            evidence_channel=self.evidence.channel,
            evidence_digest=self.evidence.digest,
        )


class OppositionBody(BaseModel):
    """``POST /v1/oppositions``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: Subject
    services: Codes
    requesters: Annotated[
        tuple[Code, ...], Field(max_length=_MAX_ITEMS), AfterValidator(_distinct)
    ] = ()
    """Only these requesters; empty or absent: every requester."""

    def grant(self) -> OppositionGrant:
        return OppositionGrant(
            subject=self.subject, services=self.services, requesters=self.requesters
        )


_Model = TypeVar("_Model", bound=BaseModel)


def parse_body(content_type: str, body: bytes, model: type[_Model]) -> _Model:
    """``body`` as ``model``; 415 unless JSON, 400 with every problem otherwise."""
    if content_type.lower() != "application/json":
        raise UnsupportedMediaTypeError("send the body as application/json")
    document = load_json_object(body)
    try:
        return model.model_validate(document)
    except pydantic.ValidationError as exc:
        problems = field_problems(exc)
        raise InvalidRequestError(f"{len(problems)} problem(s) in the body", problems) from None


def parse_subject_query(value: str | None) -> str:
    """The ``subject`` query parameter, normalised (400 with a pointer when bad)."""
    if value is None or not value.strip():
        raise InvalidRequestError(
            "name the subject: ?subject=<identifier>",
            [FieldProblem("/subject", "required query parameter")],
        )
    try:
        return normalise_subject(value[:256])
    except ValueError as exc:
        raise InvalidRequestError(
            "the subject identifier is not valid", [FieldProblem("/subject", str(exc))]
        ) from None


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def consent_json(consent: Consent, now: datetime) -> dict[str, Any]:
    """A consent as the API shows it: its state now, the subject only as a pseudonym."""
    return {
        "id": consent.id,
        "subject_ref": consent.subject_ref,
        "state": consent.state_at(now).value,
        "grantee": consent.grantee,
        "services": list(consent.services),
        "purposes": list(consent.purposes),
        "valid_from": _iso(consent.valid_from),
        "valid_until": _iso(consent.valid_until),
        "evidence": {"channel": consent.evidence_channel.value, "digest": consent.evidence_digest},
        "recorded_by": consent.recorded_by,
        "created_at": _iso(consent.created_at),
        "revoked_at": _iso(consent.revoked_at),
        "revoked_by": consent.revoked_by,
    }


def opposition_json(opposition: Opposition) -> dict[str, Any]:
    """An opposition as the API shows it."""
    return {
        "id": opposition.id,
        "subject_ref": opposition.subject_ref,
        "state": "active" if opposition.active else "revoked",
        "services": list(opposition.services),
        "requesters": list(opposition.requesters),
        "recorded_by": opposition.recorded_by,
        "created_at": _iso(opposition.created_at),
        "revoked_at": _iso(opposition.revoked_at),
        "revoked_by": opposition.revoked_by,
    }
