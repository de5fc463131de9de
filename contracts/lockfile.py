"""The lock file: each published schema's stable id and fingerprints.

Ids are what goes on the wire (Confluent framing), so once assigned they never change
and are never reused. The lock records, per (service, version, role):

* ``id``: the schema id; identical schema definitions share one id, as in a Schema
  Registry, where an id names a schema, not a registration;
* ``fingerprint``: SHA-256 of the schema's Parsing Canonical Form (the Avro
  specification's identity of a schema on the wire);
* ``definition_sha256``: SHA-256 of the whole definition, docs, defaults and aliases
  included. Canonical form drops defaults and aliases, yet they change how a reader
  resolves data, so an edit to them is an edit to a published schema too.

It lives next to the catalogue folder (``contracts/schemas.lock.json`` for the shipped
catalogue) and is written only by ``interop contracts check --lock``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pydantic
from fastavro.schema import to_parsing_canonical_form

from contracts.codec import SchemaId
from contracts.errors import CatalogueError

__all__ = [
    "LOCK_FILE_NAME",
    "LockEntry",
    "LockFile",
    "Role",
    "SchemaRef",
    "definition_digest",
    "fingerprint",
]

LOCK_FILE_NAME = "schemas.lock.json"
Role = Literal["request", "response", "event"]
"""``event``: a platform event contract (``contracts.events``), not a service schema."""


def fingerprint(schema: Any) -> str:
    """``sha256:<hex>`` of the schema's Parsing Canonical Form."""
    canonical = to_parsing_canonical_form(schema)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def definition_digest(schema: Any) -> str:
    """``sha256:<hex>`` of the whole definition, key order and whitespace aside."""
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class SchemaRef:
    """One schema of the catalogue: which service, version and role, and the schema."""

    service: str
    version: str
    role: Role
    schema: Any


class LockEntry(pydantic.BaseModel):
    """One published schema."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    id: int = pydantic.Field(ge=1, lt=2**31)
    service: str
    version: str
    role: Role
    fingerprint: str
    definition_sha256: str

    @property
    def schema_id(self) -> SchemaId:
        """The id, typed."""
        return SchemaId(self.id)


class LockFile(pydantic.BaseModel):
    """Every published schema, in the order ids were assigned."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    format: Literal[1] = 1
    schemas: tuple[LockEntry, ...] = ()

    @classmethod
    def load(cls, path: Path) -> LockFile:
        """Read the lock file; a missing file is an empty lock (nothing published yet)."""
        if not path.exists():
            return cls()
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the top level"
            raise CatalogueError(f"{path}: at {where}: {first['msg']}") from exc

    def save(self, path: Path) -> None:
        """Write the lock file (stable formatting, so diffs are reviewable)."""
        text = json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False)
        path.write_text(text + "\n", encoding="utf-8")

    def entry(self, service: str, version: str, role: Role) -> LockEntry | None:
        """The lock entry for one schema, or None when it is not published yet."""
        for item in self.schemas:
            if (item.service, item.version, item.role) == (service, version, role):
                return item
        return None

    def with_new(self, refs: Iterable[SchemaRef]) -> tuple[LockFile, list[LockEntry]]:
        """Assign ids to the schemas not yet locked; return the new lock and the additions.

        Entries already locked are kept as they are, even if the schema changed: refusing
        an edited published schema is the checker's job, not silently re-locking it.
        """
        by_definition = {item.definition_sha256: item.id for item in self.schemas}
        next_id = max((item.id for item in self.schemas), default=0) + 1
        added: list[LockEntry] = []
        for ref in refs:
            if self.entry(ref.service, ref.version, ref.role) is not None:
                continue
            digest = definition_digest(ref.schema)
            schema_id = by_definition.get(digest)
            if schema_id is None:
                schema_id, next_id = next_id, next_id + 1
                by_definition[digest] = schema_id
            added.append(
                LockEntry(
                    id=schema_id,
                    service=ref.service,
                    version=ref.version,
                    role=ref.role,
                    fingerprint=fingerprint(ref.schema),
                    definition_sha256=digest,
                )
            )
        return self.model_copy(update={"schemas": (*self.schemas, *added)}), added
