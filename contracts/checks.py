"""Everything ``interop contracts check`` verifies about a catalogue, as one pure function.

1. lint (``contracts.lint``) on every schema;
2. every minor is FULL_TRANSITIVE-compatible with all earlier minors of its major,
   checked pair by pair in both directions (a major may break; majors run side by side);
3. published schemas are immutable: a schema in the lock file must still have the
   recorded fingerprint and definition digest, and must still be in the catalogue;
4. every schema is published (has an id), unless the caller is about to lock.

Platform event contracts (``contracts.events``) follow the same lock rules through
``lock_problems``; ``interop contracts check`` runs both.
"""

from __future__ import annotations

from collections.abc import Callable

from contracts.catalogue import Catalogue, ContractVersion, Service
from contracts.compat import check
from contracts.lint import Problem, lint_added_fields, lint_schema
from contracts.lockfile import (
    LockEntry,
    LockFile,
    Role,
    SchemaRef,
    definition_digest,
    fingerprint,
)

__all__ = ["check_catalogue", "lock_problems"]

_ROLES: tuple[Role, ...] = ("request", "response")


def _where(catalogue: Catalogue, item: ContractVersion, role: Role) -> str:
    path = item.folder / f"{role}.avsc"
    try:
        return str(path.relative_to(catalogue.root))
    except ValueError:  # pragma: no cover - folders are always under the root
        return str(path)


def _schema(item: ContractVersion, role: Role) -> object:
    return item.request if role == "request" else item.response


def _service_problems(catalogue: Catalogue, service: Service) -> list[Problem]:
    problems: list[Problem] = []
    for minors in service.majors().values():
        for index, item in enumerate(minors):
            for role in _ROLES:
                where = _where(catalogue, item, role)
                schema = _schema(item, role)
                problems += lint_schema(schema, where)
                if index == 0:
                    continue
                problems += lint_added_fields(schema, _schema(minors[index - 1], role), where)
                for old in minors[:index]:
                    problems += _compat_problems(item, old, role, where)
    return problems


def _compat_problems(
    new: ContractVersion, old: ContractVersion, role: Role, where: str
) -> list[Problem]:
    """FULL_TRANSITIVE, pair by pair, so each problem names the version and direction."""
    found = [
        (f"{new.version} cannot read data written with {old.version}", i)
        for i in check(_schema(new, role), _schema(old, role))
    ] + [
        (f"{old.version} cannot read data written with {new.version}", i)
        for i in check(_schema(old, role), _schema(new, role))
    ]
    return [
        Problem(where, "incompatible-minor", f"{context}, at {i.path or '/'}: {i.message}")
        for context, i in found
    ]


def _lock_problems(catalogue: Catalogue, lock: LockFile, locking: bool) -> list[Problem]:
    # Event contracts share the lock file but are checked by ``contracts.events``.
    return lock_problems(
        list(catalogue.schema_refs()),
        [entry for entry in lock.schemas if entry.role != "event"],
        lock,
        locking,
        lambda ref: _ref_where(catalogue, ref),
    )


def lock_problems(
    refs: list[SchemaRef],
    published: list[LockEntry],
    lock: LockFile,
    locking: bool,
    where_of: Callable[[SchemaRef], str],
) -> list[Problem]:
    """Lock rules for ``refs``: each locked (unless ``locking``) and unedited; each of
    ``published`` (the lock entries of the same kind) still present."""
    problems: list[Problem] = []
    present: set[tuple[str, str, str]] = set()
    for ref in refs:
        present.add((ref.service, ref.version, ref.role))
        where = where_of(ref)
        entry = lock.entry(ref.service, ref.version, ref.role)
        if entry is None:
            if not locking:
                problems.append(
                    Problem(
                        where,
                        "not-locked",
                        "not published yet (no schema id): run `interop contracts check --lock`",
                    )
                )
        elif entry.fingerprint != fingerprint(ref.schema):
            problems.append(
                Problem(
                    where,
                    "edited-published-schema",
                    f"published schema {entry.id} was edited: its canonical form changed; "
                    "publish a new version instead",
                )
            )
        elif entry.definition_sha256 != definition_digest(ref.schema):
            problems.append(
                Problem(
                    where,
                    "edited-published-schema",
                    f"published schema {entry.id} was edited (docs, defaults or aliases); "
                    "publish a new version instead",
                )
            )
    for entry in published:
        if (entry.service, entry.version, entry.role) not in present:
            problems.append(
                Problem(
                    f"{entry.service} {entry.version} {entry.role}",
                    "published-schema-removed",
                    f"published schema {entry.id} is in the lock file but not in the catalogue",
                )
            )
    return problems


def _ref_where(catalogue: Catalogue, ref: SchemaRef) -> str:
    item = catalogue.services[ref.service].version(ref.version)
    return _where(catalogue, item, ref.role) if item else f"{ref.service} {ref.version}"


def check_catalogue(
    catalogue: Catalogue, lock: LockFile, *, locking: bool = False
) -> list[Problem]:
    """Every problem with ``catalogue`` against ``lock``; empty means it may ship.

    With ``locking`` the caller is about to assign ids, so unpublished schemas are fine.
    """
    problems: list[Problem] = []
    for service in catalogue.services.values():
        problems += _service_problems(catalogue, service)
    problems += _lock_problems(catalogue, lock, locking)
    return problems
