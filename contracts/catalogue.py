"""The catalogue: services, their metadata and their versioned request/response schemas.

Layout (DESIGN.md, *Contracts*)::

    services/<domain>/<service>/service.yaml
    services/<domain>/<service>/<MAJOR>.<MINOR>/request.avsc
    services/<domain>/<service>/<MAJOR>.<MINOR>/response.avsc

The service id is ``<domain>.<service>``. ``load_catalogue`` refuses a malformed file
with its path, the location inside it (line and column, key path or JSON pointer) and
the reason. Loading checks structure only; the policy checks (lint, compatibility, lock)
live in ``contracts.checks``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from functools import total_ordering
from pathlib import Path
from typing import Annotated, Any, Final, Self

import pydantic
import yaml

from contracts.avro_schema import parse
from contracts.codec import SchemaId
from contracts.errors import CatalogueError, InvalidSchemaError, SchemaLoadError
from contracts.lockfile import LOCK_FILE_NAME, LockFile, SchemaRef
from contracts.registry import Subject, SubjectVersion, build_schemas_by_id, build_subjects

__all__ = [
    "DEFAULT_CATALOGUE_DIR",
    "Catalogue",
    "Classification",
    "ConsentMode",
    "ContractVersion",
    "Service",
    "ServiceMeta",
    "Version",
    "VersionMeta",
    "VersionStatus",
    "load_catalogue",
]

DEFAULT_CATALOGUE_DIR: Final = Path(__file__).parent / "services"
_SEGMENT: Final = r"[a-z][a-z0-9-]*"
_VERSION: Final = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")

MemberId = Annotated[str, pydantic.StringConstraints(pattern=r"^[a-z0-9]+([.-][a-z0-9]+)*$")]
Code = Annotated[str, pydantic.StringConstraints(pattern=rf"^{_SEGMENT}$")]
Text = Annotated[str, pydantic.StringConstraints(strip_whitespace=True, min_length=1)]
FieldPath = Annotated[
    str, pydantic.StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
]


class ConsentMode(StrEnum):
    """How a request's lawfulness is decided (DESIGN.md, *Consent modes*).

    They correspond to SCSP's consent values ``Si``, ``NoOpo`` and ``Ley``.
    """

    EXPLICIT = "explicit"
    PRESUMED = "presumed"
    LEGAL = "legal"


class Classification(StrEnum):
    """How sensitive the response data is (GDPR art. 9 data is ``special-category``)."""

    PUBLIC = "public"
    INTERNAL = "internal"
    PERSONAL = "personal"
    SPECIAL_CATEGORY = "special-category"


class VersionStatus(StrEnum):
    """A version's lifecycle: served, served with a warning, or no longer served."""

    ACTIVE = "active"
    DEPRECATED = "deprecated"
    SUNSET = "sunset"


@total_ordering
class Version:
    """A contract version ``MAJOR.MINOR``, ordered numerically (1.10 after 1.9)."""

    __slots__ = ("major", "minor")

    def __init__(self, major: int, minor: int) -> None:
        self.major = major
        self.minor = minor

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse ``"1.0"``; raise ValueError on anything else."""
        match = _VERSION.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not a MAJOR.MINOR version")
        return cls(int(match[1]), int(match[2]))

    def _key(self) -> tuple[int, int]:
        return (self.major, self.minor)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def __repr__(self) -> str:
        return f"Version({self.major}, {self.minor})"


class VersionMeta(pydantic.BaseModel):
    """Per-version lifecycle from ``service.yaml``."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    status: VersionStatus
    sunset_date: date | None = None
    """When the version stops (or stopped) being served."""
    subject_fields: tuple[FieldPath, ...] = pydantic.Field(min_length=1)
    """The request field(s) that identify the subject, as dotted paths into the request
    record (``nif``, ``subject.document_number``). The gateway refuses a request whose
    data names anyone but the subject its consent decision was made for, and the connector
    re-checks it (DESIGN.md, *Trust on the bus*): every version must name them."""
    personal_fields: tuple[FieldPath, ...] = ()
    """Further request fields that hold personal data (a social-security number...). With
    the subject fields they are encrypted for the provider on the bus
    (``bus.field_encryption``): each must be an Avro ``string`` or nullable ``string``."""

    @property
    def sealed_fields(self) -> tuple[str, ...]:
        """Every request field encrypted for the provider: the subject fields, then the
        other personal fields."""
        extra = tuple(p for p in self.personal_fields if p not in self.subject_fields)
        return (*self.subject_fields, *extra)


