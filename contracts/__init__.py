"""The catalogue: versioned Avro contracts per service, compatibility and the wire codec.

Public API (everything else is internal):

* catalogue: ``load_catalogue``, ``Catalogue`` (``subjects``, ``schemas_by_id``),
  ``Service``, ``ServiceMeta``, ``ContractVersion``, ``Version``, ``VersionMeta``,
  ``ConsentMode``, ``Classification``, ``VersionStatus``, ``DEFAULT_CATALOGUE_DIR``;
* compatibility: ``check``, ``is_compatible``, ``CompatibilityMode``, ``Incompatibility``;
* wire codec: ``Codec``, ``Decoded``, ``SchemaId``, ``frame``, ``unframe``;
* JSON for the gateway: ``json_to_avro``, ``avro_to_json``;
* lock file and registry view: ``LockFile``, ``Subject``, ``SubjectVersion``;
* checks: ``check_catalogue``, ``Problem``; AsyncAPI: ``asyncapi_document``;
* errors: the ``ContractError`` family (see ``contracts.errors``).
"""

from contracts.asyncapi import asyncapi_document
from contracts.catalogue import (
    DEFAULT_CATALOGUE_DIR,
    Catalogue,
    Classification,
    ConsentMode,
    ContractVersion,
    Service,
    ServiceMeta,
    Version,
    VersionMeta,
    VersionStatus,
    load_catalogue,
)
from contracts.checks import check_catalogue
from contracts.codec import Codec, Decoded, SchemaId, frame, unframe
from contracts.compat import CompatibilityMode, Incompatibility, check, is_compatible
from contracts.errors import (
    BadMagicByteError,
    CatalogueError,
    CodecError,
    ContractError,
    DataValidationError,
    EncodeError,
    InteropError,
    InvalidSchemaError,
    MalformedDatumError,
    SchemaLoadError,
    SchemaResolutionError,
    TrailingBytesError,
    TruncatedMessageError,
    UnknownSchemaIdError,
    UnsupportedFramingError,
)
from contracts.examples import example_request_data
from contracts.json_avro import avro_to_json, json_to_avro
from contracts.lint import Problem
from contracts.lockfile import LockFile
from contracts.registry import Subject, SubjectVersion
from contracts.subjects import (
    InvalidSubjectError,
    normalise_subject,
    subject_pseudonym,
    subject_values,
)

__all__ = [
    "DEFAULT_CATALOGUE_DIR",
    "BadMagicByteError",
    "Catalogue",
    "CatalogueError",
    "Classification",
    "Codec",
    "CodecError",
    "CompatibilityMode",
    "ConsentMode",
    "ContractError",
    "ContractVersion",
    "DataValidationError",
    "Decoded",
    "EncodeError",
    "Incompatibility",
    "InteropError",
    "InvalidSchemaError",
    "InvalidSubjectError",
    "LockFile",
    "MalformedDatumError",
    "Problem",
    "SchemaId",
    "SchemaLoadError",
    "SchemaResolutionError",
    "Service",
    "ServiceMeta",
    "Subject",
    "SubjectVersion",
    "TrailingBytesError",
    "TruncatedMessageError",
    "UnknownSchemaIdError",
    "UnsupportedFramingError",
    "Version",
    "VersionMeta",
    "VersionStatus",
    "asyncapi_document",
    "avro_to_json",
    "check",
    "check_catalogue",
    "example_request_data",
    "frame",
    "is_compatible",
    "json_to_avro",
    "load_catalogue",
    "normalise_subject",
    "subject_pseudonym",
    "subject_values",
    "unframe",
]
