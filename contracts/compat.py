"""Avro schema compatibility: the specification's resolution rules as a pure function.

``check(reader, writer)`` answers "can every datum written with ``writer`` be read with
``reader``?" by walking both schemas with the rules of the Avro specification's *Schema
Resolution* section:

* records match by unqualified name (or a reader alias); each reader field is read from
  the writer field of the same name (or one of the reader field's aliases), and a reader
  field the writer lacks needs a default; writer fields the reader lacks are skipped;
* promotions: int -> long, float, double; long -> float, double; float -> double;
  string <-> bytes;
* enums match by name; a writer symbol the reader lacks needs the reader's enum default;
* fixed types match by name and size; arrays and maps by their items and values;
* a writer union is readable when each of its branches is; a non-union writer is read
  by the *first* reader branch that matches it (the specification's rule, also what
  fastavro does), so a later branch that would have worked does not save it;
* named types may be recursive: a pair already being compared is assumed compatible
  (the coinductive reading every reference implementation uses).

Logical types are where the reference checkers stop (``avro.compatibility`` and Java's
``SchemaCompatibility`` look at the underlying types only). Data readable under the
underlying types can still change meaning, so this checker also refuses:

* two different logical types on the same value (``timestamp-millis`` read as
  ``timestamp-micros`` is off by a factor of 1000);
* decimals whose scale differs or whose reader precision is smaller than the writer's;
* a logical type on one side only *across a promotion* (an int ``date`` read as a long
  ``timestamp-millis``, a ``decimal`` bytes read as a string). Adding or dropping an
  annotation on the same underlying type is allowed: the bits mean what they meant.

Paths are RFC 6901 JSON pointers into the *reader* schema; through a named reference
the path continues as if the definition were written inline. The root is ``""``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from contracts.avro_schema import (
    ArrayNode,
    EnumNode,
    FixedNode,
    MapNode,
    NamedNode,
    Node,
    RecordNode,
    UnionNode,
    parse,
)

__all__ = [
    "CompatibilityMode",
    "Incompatibility",
    "IncompatibilityKind",
    "check",
    "check_mode",
    "is_compatible",
]

# writer type -> reader types that can read it (the specification's promotions).
_PROMOTIONS: Final[dict[str, frozenset[str]]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


class CompatibilityMode(StrEnum):
    """Confluent Schema Registry compatibility levels, with the same meanings."""

    BACKWARD = "BACKWARD"
    FORWARD = "FORWARD"
    FULL = "FULL"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"

    @property
    def transitive(self) -> bool:
        """True when the new schema is checked against every earlier one."""
        return self.value.endswith("_TRANSITIVE")

    @property
    def backward(self) -> bool:
        """True when the new schema must read data written with the earlier ones."""
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        """True when the earlier schemas must read data written with the new one."""
        return self.value.startswith(("FORWARD", "FULL"))


class IncompatibilityKind(StrEnum):
    """Stable, machine-readable kinds of incompatibility."""

    TYPE_MISMATCH = "type_mismatch"
    NAME_MISMATCH = "name_mismatch"
    FIXED_SIZE_MISMATCH = "fixed_size_mismatch"
    MISSING_ENUM_SYMBOLS = "missing_enum_symbols"
    READER_FIELD_MISSING_DEFAULT = "reader_field_missing_default"
    MISSING_UNION_BRANCH = "missing_union_branch"
    LOGICAL_TYPE_MISMATCH = "logical_type_mismatch"


@dataclass(frozen=True)
class Incompatibility:
    """One reason data written with the writer schema cannot be read with the reader's."""

    path: str
    message: str
    kind: IncompatibilityKind = IncompatibilityKind.TYPE_MISMATCH

    def __str__(self) -> str:
        return f"{self.path or '/'}: {self.message}"


def check(reader: Any, writer: Any) -> list[Incompatibility]:
    """Every reason data written with ``writer`` cannot be read with ``reader``.

    Both are schemas as ``json.loads`` returns them. An empty list means compatible.
    Raises ``contracts.errors.InvalidSchemaError`` when either is not a valid schema.
    """
    return _Checker().compare(parse(reader), parse(writer), "")


def check_mode(
    new: Any, previous: Sequence[Any], mode: CompatibilityMode | str
) -> list[Incompatibility]:
    """The problems ``is_compatible`` found; messages say which earlier schema and direction.

    ``previous`` is oldest first; an earlier schema is named by its index in it.
    """
    mode = CompatibilityMode(mode)
    if mode is CompatibilityMode.NONE or not previous:
        return []
    first = 0 if mode.transitive else len(previous) - 1
    found: list[Incompatibility] = []
    for index in range(first, len(previous)):
        old = previous[index]
        if mode.backward:
            found += _annotate(check(new, old), f"new schema reading data of #{index}")
        if mode.forward:
            found += _annotate(check(old, new), f"#{index} reading data of the new schema")
    return found


def is_compatible(new: Any, previous: Sequence[Any], mode: CompatibilityMode | str) -> bool:
    """Whether ``new`` may follow ``previous`` (oldest first) under a Confluent ``mode``.

    BACKWARD: ``new`` reads data written with the last earlier schema; FORWARD: the last
    earlier schema reads data written with ``new``; FULL: both. The ``_TRANSITIVE``
    modes check against every earlier schema; NONE and an empty history always pass.
    """
    return not check_mode(new, previous, mode)


def _annotate(found: list[Incompatibility], context: str) -> list[Incompatibility]:
    return [Incompatibility(i.path, f"{context}: {i.message}", i.kind) for i in found]


def _describe(node: Node) -> str:
    text = f"{node.kind} {node.fullname!r}" if isinstance(node, NamedNode) else node.kind
    return f"{text} ({node.logical.describe()})" if node.logical else text


