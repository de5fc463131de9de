"""The Schema Registry view of the catalogue: subjects, their versions and schema ids.

The gateway serves the read side of the Confluent Schema Registry API from this, so
standard Kafka tooling can decode every topic. Subject naming:

* requests use Confluent's TopicNameStrategy for the request topic:
  ``interop.req.<service-id>.v<major>-value``;
* platform events (``contracts.events``) use TopicNameStrategy for the topic they travel
  on: the audit event's subject is ``interop.audit-value``;
* responses travel on the shared reply topic ``interop.rep.<gateway-group>``, whose
  TopicNameStrategy subject would mix every service. Each service major gets its own
  subject instead, named like a request subject: ``interop.rep.<service-id>.v<major>-value``.
  Deserializers only need ``/schemas/ids/{id}``; the subject keeps each response
  schema's compatibility history in one place, as the registry's model expects.

A subject's versions are the major's minors in ascending order, numbered from 1. A minor
whose schema is identical to the previous minor's (same id) adds no subject version, as
registering an identical schema in a Schema Registry does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, NewType

from contracts.codec import SchemaId
from contracts.errors import CatalogueError
from contracts.lockfile import LockFile, SchemaRef

__all__ = [
    "Subject",
    "SubjectVersion",
    "build_schemas_by_id",
    "build_subjects",
    "event_subject",
    "request_subject",
    "response_subject",
]

Subject = NewType("Subject", str)


def request_subject(service_id: str, major: int) -> Subject:
    """The subject of a service major's request schemas."""
    return Subject(f"interop.req.{service_id}.v{major}-value")


def response_subject(service_id: str, major: int) -> Subject:
    """The subject of a service major's response schemas."""
    return Subject(f"interop.rep.{service_id}.v{major}-value")


# The topic each platform event travels on (TopicNameStrategy names its subject).
_EVENT_TOPICS: Final = {"audit-event": "interop.audit"}


def event_subject(event_name: str) -> Subject:
    """The subject of a platform event's schemas: ``<its topic>-value``."""
    return Subject(f"{_EVENT_TOPICS.get(event_name, 'interop.' + event_name)}-value")


@dataclass(frozen=True)
class SubjectVersion:
    """One version of a subject: its number, schema id and schema, and the contract version."""

    subject: Subject
    version: int
    schema_id: SchemaId
    schema: Any
    contract_version: str


def _locked_id(ref: SchemaRef, lock: LockFile) -> SchemaId:
    entry = lock.entry(ref.service, ref.version, ref.role)
    if entry is None:
        raise CatalogueError(
            f"{ref.service} {ref.version} {ref.role} has no schema id yet: "
            "run `interop contracts check --lock`"
        )
    return entry.schema_id


def build_subjects(
    refs: Iterable[SchemaRef], lock: LockFile
) -> dict[Subject, tuple[SubjectVersion, ...]]:
    """Every subject with its versions in order; ``refs`` come minors ascending."""
    subjects: dict[Subject, list[SubjectVersion]] = {}
    for ref in refs:
        major = int(ref.version.split(".", 1)[0])
        if ref.role == "event":
            subject = event_subject(ref.service)
        else:
            naming = request_subject if ref.role == "request" else response_subject
            subject = naming(ref.service, major)
        versions = subjects.setdefault(subject, [])
        schema_id = _locked_id(ref, lock)
        if versions and versions[-1].schema_id == schema_id:
            continue
        versions.append(
            SubjectVersion(subject, len(versions) + 1, schema_id, ref.schema, ref.version)
        )
    return {name: tuple(versions) for name, versions in sorted(subjects.items())}


def build_schemas_by_id(refs: Iterable[SchemaRef], lock: LockFile) -> dict[SchemaId, Any]:
    """Schema id -> schema for every schema of the catalogue (the codec's input)."""
    return {_locked_id(ref, lock): ref.schema for ref in refs}
