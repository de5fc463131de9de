"""Header names of the envelope and the first, byte-level step of reading them.

``decode_header_values`` turns raw Kafka headers into text (refusing duplicates, missing
values, over-long values, invalid UTF-8 and invisible characters); ``parse_fields`` turns
that text into the typed values ``Envelope`` is built from. Both raise ``EnvelopeError``s
naming the header; ``bus/envelope.py`` does the rest of the validation.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Final

from bus.errors import (
    BusError,
    DuplicatedHeaderError,
    MalformedHeaderError,
    MissingHeaderError,
)
from bus.header_values import MAX_HEADER_VALUE_BYTES, check_safe_text, parse_time
from bus.ids import ServiceId, parse_major_version, parse_service_id

__all__ = [
    "ALWAYS_REQUIRED",
    "CONTENT_TYPE_AVRO",
    "HEADER_FOR_FIELD",
    "KEY_ID_HEADER",
    "KNOWN_HEADERS",
    "REQUEST_DIGEST_HEADER",
    "SIGNATURE_HEADER",
    "SPEC_VERSION",
    "MessageKind",
    "ReplyStatus",
    "canonical_signing_bytes",
    "decode_header_values",
    "format_ce_type",
    "header_of_field",
    "is_signed_header",
    "parse_ce_type",
    "parse_fields",
]

SPEC_VERSION: Final = "1.0"
CONTENT_TYPE_AVRO: Final = "application/avro"
SIGNATURE_HEADER: Final = "interop_signature"
KEY_ID_HEADER: Final = "interop_key_id"
REQUEST_DIGEST_HEADER: Final = "interop_request_digest"
"""On a reply: the SHA-256 (hex) of the signed bytes of the request it answers."""


class MessageKind(StrEnum):
    """The last segment of ``ce_type``."""

    REQUEST = "request"
    REPLY = "reply"


class ReplyStatus(StrEnum):
    """How the provider answered (``interop_status``)."""

    OK = "ok"
    NOT_FOUND = "not_found"
    ERROR = "error"
    REJECTED = "rejected"


HEADER_FOR_FIELD: Final[Mapping[str, str]] = {
    "exchange_id": "ce_id",
    "source": "ce_source",
    "time": "ce_time",
    "content_type": "content-type",
    "traceparent": "traceparent",
    "provider": "interop_provider",
    "purpose": "interop_purpose",
    "procedure": "interop_procedure",
    "legal_basis": "interop_legal_basis",
    "consent_ref": "interop_consent_ref",
    "subject_ref": "interop_subject_ref",
    "subject_binding": "interop_subject_binding",
    "field_key": "interop_field_key",
    "deadline": "interop_deadline",
    "reply_topic": "interop_reply_topic",
    "reply_partition": "interop_reply_partition",
    "status": "interop_status",
    "error_code": "interop_error_code",
    "request_digest": REQUEST_DIGEST_HEADER,
    "key_id": KEY_ID_HEADER,
    "signature": SIGNATURE_HEADER,
}
"""Envelope field -> the header carrying it (``service``/``major``/``kind`` share ``ce_type``)."""

ALWAYS_REQUIRED: Final = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "content-type",
    "traceparent",
    "interop_provider",
    "interop_purpose",
)
KNOWN_HEADERS: Final = frozenset({"ce_specversion", "ce_type", *HEADER_FOR_FIELD.values()})

_CE_TYPE_RE: Final = re.compile(r"(?P<service>.+)\.v(?P<major>[0-9]+)\.(?P<kind>request|reply)")
_PARTITION_RE: Final = re.compile(r"0|[1-9][0-9]{0,6}")


def header_of_field(field: str) -> str:
    """The header an envelope field comes from (for error messages)."""
    if field in {"service", "major", "kind"}:
        return "ce_type"
    return HEADER_FOR_FIELD.get(field, "envelope")


def format_ce_type(service: ServiceId, major: int, kind: MessageKind) -> str:
    """``<service>.v<major>.<kind>``, e.g. ``register.residence-certificate.v1.request``."""
    return f"{service}.v{major}.{kind.value}"


def parse_ce_type(text: str) -> tuple[ServiceId, int, MessageKind]:
    """Split ``ce_type``; raise ``ValueError`` or ``BusError`` when it is not that form."""
    match = _CE_TYPE_RE.fullmatch(text)
    if match is None:
        raise ValueError("must be <domain>.<service>.v<major>.request|reply")
    service = parse_service_id(match["service"])
    major = parse_major_version(match["major"])
    return service, major, MessageKind(match["kind"])


def decode_header_values(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, str]:
    """The text of every envelope header present, checked at the byte and character level."""
    texts: dict[str, str] = {}
    for name, raw in headers:
        if name not in KNOWN_HEADERS:
            continue
        if name in texts:
            raise DuplicatedHeaderError(name)
        if not isinstance(raw, bytes):
            raise MalformedHeaderError(name, "has no value")
        if len(raw) > MAX_HEADER_VALUE_BYTES:
            raise MalformedHeaderError(name, f"longer than {MAX_HEADER_VALUE_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
            check_safe_text(text, max_length=MAX_HEADER_VALUE_BYTES)
        except UnicodeDecodeError:
            raise MalformedHeaderError(name, "is not valid UTF-8") from None
        except ValueError as exc:
            raise MalformedHeaderError(name, str(exc)) from None
        texts[name] = text
    return texts


_SIGNING_DOMAIN: Final = b"interop-bus envelope signing v1\n"
_SIGNED_PREFIXES: Final = ("ce_", "interop_")
_SIGNED_NAMES: Final = frozenset({"traceparent", "content-type"})
_NO_VALUE: Final = 0xFFFF_FFFF


def is_signed_header(name: str) -> bool:
    """Whether the envelope signature covers ``name``: every ``ce_*``, ``interop_*``,
    ``traceparent`` and ``content-type`` header except the signature itself.

    Everything ``Envelope.from_headers`` reads is covered, so nothing a connector acts on
    can be changed without breaking the signature; headers other tooling adds are not.
    """
    if name == SIGNATURE_HEADER:
        return False
    return name in _SIGNED_NAMES or name.startswith(_SIGNED_PREFIXES)


_PACK_NAME_LENGTH: Final = struct.Struct(">H").pack
_PACK_VALUE_LENGTH: Final = struct.Struct(">I").pack
_NO_VALUE_BYTES: Final = _PACK_VALUE_LENGTH(_NO_VALUE)
_NAME_PREFIXES: dict[str, bytes] = {}
"""Header name -> its encoded (length, name): a record has a dozen signed headers, and
every exchange signs and checks six records. Bounded: names come from records too."""
_MAX_NAME_PREFIXES: Final = 256


def _name_prefix(name: str) -> bytes:
    prefix = _NAME_PREFIXES.get(name)
    if prefix is None:
        encoded = name.encode("utf-8", "surrogateescape")
        prefix = _PACK_NAME_LENGTH(len(encoded) & 0xFFFF) + encoded
        if len(_NAME_PREFIXES) < _MAX_NAME_PREFIXES:
            _NAME_PREFIXES[name] = prefix
    return prefix


def _signing_order(header: tuple[str, bytes | None]) -> tuple[str, bool, bytes]:
    return header[0], header[1] is None, header[1] or b""


def canonical_signing_bytes(headers: Sequence[tuple[str, bytes | None]], value: bytes) -> bytes:
    """The bytes a request signature covers, computed from the raw record headers.

    A domain-separation prefix, then each signed header in sorted order as (2-byte name
    length, name, 4-byte value length, value) and finally an 8-byte length and the record
    value: unambiguous (no two header lists encode alike) and computed on the raw bytes, so
    the verifier checks the signature before it parses anything. A header without a value
    is encoded with the length 0xFFFFFFFF and no bytes (distinct from an empty value);
    duplicates stay in, so a duplicated header never verifies.
    """
    signed = [header for header in headers if is_signed_header(header[0])]
    signed.sort(key=_signing_order)
    parts = [_SIGNING_DOMAIN]
    for name, raw in signed:
        parts.append(_name_prefix(name))
        if raw is None:
            parts.append(_NO_VALUE_BYTES)
        else:
            parts += (_PACK_VALUE_LENGTH(len(raw)), raw)
    parts += (struct.pack(">Q", len(value)), value)
    return b"".join(parts)


def _partition(text: str) -> int:
    if _PARTITION_RE.fullmatch(text) is None:
        raise ValueError("must be a partition number in decimal")
    return int(text)


def _status(text: str) -> ReplyStatus:
    try:
        return ReplyStatus(text)
    except ValueError:
        raise ValueError(f"must be one of {', '.join(s.value for s in ReplyStatus)}") from None


_CONVERTERS: Final[Mapping[str, Callable[[str], object]]] = {
    "time": parse_time,
    "deadline": parse_time,
    "reply_partition": _partition,
    "status": _status,
}


def parse_fields(texts: Mapping[str, str]) -> dict[str, object]:
    """Typed envelope fields from header text; missing or unconvertible headers raise."""
    for header in ALWAYS_REQUIRED:
        if header not in texts:
            raise MissingHeaderError(header)
    if texts["ce_specversion"] != SPEC_VERSION:
        raise MalformedHeaderError("ce_specversion", f"must be {SPEC_VERSION}")
    if texts["content-type"] != CONTENT_TYPE_AVRO:
        raise MalformedHeaderError("content-type", f"must be {CONTENT_TYPE_AVRO}")
    try:
        service, major, kind = parse_ce_type(texts["ce_type"])
    except (ValueError, BusError) as exc:
        raise MalformedHeaderError("ce_type", _reason(exc)) from None
    fields: dict[str, object] = {"service": service, "major": major, "kind": kind}
    for field, header in HEADER_FOR_FIELD.items():
        text = texts.get(header)
        if text is None:
            continue
        convert = _CONVERTERS.get(field)
        try:
            fields[field] = convert(text) if convert is not None else text
        except ValueError as exc:
            raise MalformedHeaderError(header, _reason(exc)) from None
    return fields


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, BusError) else str(exc)