def _names_match(reader: NamedNode, writer: NamedNode) -> bool:
    if reader.name == writer.name or writer.fullname in reader.aliases:
        return True
    return any(alias.rpartition(".")[2] == writer.name for alias in reader.aliases)


def _shallow_match(reader: Node, writer: Node) -> bool:
    """The specification's "matches" used to pick a reader union branch."""
    if reader.kind == writer.kind:
        if isinstance(reader, NamedNode) and isinstance(writer, NamedNode):
            return _names_match(reader, writer)
        return True
    return reader.kind in _PROMOTIONS.get(writer.kind, frozenset())


class _Checker:
    def __init__(self) -> None:
        self.in_progress: set[tuple[int, int]] = set()

    def compare(self, reader: Node, writer: Node, path: str) -> list[Incompatibility]:
        key = (id(reader), id(writer))
        if key in self.in_progress:
            return []  # a recursive pair: assume compatible until shown otherwise
        self.in_progress.add(key)
        try:
            return self._compare(reader, writer, path)
        finally:
            self.in_progress.discard(key)

    def _compare(self, reader: Node, writer: Node, path: str) -> list[Incompatibility]:
        if isinstance(writer, UnionNode):
            found: list[Incompatibility] = []
            for branch in writer.branches:
                found += self.compare(reader, branch, path)
            return found
        if isinstance(reader, UnionNode):
            for index, branch in enumerate(reader.branches):
                if _shallow_match(branch, writer):
                    return self.compare(branch, writer, f"{path}/{index}")
            return [
                Incompatibility(
                    path,
                    f"the reader's union has no branch for the writer's {_describe(writer)}",
                    IncompatibilityKind.MISSING_UNION_BRANCH,
                )
            ]
        if reader.kind != writer.kind and reader.kind not in _PROMOTIONS.get(
            writer.kind, frozenset()
        ):
            return [
                Incompatibility(
                    path,
                    f"the reader's {_describe(reader)} cannot read "
                    f"the writer's {_describe(writer)}",
                    IncompatibilityKind.TYPE_MISMATCH,
                )
            ]
        found = self._structure(reader, writer, path)
        logical = _logical_problem(reader, writer)
        if logical is not None:
            found.append(Incompatibility(path, logical, IncompatibilityKind.LOGICAL_TYPE_MISMATCH))
        return found

    def _structure(self, reader: Node, writer: Node, path: str) -> list[Incompatibility]:
        if isinstance(reader, NamedNode) and isinstance(writer, NamedNode):
            return self._named(reader, writer, path)
        if isinstance(reader, ArrayNode) and isinstance(writer, ArrayNode):
            return self.compare(reader.items, writer.items, f"{path}/items")
        if isinstance(reader, MapNode) and isinstance(writer, MapNode):
            return self.compare(reader.values, writer.values, f"{path}/values")
        return []  # primitives (possibly promoted): nothing below them

    def _named(self, reader: NamedNode, writer: NamedNode, path: str) -> list[Incompatibility]:
        if not _names_match(reader, writer):
            message = (
                f"the reader's {reader.kind} is named {reader.fullname!r}, "
                f"the writer's {writer.fullname!r}"
            )
            return [Incompatibility(f"{path}/name", message, IncompatibilityKind.NAME_MISMATCH)]
        if isinstance(reader, RecordNode) and isinstance(writer, RecordNode):
            return self._record(reader, writer, path)
        if isinstance(reader, EnumNode) and isinstance(writer, EnumNode):
            missing = [s for s in writer.symbols if s not in reader.symbols]
            if missing and reader.default is None:
                message = f"the reader's enum lacks the writer's symbols {missing} and no default"
                kind = IncompatibilityKind.MISSING_ENUM_SYMBOLS
                return [Incompatibility(f"{path}/symbols", message, kind)]
        if (
            isinstance(reader, FixedNode)
            and isinstance(writer, FixedNode)
            and reader.size != writer.size
        ):
            message = f"the reader's fixed has {reader.size} bytes, the writer's {writer.size}"
            kind = IncompatibilityKind.FIXED_SIZE_MISMATCH
            return [Incompatibility(f"{path}/size", message, kind)]
        return []

    def _record(self, reader: RecordNode, writer: RecordNode, path: str) -> list[Incompatibility]:
        by_name = {f.name: f for f in writer.fields}
        found: list[Incompatibility] = []
        for index, field in enumerate(reader.fields):
            source = by_name.get(field.name)
            if source is None:
                source = next((by_name[a] for a in sorted(field.aliases) if a in by_name), None)
            field_path = f"{path}/fields/{index}"
            if source is not None:
                found += self.compare(field.type, source.type, f"{field_path}/type")
            elif not field.has_default:
                found.append(
                    Incompatibility(
                        field_path,
                        f"the reader's field {field.name!r} has no default "
                        "and the writer has no such field",
                        IncompatibilityKind.READER_FIELD_MISSING_DEFAULT,
                    )
                )
        return found


def _logical_problem(reader: Node, writer: Node) -> str | None:
    rl, wl = reader.logical, writer.logical
    if rl is None or wl is None:
        if (rl or wl) is not None and reader.kind != writer.kind:
            return (
                f"the reader's {_describe(reader)} cannot read the writer's {_describe(writer)}: "
                "a promotion may not add or drop a logical type"
            )
        return None
    if rl.name != wl.name:
        return f"the reader's {rl.describe()} cannot read the writer's {wl.describe()}"
    if rl.name == "decimal" and rl.scale != wl.scale:
        return f"decimal scale differs: reader {rl.scale}, writer {wl.scale}"
    if rl.name == "decimal" and rl.precision < wl.precision:
        return (
            f"the reader's decimal precision {rl.precision} is smaller "
            f"than the writer's {wl.precision}"
        )
    return None
