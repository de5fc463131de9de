"""The envelope: what every request and reply says about itself, in Kafka headers.

CloudEvents binary mode (``ce_*`` headers, ``content-type``), W3C ``traceparent`` and the
``interop_*`` headers of DESIGN.md. The value of the record is the Avro payload; it is not
part of this model. All header values are UTF-8 text; see ``bus/header_values.py`` for the
rules each value follows. ``Envelope.from_headers`` never raises anything but an
``EnvelopeError`` naming the header at fault.

========================== ======================= ==========================================
header                     field                   presence
========================== ======================= ==========================================
ce_specversion             (always ``1.0``)        always
ce_id                      exchange_id (UUIDv7)    always
ce_source                  source (member id)      always
ce_type                    service, major, kind    always: ``<service>.v<major>.request|reply``
ce_time                    time                    always (RFC 3339 UTC, milliseconds)
content-type               content_type            always (``application/avro``)
traceparent                traceparent             always
interop_provider           provider (member id)    always
interop_purpose            purpose (code)          always
interop_procedure          procedure (code)        optional
interop_legal_basis        legal_basis (text)      optional
interop_consent_ref        consent_ref (code)      optional
interop_subject_ref        subject_ref (pseudonym) optional; never a raw identifier
interop_subject_binding    subject_binding (b64u)  requests naming a subject: binds the data's
                                                   subject fields to the exchange (keyed MAC)
interop_field_key          field_key               requests with personal fields: their data
                                                   key, wrapped for the provider
                                                   (``bus.field_encryption``)
interop_deadline           deadline                requests (RFC 3339 UTC, milliseconds)
interop_reply_topic        reply_topic             requests (``interop.rep.<group>``)
interop_reply_partition    reply_partition         requests (decimal, >= 0)
interop_status             status                  replies (ok|not_found|error|rejected)
interop_error_code         error_code (code)       replies whose status is not ok, optional
interop_request_digest     request_digest (hex)    replies: SHA-256 of the request's signed bytes
interop_key_id             key_id (code)           optional, together with the signature
interop_signature          signature (base64url)   optional, together with the key id
========================== ======================= ==========================================
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from bus.envelope_headers import (
    CONTENT_TYPE_AVRO,
    HEADER_FOR_FIELD,
    SIGNATURE_HEADER,
    SPEC_VERSION,
    MessageKind,
    ReplyStatus,
    canonical_signing_bytes,
    decode_header_values,
    format_ce_type,
    header_of_field,
    parse_fields,
)
from bus.errors import BusError, MalformedHeaderError, MissingHeaderError
from bus.header_values import (
    check_base64url,
    check_code,
    check_pseudonym,
    check_text,
    format_time,
    truncate_to_millis,
)
from bus.ids import (
    ExchangeId,
    MemberId,
    ServiceId,
    new_exchange_id,
    parse_exchange_id,
    parse_major_version,
    parse_member_id,
    parse_service_id,
)
from bus.topics import ReplyTopic, TopicName, parse_topic
from bus.traceparent import TraceParent, child_traceparent, parse_traceparent, trace_id_of

__all__ = ["Envelope", "MessageKind", "ReplyStatus", "kind_rule_violation"]

_T = TypeVar("_T")


def _bus_check(check: Callable[[_T], Any]) -> AfterValidator:
    """Run a ``parse_*``/``check_*`` function as a pydantic validator.

    Pydantic turns only ``ValueError`` into a ``ValidationError``; ``BusError``s from the
    id parsers are re-raised as ``ValueError`` so construction reports them the same way.
    """

    def validate(value: _T) -> _T:
        try:
            check(value)
        except BusError as exc:
            raise ValueError(exc.message) from None
        return value

    return AfterValidator(validate)


def _check_reply_topic(name: str) -> None:
    if not isinstance(parse_topic(name), ReplyTopic):
        raise ValueError("must be a reply topic interop.rep.<gateway-group>")


_FIELD_KEY_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,100}:[A-Za-z0-9_-]{16,400}")


def _check_field_key(text: str) -> str:
    if _FIELD_KEY_RE.fullmatch(text) is None:
        raise ValueError("must be <key id>:<base64url>")
    return text


def _check_utc_millis(moment: datetime) -> datetime:
    return truncate_to_millis(moment)


_Code = Annotated[str, _bus_check(check_code)]
_Member = Annotated[MemberId, _bus_check(parse_member_id)]
_Time = Annotated[datetime, AfterValidator(_check_utc_millis)]


class Envelope(BaseModel):
    """The headers of one request or reply, validated; immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange_id: Annotated[ExchangeId, _bus_check(parse_exchange_id)]
    source: _Member
    service: Annotated[ServiceId, _bus_check(parse_service_id)]
    major: Annotated[int, _bus_check(lambda m: parse_major_version(str(m)))]
    kind: MessageKind
    time: _Time
    content_type: Annotated[str, _bus_check(check_code)] = CONTENT_TYPE_AVRO
    traceparent: Annotated[TraceParent, AfterValidator(parse_traceparent)]
    provider: _Member
    purpose: _Code
    procedure: _Code | None = None
    legal_basis: Annotated[str, AfterValidator(check_text)] | None = None
    consent_ref: _Code | None = None
    subject_ref: Annotated[str, AfterValidator(check_pseudonym)] | None = None
    subject_binding: Annotated[str, AfterValidator(check_pseudonym)] | None = None
    """``bus.subject_binding``: a keyed MAC over the exchange id and the subject the
    gateway checked the data against, so the connector can re-check the data it decodes."""
    field_key: Annotated[str, AfterValidator(_check_field_key)] | None = None
    """``bus.field_encryption``: the data key of the request's personal fields, wrapped
    for the provider's encryption key (``<key id>:<base64url>``)."""
    deadline: _Time | None = None
    reply_topic: Annotated[TopicName, _bus_check(_check_reply_topic)] | None = None
    reply_partition: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    status: ReplyStatus | None = None
    error_code: _Code | None = None
    request_digest: _Code | None = None
    key_id: _Code | None = None
    signature: Annotated[str, AfterValidator(check_base64url)] | None = None

    @model_validator(mode="after")
    def _kind_rules(self) -> Self:
        problem = kind_rule_violation(self.model_dump())
        if problem is not None:
            header, reason = problem
            raise ValueError(f"{header}: {reason}")
        return self

    # -- construction ----------------------------------------------------------------
    @classmethod
    def new_request(
        cls,
        *,
        source: MemberId,
        service: ServiceId,
        major: int,
        provider: MemberId,
        purpose: str,
        deadline: datetime,
        reply_topic: TopicName,
        reply_partition: int,
        traceparent: TraceParent,
        procedure: str | None = None,
        legal_basis: str | None = None,
        consent_ref: str | None = None,
        subject_ref: str | None = None,
    ) -> Envelope:
        """A request envelope with a fresh exchange id, stamped now."""
        return cls(
            exchange_id=new_exchange_id(),
            source=source,
            service=service,
            major=major,
            kind=MessageKind.REQUEST,
            time=datetime.now(UTC),
            traceparent=traceparent,
            provider=provider,
            purpose=purpose,
            procedure=procedure,
            legal_basis=legal_basis,
            consent_ref=consent_ref,
            subject_ref=subject_ref,
            deadline=deadline,
            reply_topic=reply_topic,
            reply_partition=reply_partition,
        )

    def reply(
        self,
        *,
        source: MemberId,
        status: ReplyStatus,
        error_code: str | None = None,
        request_digest: str | None = None,
    ) -> Envelope:
        """The envelope of the reply to this request: same exchange id, policy copied.

        ``request_digest`` binds the reply to the request record it answers (see
        ``bus.record_signing.request_digest``)."""
        return Envelope(
            exchange_id=self.exchange_id,
            source=source,
            service=self.service,
            major=self.major,
            kind=MessageKind.REPLY,
            time=datetime.now(UTC),
            traceparent=child_traceparent(self.traceparent),
            provider=self.provider,
            purpose=self.purpose,
            procedure=self.procedure,
            legal_basis=self.legal_basis,
            consent_ref=self.consent_ref,
            subject_ref=self.subject_ref,
            status=status,
            error_code=error_code,
            request_digest=request_digest,
        )

    # -- headers ---------------------------------------------------------------------
    def to_headers(self) -> list[tuple[str, bytes]]:
        """The Kafka headers of this envelope, in a fixed order (absent fields omitted)."""
        # Every record is signed from these headers and sent with them (three calls per
        # record made), so the fields are read in header order, without a model dump.
        headers: list[tuple[str, bytes]] = []
        for header, field in _FIELD_OF_HEADER:
            if field is None:
                text = SPEC_VERSION
            elif field == "ce_type":
                text = format_ce_type(self.service, self.major, self.kind)
            else:
                value = getattr(self, field)
                if value is None:
                    continue
                text = format_time(value) if isinstance(value, datetime) else str(value)
            headers.append((header, text.encode()))
        return headers

    @classmethod
    def from_headers(cls, headers: Sequence[tuple[str, bytes | None]]) -> Envelope:
        """Parse a record's headers; raise an ``EnvelopeError`` naming the bad header.

        Headers the envelope does not know are ignored (other tooling adds its own, and
        dead-letter records carry ``interop_dlq_*``); a known header that appears twice is
        refused, because which copy is meant cannot be told.
        """
        texts = decode_header_values(headers)
        fields = parse_fields(texts)
        problem = kind_rule_violation(fields)
        if problem is not None:
            header, reason = problem
            if header not in texts:
                raise MissingHeaderError(header, reason)
            raise MalformedHeaderError(header, reason)
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else ""
            reason = first["msg"].removeprefix("Value error, ")
            raise MalformedHeaderError(header_of_field(field), reason) from None

    def signing_bytes(self, value: bytes) -> bytes:
        """The canonical bytes a signature covers: every header but the signature, and value.

        The same bytes ``canonical_signing_bytes`` computes from the record's raw headers
        (see ``bus/envelope_headers.py``): the header form is lossless (times in
        milliseconds), so signer and verifier agree on every machine.
        """
        return canonical_signing_bytes(self.to_headers(), value)

    def log_context(self) -> dict[str, str]:
        """What to bind into log lines at an ingress (no personal data: ids and codes)."""
        return {
            "exchange_id": self.exchange_id,
            "trace_id": trace_id_of(self.traceparent),
            "requester": self.source if self.kind is MessageKind.REQUEST else self.provider,
            "service": f"{self.service}.v{self.major}",
        }