class ServiceMeta(pydantic.BaseModel):
    """The contents of a ``service.yaml``."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    title: Text
    description: Text
    providers: list[MemberId] = pydantic.Field(min_length=1)
    consent_mode: ConsentMode
    legal_bases: list[Text] = []
    """Allowed legal basis citations; a request must cite one (required for ``legal``)."""
    purposes: list[Code] = pydantic.Field(min_length=1)
    opposition_exempt_procedures: list[Code] = []
    """Procedure types where ``presumed`` ignores oppositions (sanctioning, inspection)."""
    classification: Classification
    timeout_ms: int = pydantic.Field(default=10_000, ge=100, le=120_000)
    versions: dict[str, VersionMeta] = pydantic.Field(min_length=1)

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.consent_mode is ConsentMode.LEGAL and not self.legal_bases:
            raise ValueError("consent_mode 'legal' needs at least one entry in legal_bases")
        if self.opposition_exempt_procedures and self.consent_mode is not ConsentMode.PRESUMED:
            raise ValueError("opposition_exempt_procedures only applies to consent_mode 'presumed'")
        for key, meta in self.versions.items():
            if _VERSION.fullmatch(key) is None:
                raise ValueError(f"version {key!r} is not MAJOR.MINOR")
            if meta.status is VersionStatus.SUNSET and meta.sunset_date is None:
                raise ValueError(f"version {key} is sunset but has no sunset_date")
        return self


class ContractVersion(pydantic.BaseModel):
    """One version of one service: its lifecycle and its two schemas."""

    model_config = pydantic.ConfigDict(frozen=True, arbitrary_types_allowed=True)

    service_id: str
    version: Version
    meta: VersionMeta
    request: Any
    response: Any
    folder: Path


class Service(pydantic.BaseModel):
    """A service: id, metadata and versions in ascending order."""

    model_config = pydantic.ConfigDict(frozen=True)

    id: str
    meta: ServiceMeta
    versions: tuple[ContractVersion, ...]
    folder: Path

    @property
    def domain(self) -> str:
        """The administration domain, e.g. ``tax``."""
        return self.id.split(".", 1)[0]

    def majors(self) -> dict[int, list[ContractVersion]]:
        """Versions grouped by major, minors in ascending order."""
        grouped: dict[int, list[ContractVersion]] = {}
        for item in self.versions:
            grouped.setdefault(item.version.major, []).append(item)
        return grouped

    def version(self, text: str) -> ContractVersion | None:
        """The version ``"1.1"``, or None."""
        return next((v for v in self.versions if str(v.version) == text), None)


class Catalogue(pydantic.BaseModel):
    """Every service of a catalogue folder, by id."""

    model_config = pydantic.ConfigDict(frozen=True)

    root: Path
    services: dict[str, Service]

    def schema_refs(self) -> Iterator[SchemaRef]:
        """Every schema of every version: service id, version, role, schema."""
        for service in self.services.values():
            for item in service.versions:
                yield SchemaRef(service.id, str(item.version), "request", item.request)
                yield SchemaRef(service.id, str(item.version), "response", item.response)

    def subjects(self, lock: LockFile) -> dict[Subject, tuple[SubjectVersion, ...]]:
        """The Schema Registry view: every subject and its ordered versions with ids.

        See ``contracts.registry`` for the subject naming. Raises ``CatalogueError`` if a
        schema has no id in ``lock`` yet.
        """
        return build_subjects(self.schema_refs(), lock)

    def schemas_by_id(self, lock: LockFile) -> dict[SchemaId, Any]:
        """Schema id -> schema, for ``contracts.codec.Codec`` and ``/schemas/ids/{id}``."""
        return build_schemas_by_id(self.schema_refs(), lock)

    def lock_path(self) -> Path:
        """Where this catalogue's lock file lives: next to the catalogue folder."""
        return self.root.parent / LOCK_FILE_NAME


