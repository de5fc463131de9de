"""The envelope: header mapping both ways, typed errors naming the header, signing bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bus import (
    DuplicatedHeaderError,
    Envelope,
    EnvelopeError,
    MalformedHeaderError,
    MessageKind,
    MissingHeaderError,
    ReplyStatus,
    parse_member_id,
)
from bus.envelope_headers import ALWAYS_REQUIRED, KNOWN_HEADERS
from tests.unit.bus.envelopes import PSEUDONYM, request_envelope


def _replace(headers: list[tuple[str, bytes]], name: str, value: bytes) -> list[tuple[str, bytes]]:
    assert any(k == name for k, _ in headers), f"{name} not in the envelope"
    return [(k, value if k == name else v) for k, v in headers]


def test_request_headers_are_the_documented_set() -> None:
    """A request carries CloudEvents, traceparent and interop_* headers as UTF-8 text."""
    envelope = request_envelope()
    headers = dict(envelope.to_headers())
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_id"] == envelope.exchange_id.encode()
    assert headers["ce_type"] == b"register.residence-certificate.v1.request"
    assert headers["content-type"] == b"application/avro"
    assert headers["interop_reply_topic"] == b"interop.rep.gw.a"
    assert headers["interop_reply_partition"] == b"2"
    assert headers["interop_subject_ref"] == PSEUDONYM.encode()
    assert headers["ce_time"].endswith(b"Z")
    assert "interop_status" not in headers


def test_every_field_maps_to_a_known_header_list() -> None:
    """A fixed vector, written by the encoder before it was made faster (commit 65be359):
    the headers are what signatures cover, so their text and order must not change."""
    envelope = Envelope.model_validate(
        {
            "exchange_id": "01a24939-5395-7101-a071-aa11db744b33",
            "source": "es.ayto-alcala",
            "service": "register.residence-certificate",
            "major": 1,
            "kind": MessageKind.REQUEST,
            "time": datetime(2026, 12, 6, 3, 4, 5, 678901, tzinfo=UTC),
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "provider": "es.ine.padron",
            "purpose": "social-benefits",
            "procedure": "proc-1",
            "legal_basis": "Ley 39/2015 art. 28",
            "consent_ref": "consent-9",
            "subject_ref": "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE",
            "subject_binding": "YmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9v",
            "field_key": "enc-1:" + "A" * 24,
            "deadline": datetime(2026, 12, 6, 3, 4, 15, 678901, tzinfo=UTC),
            "reply_topic": "interop.rep.gw.a",
            "reply_partition": 2,
            "key_id": "gw-1",
            "signature": "c2lnbmF0dXJl",
        }
    )
    assert envelope.to_headers() == [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"01a24939-5395-7101-a071-aa11db744b33"),
        ("ce_source", b"es.ayto-alcala"),
        ("ce_type", b"register.residence-certificate.v1.request"),
        ("ce_time", b"2026-12-06T03:04:05.678Z"),
        ("content-type", b"application/avro"),
        ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("interop_provider", b"es.ine.padron"),
        ("interop_purpose", b"social-benefits"),
        ("interop_procedure", b"proc-1"),
        ("interop_legal_basis", b"Ley 39/2015 art. 28"),
        ("interop_consent_ref", b"consent-9"),
        ("interop_subject_ref", b"Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE"),
        ("interop_subject_binding", b"YmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9v"),
        ("interop_field_key", b"enc-1:AAAAAAAAAAAAAAAAAAAAAAAA"),
        ("interop_deadline", b"2026-12-06T03:04:15.678Z"),
        ("interop_reply_topic", b"interop.rep.gw.a"),
        ("interop_reply_partition", b"2"),
        ("interop_key_id", b"gw-1"),
        ("interop_signature", b"c2lnbmF0dXJl"),
    ]
    assert Envelope.from_headers(envelope.to_headers()) == envelope


def test_request_and_reply_round_trip_through_headers() -> None:
    """from_headers(to_headers(e)) == e for a request and for its reply."""
    request = request_envelope()
    assert Envelope.from_headers(request.to_headers()) == request
    reply = request.reply(
        source=parse_member_id("es.ine"), status=ReplyStatus.ERROR, error_code="REGISTRY_DOWN"
    )
    assert reply.kind is MessageKind.REPLY
    assert reply.exchange_id == request.exchange_id
    assert reply.deadline is None
    assert Envelope.from_headers(reply.to_headers()) == reply


@pytest.mark.parametrize("header", ALWAYS_REQUIRED)
def test_each_missing_required_header_is_named(header: str) -> None:
    """Dropping any always-required header raises MissingHeaderError naming it."""
    headers = [(k, v) for k, v in request_envelope().to_headers() if k != header]
    with pytest.raises(MissingHeaderError) as caught:
        Envelope.from_headers(headers)
    assert caught.value.header == header


@pytest.mark.parametrize(
    "header", ["interop_deadline", "interop_reply_topic", "interop_reply_partition"]
)
def test_request_routing_headers_are_required(header: str) -> None:
    """A request without deadline or reply coordinates cannot be answered: refused."""
    headers = [(k, v) for k, v in request_envelope().to_headers() if k != header]
    with pytest.raises(MissingHeaderError) as caught:
        Envelope.from_headers(headers)
    assert caught.value.header == header


def test_a_duplicated_header_is_refused_even_with_the_same_value() -> None:
    """Two copies of a known header: which one is meant cannot be told."""
    headers = request_envelope().to_headers()
    with pytest.raises(DuplicatedHeaderError) as caught:
        Envelope.from_headers([*headers, headers[1]])
    assert caught.value.header == headers[1][0]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("ce_specversion", b"0.3"),
        ("ce_id", b"not-a-uuid"),
        ("ce_id", b"6ba7b810-9dad-41d1-80b4-00c04fd430c8"),
        ("ce_source", b"ES.AEAT"),
        ("ce_type", b"register.residence-certificate.v1.query"),
        ("ce_type", b"register.v1.request"),
        ("ce_time", b"yesterday"),
        ("content-type", b"application/json"),
        ("traceparent", b"00-xyz"),
        ("traceparent", b"\xff\xfe"),
        ("interop_purpose", b"two words"),
        ("interop_purpose", b"x\x00"),
        ("interop_legal_basis", "Ley\u202e".encode()),
        ("interop_subject_ref", b"12345678Z"),
        ("interop_deadline", b"1715249472345"),
        ("interop_reply_topic", b"interop.req.a.b.v1"),
        ("interop_reply_partition", b"-1"),
        ("interop_reply_partition", b"01"),
        ("interop_reply_partition", b"99999999"),
        ("interop_provider", b"x" * 2000),
    ],
)
def test_malformed_header_values_are_named(header: str, value: bytes) -> None:
    """Each garbled value raises MalformedHeaderError naming its header, never a KeyError."""
    with pytest.raises(MalformedHeaderError) as caught:
        Envelope.from_headers(_replace(request_envelope().to_headers(), header, value))
    assert caught.value.header == header
    assert caught.value.code == "BUS_ENVELOPE_HEADER_MALFORMED"


def test_reply_only_headers_on_a_request_are_refused() -> None:
    """interop_status on a request is malformed: the request/reply split is strict."""
    headers = [*request_envelope().to_headers(), ("interop_status", b"ok")]
    with pytest.raises(MalformedHeaderError) as caught:
        Envelope.from_headers(headers)
    assert caught.value.header == "interop_status"


def test_a_reply_needs_a_status_and_error_codes_only_when_not_ok() -> None:
    """Constructing a reply without status, or ok with an error code, is refused."""
    request = request_envelope()
    reply = request.reply(source=parse_member_id("es.ine"), status=ReplyStatus.OK)
    without_status = [(k, v) for k, v in reply.to_headers() if k != "interop_status"]
    with pytest.raises(MissingHeaderError, match="interop_status"):
        Envelope.from_headers(without_status)
    with pytest.raises(ValidationError, match="interop_error_code"):
        request.reply(source=parse_member_id("es.ine"), status=ReplyStatus.OK, error_code="X")


def test_unknown_headers_are_ignored() -> None:
    """Headers of other tools (and dead-letter headers) do not disturb parsing."""
    envelope = request_envelope()
    headers = [("b3", b"x"), *envelope.to_headers(), ("interop_dlq_reason", b"why")]
    assert Envelope.from_headers(headers) == envelope


def test_key_id_and_signature_come_together() -> None:
    """A signature without a key id (or the reverse) is refused."""
    with pytest.raises(ValidationError, match="interop_key_id"):
        request_envelope(signature="c2lnbmF0dXJl")
    signed = request_envelope(signature="c2lnbmF0dXJl", key_id="gw-2026-01")
    assert Envelope.from_headers(signed.to_headers()) == signed


def test_signing_bytes_cover_everything_but_the_signature() -> None:
    """Same envelope and value → same bytes; any header or the value changes them."""
    unsigned = request_envelope(key_id="gw-2026-01", signature="AAAA")
    other_signature = unsigned.model_copy(update={"signature": "BBBB"})
    base = unsigned.signing_bytes(b"value")
    assert other_signature.signing_bytes(b"value") == base
    assert Envelope.from_headers(unsigned.to_headers()).signing_bytes(b"value") == base
    assert unsigned.signing_bytes(b"value2") != base
    assert unsigned.model_copy(update={"purpose": "other"}).signing_bytes(b"value") != base
    assert unsigned.model_copy(update={"key_id": "gw-2026-02"}).signing_bytes(b"value") != base
    assert b"AAAA" not in base


def test_naive_datetimes_are_refused() -> None:
    """A deadline without a timezone is ambiguous across administrations: refused."""
    with pytest.raises(ValidationError, match="timezone"):
        request_envelope(deadline=datetime(2030, 1, 1))


_header_names = st.sampled_from([*sorted(KNOWN_HEADERS), "other"])
_header_values = st.one_of(st.binary(max_size=80), st.none())


@given(
    extra=st.lists(st.tuples(_header_names, _header_values), max_size=8),
    drop=st.sets(st.sampled_from(sorted(KNOWN_HEADERS)), max_size=4),
)
def test_garbage_headers_only_ever_raise_envelope_errors(
    extra: list[tuple[str, bytes | None]], drop: set[str]
) -> None:
    """Any mix of dropped, garbled and repeated headers parses or raises an EnvelopeError."""
    headers: list[tuple[str, bytes | None]] = [
        (k, v) for k, v in request_envelope().to_headers() if k not in drop
    ]
    headers += extra
    error: EnvelopeError | None = None
    try:
        Envelope.from_headers(headers)
    except EnvelopeError as exc:
        error = exc
    assert error is None or error.header in KNOWN_HEADERS | {"envelope"}


@given(
    seconds=st.integers(1, 10**6),
    partition=st.integers(0, 1000),
    purpose=st.from_regex(r"[a-z][a-z0-9.-]{0,30}", fullmatch=True),
)
def test_valid_envelopes_round_trip(seconds: int, partition: int, purpose: str) -> None:
    """Property: every valid request envelope survives the trip through headers exactly."""
    envelope = request_envelope(
        deadline=datetime.now(UTC) + timedelta(seconds=seconds),
        reply_partition=partition,
        purpose=purpose,
    )
    assert Envelope.from_headers(envelope.to_headers()) == envelope
