"""Platform event contracts: the bus's own Avro records (the audit event), versioned like
services.

Layout, next to the services folder (``contracts/events`` for the shipped catalogue)::

    events/<event>/<MAJOR>.<MINOR>/event.avsc

``<event>`` is a lowercase name (``audit-event``). Every version is linted, every minor
must be FULL_TRANSITIVE-compatible with the earlier minors of its major, and every schema
is published in the same lock file as the services (role ``event``, ``service`` = the
event name), so its schema id is stable on the wire (Confluent framing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from contracts.catalogue import DEFAULT_CATALOGUE_DIR, Version, load_schema
from contracts.checks import lock_problems
from contracts.codec import SchemaId
from contracts.compat import check
from contracts.errors import CatalogueError
from contracts.lint import Problem, lint_added_fields, lint_schema
from contracts.lockfile import LOCK_FILE_NAME, LockFile, SchemaRef

__all__ = [
    "DEFAULT_EVENTS_DIR",
    "EventContract",
    "check_events",
    "event_refs",
    "events_dir_for",
    "load_events",
    "locked_event",
    "locked_event_schemas",
]

DEFAULT_EVENTS_DIR: Final = DEFAULT_CATALOGUE_DIR.parent / "events"
_NAME: Final = re.compile(r"[a-z][a-z0-9-]*")


@dataclass(frozen=True)
class EventContract:
    """One version of one platform event."""

    name: str
    version: Version
    schema: Any
    path: Path


def events_dir_for(catalogue_root: Path) -> Path:
    """The events folder that belongs with a services folder (its sibling ``events``)."""
    return catalogue_root.parent / "events"


def load_events(root: Path = DEFAULT_EVENTS_DIR) -> list[EventContract]:
    """Every event version under ``root`` (none when the folder does not exist), sorted."""
    if not root.is_dir():
        return []
    found: list[EventContract] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if _NAME.fullmatch(folder.name) is None:
            raise CatalogueError(f"{folder}: an event name is [a-z][a-z0-9-]*")
        for version_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            try:
                version = Version.parse(version_dir.name)
            except ValueError:
                raise CatalogueError(f"{version_dir}: not a MAJOR.MINOR version folder") from None
            path = version_dir / "event.avsc"
            found.append(EventContract(folder.name, version, load_schema(path), path))
    return sorted(found, key=lambda e: (e.name, e.version))


def event_refs(events: list[EventContract]) -> list[SchemaRef]:
    """The events as lock-file references (role ``event``)."""
    return [SchemaRef(e.name, str(e.version), "event", e.schema) for e in events]


def check_events(events: list[EventContract], lock: LockFile, *, locking: bool) -> list[Problem]:
    """Lint, minor compatibility and lock problems of the event contracts."""
    problems: list[Problem] = []
    by_major: dict[tuple[str, int], list[EventContract]] = {}
    for event in events:
        by_major.setdefault((event.name, event.version.major), []).append(event)
    for minors in by_major.values():
        for index, event in enumerate(minors):
            where = f"events/{event.name}/{event.version}/event.avsc"
            problems += lint_schema(event.schema, where)
            if index:
                problems += lint_added_fields(event.schema, minors[index - 1].schema, where)
            for old in minors[:index]:
                for reader, writer in ((event, old), (old, event)):
                    problems += [
                        Problem(
                            where,
                            "incompatible-minor",
                            f"{reader.version} cannot read data written with {writer.version},"
                            f" at {i.path or '/'}: {i.message}",
                        )
                        for i in check(reader.schema, writer.schema)
                    ]
    wheres = {(e.name, str(e.version)): f"events/{e.name}/{e.version}/event.avsc" for e in events}
    problems += lock_problems(
        event_refs(events),
        [entry for entry in lock.schemas if entry.role == "event"],
        lock,
        locking,
        lambda ref: wheres[(ref.service, ref.version)],
    )
    return problems


def locked_event(
    name: str,
    *,
    events_dir: Path = DEFAULT_EVENTS_DIR,
    lock_path: Path | None = None,
) -> tuple[SchemaId, Any, str]:
    """The newest version of event ``name``: (schema id, schema, version), from the lock.

    Raises ``CatalogueError`` when the event is unknown or not published yet.
    """
    lock = LockFile.load(lock_path or events_dir.parent / LOCK_FILE_NAME)
    versions = [e for e in load_events(events_dir) if e.name == name]
    if not versions:
        raise CatalogueError(f"{events_dir}: no event contract {name!r}")
    newest = versions[-1]
    entry = lock.entry(name, str(newest.version), "event")
    if entry is None:
        raise CatalogueError(
            f"event {name} {newest.version} is not published: run `interop contracts check --lock`"
        )
    return entry.schema_id, newest.schema, str(newest.version)


def locked_event_schemas(
    name: str,
    *,
    events_dir: Path = DEFAULT_EVENTS_DIR,
    lock_path: Path | None = None,
) -> dict[SchemaId, Any]:
    """Every published version of event ``name`` by schema id: a reader must decode what
    older writers framed with their own ids."""
    lock = LockFile.load(lock_path or events_dir.parent / LOCK_FILE_NAME)
    found: dict[SchemaId, Any] = {}
    for event in load_events(events_dir):
        entry = lock.entry(name, str(event.version), "event") if event.name == name else None
        if entry is not None:
            found[entry.schema_id] = event.schema
    return found