def load_catalogue(root: Path = DEFAULT_CATALOGUE_DIR) -> Catalogue:
    """Load every service under ``root``; raise ``CatalogueError``/``SchemaLoadError``."""
    if not root.is_dir():
        raise CatalogueError(f"{root}: the catalogue folder does not exist")
    services: dict[str, Service] = {}
    for meta_path in sorted(root.glob("*/*/service.yaml")):
        service = _load_service(meta_path)
        services[service.id] = service
    stray = sorted(p for p in root.glob("*/*") if p.is_dir() and not (p / "service.yaml").exists())
    if stray:
        raise CatalogueError(f"{stray[0]}: a service folder without service.yaml")
    return Catalogue(root=root, services=services)


def _load_service(meta_path: Path) -> Service:
    folder = meta_path.parent
    service_id = f"{folder.parent.name}.{folder.name}"
    if not re.fullmatch(rf"{_SEGMENT}\.{_SEGMENT}", service_id):
        raise CatalogueError(f"{folder}: {service_id!r} is not a <domain>.<service> id")
    meta = _load_meta(meta_path)
    folders = {p.name for p in folder.iterdir() if p.is_dir()}
    declared = set(meta.versions)
    for name in sorted(folders - declared):
        raise CatalogueError(f"{folder / name}: version folder not declared in {meta_path.name}")
    for name in sorted(declared - folders):
        raise CatalogueError(f"{meta_path}: at versions.{name}: no folder {name}/ next to it")
    versions = sorted(
        (
            ContractVersion(
                service_id=service_id,
                version=Version.parse(name),
                meta=meta.versions[name],
                request=load_schema(folder / name / "request.avsc"),
                response=load_schema(folder / name / "response.avsc"),
                folder=folder / name,
            )
            for name in declared
        ),
        key=lambda v: v.version,
    )
    for item in versions:
        for path in item.meta.subject_fields:
            if not _is_string_field(item.request, path):
                raise CatalogueError(
                    f"{meta_path}: at versions.{item.version}.subject_fields: {path!r} is not "
                    "a string field of the request schema"
                )
        for path in item.meta.personal_fields:
            if not _is_string_field(item.request, path, nullable=True):
                raise CatalogueError(
                    f"{meta_path}: at versions.{item.version}.personal_fields: {path!r} is "
                    "not a string (or nullable string) field of the request schema: only a "
                    "string can carry its ciphertext"
                )
    return Service(id=service_id, meta=meta, versions=tuple(versions), folder=folder)


def _is_string_field(schema: Any, path: str, *, nullable: bool = False) -> bool:
    """Whether the dotted ``path`` names a required ``string`` field through nested records
    (or, with ``nullable``, a ``["null", "string"]`` one)."""
    node: Any = schema
    for name in path.split("."):
        if not isinstance(node, dict) or node.get("type") != "record":
            return False
        field = next((f for f in node.get("fields", []) if f.get("name") == name), None)
        if field is None:
            return False
        node = field["type"]
    if nullable and isinstance(node, list) and sorted(map(str, node)) == ["null", "string"]:
        return True
    if isinstance(node, dict) and node.get("logicalType") is None:
        node = node.get("type")
    return bool(node == "string")


def _load_meta(path: Path) -> ServiceMeta:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise CatalogueError(f"{path}: at {where}: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: {exc}") from exc
    try:
        return ServiceMeta.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = [
            f"at {'.'.join(str(p) for p in err['loc']) or 'the top level'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise CatalogueError(f"{path}: {'; '.join(problems)}") from exc


def load_schema(path: Path) -> Any:
    """Read an ``.avsc`` file and check it is a valid Avro schema (strict logical types)."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SchemaLoadError(f"{path}: missing") from exc
    except json.JSONDecodeError as exc:
        raise SchemaLoadError(
            f"{path}: at line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}"
        ) from exc
    try:
        parse(schema, strict=True)
    except InvalidSchemaError as exc:
        raise SchemaLoadError(f"{path}: at {exc.pointer or '/'}: {exc.reason}") from exc
    return schema
