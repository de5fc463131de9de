"""The root of interop-bus's exception tree, and the contracts family.

``contracts`` is the bottom of the import graph (contracts <- bus <- gateway, connectors),
so the root every package derives from lives here::

    InteropError                       root: every error this project raises on purpose
    ├── ContractError                  contracts: catalogue, schemas, codec, JSON mapping
    │   ├── CatalogueError             a service.yaml, a version folder or the lock file is wrong
    │   ├── SchemaLoadError            an .avsc file is not valid JSON or not a valid Avro schema
    │   ├── InvalidSchemaError         a schema object handed to compat/json_avro is not Avro
    │   ├── CodecError                 a Kafka value cannot be framed or unframed
    │   │   ├── UnsupportedFramingError   magic byte 1 (GUID) or header-carried schema ids
    │   │   ├── BadMagicByteError         the first byte is not a Confluent magic byte at all
    │   │   ├── UnknownSchemaIdError      the schema id is not in the catalogue
    │   │   ├── TruncatedMessageError     the value ends before the datum does
    │   │   ├── TrailingBytesError        bytes left over after the datum
    │   │   ├── MalformedDatumError       the bytes do not decode with the writer's schema
    │   │   ├── SchemaResolutionError     the writer's schema cannot be read with the reader's
    │   │   └── EncodeError               the datum does not match the schema it is written with
    │   ├── DataValidationError        JSON data does not fit a schema (every problem at once)
    │   └── InvalidSubjectError        (contracts.subjects) a subject identifier is malformed
    ├── bus.errors.BusError            bus: topics, envelope, Kafka client, request-reply
    ├── storage.urls.InvalidStoreUrlError        a store URL names no backend we have
    ├── storage.migrations.SchemaTooNewError   a database migrated by a newer release
    ├── gateway.errors.GatewayError    gateway: HTTP API problems
    ├── connectors.errors.ConnectorError          connectors, legacy adapters included
    ├── gateway.audit_client.AuditClientError     the audit API did not answer usefully
    └── interop.*: SettingsError, RunnerError...  the command line's

``tests/unit/test_error_tree.py`` walks every module: each exception class is in this tree
(but two documented control-flow signals) and no two classes define the same ``code``.

Every class carries a stable machine-readable ``code`` (used at the HTTP edge and in
dead-letter headers, so it must never change once published) and a ``retriable`` flag
saying whether doing the same thing again may succeed. Nothing in this family is
retriable: the same bytes, schema or file give the same answer every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import pydantic

__all__ = [
    "BadMagicByteError",
    "CatalogueError",
    "CodecError",
    "ContractError",
    "DataProblem",
    "DataValidationError",
    "EncodeError",
    "InteropError",
    "InvalidSchemaError",
    "MalformedDatumError",
    "SchemaLoadError",
    "SchemaResolutionError",
    "TrailingBytesError",
    "TruncatedMessageError",
    "UnknownSchemaIdError",
    "UnsupportedFramingError",
    "validation_problems",
]


class InteropError(Exception):
    """Root of every error interop-bus raises on purpose."""

    code: ClassVar[str] = "INTEROP_ERROR"
    retriable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ContractError(InteropError):
    """A catalogue, schema, codec or JSON-mapping problem."""

    code = "CONTRACT_ERROR"


class CatalogueError(ContractError):
    """A ``service.yaml``, a version folder or the lock file is missing or malformed."""

    code = "CONTRACT_CATALOGUE_INVALID"


class SchemaLoadError(ContractError):
    """An ``.avsc`` file is not valid JSON or not a valid Avro schema.

    The message names the file, the location inside it and the reason.
    """

    code = "CONTRACT_SCHEMA_INVALID"


class InvalidSchemaError(ContractError):
    """A schema object (as ``json.loads`` returns it) is not a valid Avro schema.

    ``pointer`` is the RFC 6901 JSON pointer of the offending node.
    """

    code = "CONTRACT_SCHEMA_OBJECT_INVALID"

    def __init__(self, pointer: str, reason: str) -> None:
        super().__init__(f"{pointer or '/'}: {reason}")
        self.pointer = pointer
        self.reason = reason


class CodecError(ContractError):
    """A Kafka value could not be framed or unframed."""

    code = "CONTRACT_CODEC_ERROR"


class UnsupportedFramingError(CodecError):
    """A framing Confluent serializers can produce but interop-bus does not accept."""

    code = "CONTRACT_CODEC_UNSUPPORTED_FRAMING"


class BadMagicByteError(CodecError):
    """The value does not start with the Confluent magic byte."""

    code = "CONTRACT_CODEC_BAD_MAGIC_BYTE"


class UnknownSchemaIdError(CodecError):
    """The value names a schema id the catalogue does not hold."""

    code = "CONTRACT_CODEC_UNKNOWN_SCHEMA_ID"

    def __init__(self, schema_id: int) -> None:
        super().__init__(f"schema id {schema_id} is not in the catalogue")
        self.schema_id = schema_id


class TruncatedMessageError(CodecError):
    """The value ends before its header or its datum does."""

    code = "CONTRACT_CODEC_TRUNCATED"


class TrailingBytesError(CodecError):
    """Bytes are left over after the datum: the value is not what its header says."""

    code = "CONTRACT_CODEC_TRAILING_BYTES"


class MalformedDatumError(CodecError):
    """The Avro binary does not decode with the writer's schema."""

    code = "CONTRACT_CODEC_MALFORMED"


class SchemaResolutionError(CodecError):
    """A datum written with one schema cannot be read with the reader's schema."""

    code = "CONTRACT_CODEC_RESOLUTION_FAILED"


class EncodeError(CodecError):
    """The datum does not match the schema it is to be written with."""

    code = "CONTRACT_CODEC_ENCODE_FAILED"


DataProblem = tuple[str, str]
"""One problem in a JSON document: (RFC 6901 JSON pointer, human message)."""


class DataValidationError(ContractError):
    """JSON data does not fit a schema; ``problems`` lists every problem, not the first."""

    code = "CONTRACT_DATA_INVALID"

    def __init__(self, problems: Sequence[DataProblem]) -> None:
        self.problems: tuple[DataProblem, ...] = tuple(problems)
        shown = "; ".join(f"{pointer or '/'}: {message}" for pointer, message in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the data: {shown}")


def validation_problems(exc: pydantic.ValidationError, separator: str = "; ") -> str:
    """Every problem of a settings or document model, ``field.path: what is wrong`` each
    (pydantic's "Value error, " prefix dropped), for one-sentence errors."""
    return separator.join(
        f"{'.'.join(str(p) for p in err['loc']) or 'top level'}: "
        f"{str(err['msg']).removeprefix('Value error, ')}"
        for err in exc.errors()
    )
