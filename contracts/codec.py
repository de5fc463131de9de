"""The wire codec: Avro binary in Confluent framing, so standard Kafka tooling reads it.

A framed value is ``0x00`` (the magic byte), the schema id as 4 big-endian bytes, then
the Avro binary encoding of the datum with that schema. Decoding looks the writer's
schema up by id and resolves it into the reader's schema (Avro schema resolution), so
a consumer on minor 1.0 reads what a producer on 1.1 wrote.

Newer Confluent serializers can also frame with magic byte 1 followed by a 16-byte
schema GUID, or put the schema id in a ``__value_schema_id``/``__key_schema_id`` header
and send bare Avro. interop-bus does neither; both are refused with an error that says
which framing was seen, rather than being misread as data.

fastavro does the Avro work; its exceptions are translated into ``CodecError``
subclasses here and only here, so no caller ever sees an ``EOFError`` or a
``UnicodeDecodeError`` from a malformed value.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, NewType

import fastavro
from fastavro.read import SchemaResolutionError as _FastavroResolutionError
from fastavro.validation import ValidationError as _FastavroValidationError

from contracts.errors import (
    BadMagicByteError,
    EncodeError,
    MalformedDatumError,
    SchemaResolutionError,
    TrailingBytesError,
    TruncatedMessageError,
    UnknownSchemaIdError,
    UnsupportedFramingError,
)

__all__ = [
    "HEADER_SCHEMA_ID_KEYS",
    "MAGIC_BYTE",
    "Codec",
    "Decoded",
    "SchemaId",
    "frame",
    "unframe",
]

SchemaId = NewType("SchemaId", int)
"""A schema's id in the catalogue's lock file, the same number a Schema Registry serves."""

MAGIC_BYTE: Final = 0
_GUID_MAGIC_BYTE: Final = 1
_HEADER: Final = struct.Struct(">bI")
HEADER_SCHEMA_ID_KEYS: Final = frozenset({"__key_schema_id", "__value_schema_id"})
"""Kafka header names Confluent serializers use to carry a schema id out of band."""

# Every error fastavro's reader raises on bad bytes that is not an EOF or a resolution
# failure. test_codec fuzzes decode() so a new one shows up as a failing test.
_MALFORMED: Final = (
    ValueError,  # includes UnicodeDecodeError and fastavro's own value errors
    IndexError,  # an enum index or union branch beyond the schema's
    OverflowError,
    struct.error,
    MemoryError,
)


@dataclass(frozen=True)
class Decoded:
    """A decoded value: the datum, and the id of the schema it was written with."""

    writer_id: SchemaId
    datum: Any


def frame(schema_id: SchemaId, payload: bytes) -> bytes:
    """Prefix Avro binary with the Confluent header for ``schema_id``."""
    if not 0 <= schema_id < 2**31:
        raise EncodeError(f"schema id {schema_id} does not fit the Confluent header")
    return _HEADER.pack(MAGIC_BYTE, schema_id) + payload


def unframe(value: bytes, header_names: Collection[str] = ()) -> tuple[SchemaId, bytes]:
    """Split a framed value into (schema id, Avro binary); refuse other framings.

    ``header_names`` are the names of the Kafka record's headers, so a schema id carried
    in a header is refused by name instead of being misread as a framed value.
    """
    carried = HEADER_SCHEMA_ID_KEYS.intersection(header_names)
    if carried:
        raise UnsupportedFramingError(
            f"the schema id is carried in the Kafka header {sorted(carried)[0]!r} "
            "(Confluent header-based schema ids); interop-bus only accepts the id in "
            "the value, after magic byte 0"
        )
    if not value:
        raise TruncatedMessageError("the value is empty: no Confluent header")
    if value[0] == _GUID_MAGIC_BYTE:
        raise UnsupportedFramingError(
            "magic byte 1 (a schema GUID, from newer Confluent serializers) is not "
            "supported; configure the serializer to write 4-byte schema ids (magic byte 0)"
        )
    if value[0] != MAGIC_BYTE:
        raise BadMagicByteError(
            f"the first byte is 0x{value[0]:02x}, not the Confluent magic byte 0x00: "
            "the value is not in Confluent framing"
        )
    if len(value) < _HEADER.size:
        raise TruncatedMessageError(
            f"the value has {len(value)} bytes, fewer than the {_HEADER.size}-byte header"
        )
    _, schema_id = _HEADER.unpack_from(value)
    return SchemaId(schema_id), value[_HEADER.size :]


class Codec:
    """Encode and decode framed values against a fixed set of schemas, parsed once.

    ``schemas`` maps schema ids to schemas as ``json.loads`` returns them (the
    catalogue's ``schemas_by_id`` gives exactly that). Parsed schemas are cached.
    """

    def __init__(self, schemas: Mapping[int, Any]) -> None:
        self._schemas = dict(schemas)
        self._parsed: dict[int, Any] = {}

    def _parsed_schema(self, schema_id: int) -> Any:
        parsed = self._parsed.get(schema_id)
        if parsed is None:
            if schema_id not in self._schemas:
                raise UnknownSchemaIdError(schema_id)
            # A fresh names table per schema: two versions of one record may coexist.
            parsed = fastavro.parse_schema(self._schemas[schema_id], named_schemas={})
            self._parsed[schema_id] = parsed
        return parsed

    def encode(self, schema_id: SchemaId, datum: Any) -> bytes:
        """Write ``datum`` with the schema ``schema_id``, framed."""
        parsed = self._parsed_schema(schema_id)
        try:
            # raise_errors=True builds an exception (JSON-dumping the datum) for every union
            # branch it rules out, valid data included: five times the cost of a plain
            # yes/no. Ask yes/no first; only a datum that fails is checked again for why.
            if not fastavro.validation.validate(datum, parsed, raise_errors=False):
                fastavro.validation.validate(datum, parsed, raise_errors=True)
                raise EncodeError(f"the datum does not match schema {schema_id}")
            buffer = io.BytesIO()
            fastavro.schemaless_writer(buffer, parsed, datum, strict=True)
        except (_FastavroValidationError, *_MALFORMED, TypeError, KeyError) as exc:
            raise EncodeError(f"the datum does not match schema {schema_id}: {exc}") from exc
        return frame(schema_id, buffer.getvalue())

    def decode(
        self,
        value: bytes,
        reader_id: SchemaId | None = None,
        *,
        header_names: Collection[str] = (),
    ) -> Decoded:
        """Read a framed value, resolving the writer's schema into ``reader_id``'s.

        Without ``reader_id`` the datum is read with the writer's own schema.
        """
        writer_id, payload = unframe(value, header_names)
        writer = self._parsed_schema(writer_id)
        reader = None if reader_id in (None, writer_id) else self._parsed_schema(reader_id)
        buffer = io.BytesIO(payload)
        try:
            datum = fastavro.schemaless_reader(buffer, writer, reader)
        except _FastavroResolutionError as exc:
            raise SchemaResolutionError(
                f"data written with schema {writer_id} cannot be read with schema "
                f"{reader_id}: {exc}"
            ) from exc
        except (EOFError, *_MALFORMED) as exc:
            if isinstance(exc, EOFError) or _ends_too_soon(payload, writer):
                raise TruncatedMessageError(
                    f"the value ends inside the datum of schema {writer_id}"
                ) from exc
            raise MalformedDatumError(
                f"the value does not decode with schema {writer_id}: {exc}"
            ) from exc
        leftover = len(payload) - buffer.tell()
        if leftover:
            raise TrailingBytesError(f"{leftover} byte(s) follow the datum of schema {writer_id}")
        return Decoded(writer_id, datum)


# Zero bytes complete any Avro datum (varint 0, empty string, index 0, end of block), so
# a datum that decodes once padded was cut short rather than corrupt. fastavro reports a
# varint cut short as an IndexError, the same type as an enum index out of range.
_PADDING: Final = bytes(4096)


def _ends_too_soon(payload: bytes, writer: Any) -> bool:
    try:
        fastavro.schemaless_reader(io.BytesIO(payload + _PADDING), writer, None)
    except (EOFError, *_MALFORMED):
        return False
    return True
