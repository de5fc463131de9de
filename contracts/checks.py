"""Everything ``interop contracts check`` verifies about a catalogue, as one pure function.

1. lint (``contracts.lint``) on every schema;
2. every minor is FULL_TRANSITIVE-compatible with all earlier minors of its major,
   checked pair by pair in both directions (a major may break; majors run side by side);
3. published schemas are immutable: a schema in the lock file must still have the
   recorded fingerprint and definition digest, and must still be in the catalogue;
4. every schema is published (has an id), unless the caller is about to lock.
"""

from __future__ import annotations

from contracts.catalogue import Catalogue, ContractVersion, Service
from contracts.compat import check
from contracts.lint import Problem, lint_added_fields, lint_schema
from contracts.lockfile import LockFile, Role, SchemaRef, definition_digest, fingerprint

__all__ = ["check_catalogue"]

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
    problems: list[Problem] = []
    present: set[tuple[str, str, str]] = set()
    for ref in catalogue.schema_refs():
        present.add((ref.service, ref.version, ref.role))
        where = _ref_where(catalogue, ref)
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
    for entry in lock.schemas:
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
