"""The wire codec: Confluent framing, schema resolution and typed errors for bad bytes."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.codec import Codec, SchemaId, frame, unframe
from contracts.errors import (
    BadMagicByteError,
    CodecError,
    EncodeError,
    MalformedDatumError,
    SchemaResolutionError,
    TrailingBytesError,
    TruncatedMessageError,
    UnknownSchemaIdError,
    UnsupportedFramingError,
)

V1_0: dict[str, Any] = {
    "type": "record",
    "name": "Query",
    "namespace": "es.test",
    "fields": [
        {"name": "subject", "type": "string"},
        {"name": "year", "type": "int"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
    ],
}
V1_1: dict[str, Any] = {
    **V1_0,
    "fields": [
        *V1_0["fields"],
        {"name": "channel", "type": ["null", "string"], "default": None},
    ],
}
INCOMPATIBLE: dict[str, Any] = {
    "type": "record",
    "name": "Query",
    "namespace": "es.test",
    "fields": [{"name": "required_now", "type": "long"}],
}
ID_1_0, ID_1_1, ID_BAD = SchemaId(1), SchemaId(2), SchemaId(3)


@pytest.fixture
def codec() -> Codec:
    """A codec over two compatible versions of one record and an incompatible third."""
    return Codec({ID_1_0: V1_0, ID_1_1: V1_1, ID_BAD: INCOMPATIBLE})


def test_encoding_uses_confluent_framing(codec: Codec) -> None:
    """Magic byte 0, the id as 4 big-endian bytes, then Avro binary."""
    value = codec.encode(ID_1_1, {"subject": "x", "year": 2024, "kind": "B", "channel": None})
    assert value[:5] == b"\x00\x00\x00\x00\x02"
    # "x" = len 1 zigzag (0x02) + 0x78; 2024 zigzag varint; enum index 1; union branch 0.
    assert value[5:] == b"\x02x\xd0\x1f\x02\x00"


def test_round_trip_with_the_writers_schema(codec: Codec) -> None:
    """Without a reader id the datum comes back as written, with the writer's id."""
    datum = {"subject": "12345678Z", "year": 2023, "kind": "A"}
    decoded = codec.decode(codec.encode(ID_1_0, datum))
    assert decoded.writer_id == ID_1_0
    assert decoded.datum == datum


def test_newer_writer_is_resolved_into_an_older_reader(codec: Codec) -> None:
    """A 1.0 reader reads what a 1.1 writer wrote: the extra field is skipped."""
    value = codec.encode(ID_1_1, {"subject": "s", "year": 1, "kind": "B", "channel": "sede"})
    assert codec.decode(value, ID_1_0).datum == {"subject": "s", "year": 1, "kind": "B"}


def test_older_writer_is_resolved_into_a_newer_reader(codec: Codec) -> None:
    """A 1.1 reader reads what a 1.0 writer wrote: the new field takes its default."""
    value = codec.encode(ID_1_0, {"subject": "s", "year": 1, "kind": "A"})
    assert codec.decode(value, ID_1_1).datum["channel"] is None


def test_unresolvable_reader_is_a_typed_error(codec: Codec) -> None:
    """A reader schema that cannot read the writer's gives SchemaResolutionError."""
    value = codec.encode(ID_1_0, {"subject": "s", "year": 1, "kind": "A"})
    with pytest.raises(SchemaResolutionError):
        codec.decode(value, ID_BAD)


def test_unknown_schema_id(codec: Codec) -> None:
    """An id outside the catalogue is UnknownSchemaIdError, carrying the id."""
    with pytest.raises(UnknownSchemaIdError) as caught:
        codec.decode(frame(SchemaId(99), b""))
    assert caught.value.schema_id == 99


def test_unknown_schema_id_on_encode(codec: Codec) -> None:
    """Encoding with an unknown id fails the same way."""
    with pytest.raises(UnknownSchemaIdError):
        codec.encode(SchemaId(42), {})


@pytest.mark.parametrize("first", [2, 0x7B, 0xFF])
def test_wrong_magic_byte(codec: Codec, first: int) -> None:
    """A value that does not start with 0x00 (e.g. raw JSON) is BadMagicByteError."""
    with pytest.raises(BadMagicByteError, match=f"0x{first:02x}"):
        codec.decode(bytes([first]) + b"\x00\x00\x00\x01")