_HEADER_ORDER: Final = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "content-type",
    "traceparent",
    *(h for h in HEADER_FOR_FIELD.values() if h.startswith("interop_") and h != SIGNATURE_HEADER),
    SIGNATURE_HEADER,
)
_FIELD_BY_HEADER: Final = {header: field for field, header in HEADER_FOR_FIELD.items()}
_FIELD_OF_HEADER: Final = tuple(
    (header, "ce_type" if header == "ce_type" else _FIELD_BY_HEADER.get(header))
    for header in _HEADER_ORDER
)
"""(header, the field it carries) in header order; ``ce_type`` is made from three fields
and ``ce_specversion`` from none (None)."""


def kind_rule_violation(fields: Mapping[str, object]) -> tuple[str, str] | None:
    """The first rule of the request/reply split that ``fields`` break, as (header, why)."""
    kind = fields.get("kind")
    required, forbidden = _KIND_RULES.get(str(kind), ((), ()))
    problems = [(f, f"required on a {kind}") for f in required if fields.get(f) is None]
    problems += [(f, f"not allowed on a {kind}") for f in forbidden if fields.get(f) is not None]
    if fields.get("status") == ReplyStatus.OK and fields.get("error_code") is not None:
        problems.append(("error_code", "not allowed when the status is ok"))
    if (fields.get("key_id") is None) != (fields.get("signature") is None):
        missing = "key_id" if fields.get("key_id") is None else "signature"
        problems.append((missing, "key id and signature come together"))
    if not problems:
        return None
    field, reason = problems[0]
    return HEADER_FOR_FIELD[field], reason


_REQUEST_ONLY: Final = ("deadline", "reply_topic", "reply_partition")
_KIND_RULES: Final[Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    MessageKind.REQUEST.value: (_REQUEST_ONLY, ("status", "error_code", "request_digest")),
    MessageKind.REPLY.value: (("status",), (*_REQUEST_ONLY, "subject_binding", "field_key")),
}