def test_guid_framing_is_refused_by_name(codec: Codec) -> None:
    """Magic byte 1 (schema GUID) gets its own error saying what it is."""
    value = b"\x01" + bytes(16) + b"\x02x"
    with pytest.raises(UnsupportedFramingError, match="magic byte 1"):
        codec.decode(value)


@pytest.mark.parametrize("header", ["__value_schema_id", "__key_schema_id"])
def test_header_carried_schema_ids_are_refused(codec: Codec, header: str) -> None:
    """A schema id in a Kafka header is refused even if the value looks framed."""
    value = codec.encode(ID_1_0, {"subject": "s", "year": 1, "kind": "A"})
    with pytest.raises(UnsupportedFramingError, match=header):
        codec.decode(value, header_names=["traceparent", header])


@pytest.mark.parametrize("value", [b"", b"\x00", b"\x00\x00\x00\x01"])
def test_truncated_header(codec: Codec, value: bytes) -> None:
    """A value shorter than the 5-byte header is TruncatedMessageError."""
    with pytest.raises(TruncatedMessageError):
        codec.decode(value)


def test_every_truncation_of_a_datum_is_a_typed_error(codec: Codec) -> None:
    """Cutting a valid value anywhere inside its datum gives TruncatedMessageError."""
    value = codec.encode(ID_1_0, {"subject": "ab", "year": 300, "kind": "B"})
    for cut in range(5, len(value)):
        with pytest.raises(TruncatedMessageError):
            codec.decode(value[:cut])


def test_trailing_bytes(codec: Codec) -> None:
    """Bytes after the datum mean the value is not what its header says."""
    value = codec.encode(ID_1_0, {"subject": "s", "year": 1, "kind": "A"})
    with pytest.raises(TrailingBytesError, match="1 byte"):
        codec.decode(value + b"\x00")


def test_malformed_datum(codec: Codec) -> None:
    """Invalid UTF-8 or an out-of-range enum index is MalformedDatumError."""
    with pytest.raises(MalformedDatumError):
        codec.decode(frame(ID_1_0, b"\x02\xff\x02\x00"))
    with pytest.raises(MalformedDatumError):
        codec.decode(frame(ID_1_0, b"\x02x\x02\x08"))  # enum index 4 of 2 symbols


@pytest.mark.parametrize(
    "datum",
    [
        {"subject": "s", "year": 2**31, "kind": "A"},
        {"subject": "s", "year": 1, "kind": "C"},
        {"subject": 5, "year": 1, "kind": "A"},
        {"year": 1, "kind": "A"},
        {"subject": "s", "year": 1, "kind": "A", "extra": True},
    ],
    ids=["int-overflow", "bad-symbol", "wrong-type", "missing", "unknown-field"],
)
def test_encoding_a_datum_that_does_not_fit_is_a_typed_error(codec: Codec, datum: Any) -> None:
    """fastavro's validation and writer errors become EncodeError."""
    with pytest.raises(EncodeError):
        codec.encode(ID_1_0, datum)


def test_frame_refuses_ids_outside_the_header() -> None:
    """A negative or too-large id cannot be written in 4 signed bytes."""
    with pytest.raises(EncodeError):
        frame(SchemaId(-1), b"")
    with pytest.raises(EncodeError):
        frame(SchemaId(2**31), b"")


def test_unframe_splits_header_and_payload() -> None:
    """unframe returns the id and the Avro bytes that follow the header."""
    assert unframe(struct.pack(">bI", 0, 258) + b"abc") == (258, b"abc")


@given(st.binary(max_size=64), st.sampled_from([ID_1_0, ID_1_1]))
def test_random_bytes_only_ever_raise_codec_errors(payload: bytes, reader: SchemaId) -> None:
    """Fuzz: whatever follows a valid header, decode returns or raises a CodecError.

    This is the test that fails when fastavro grows an exception the codec does not map.
    """
    codec = Codec({ID_1_0: V1_0, ID_1_1: V1_1})
    outcome: object
    try:
        outcome = codec.decode(frame(ID_1_0, payload), reader).datum
    except CodecError as exc:  # the only exception family allowed out
        outcome = exc
    assert isinstance(outcome, (dict, CodecError))
