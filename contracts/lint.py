"""House rules for contract schemas, beyond what Avro itself requires.

* the top-level schema is a record, and every named type has a namespace (names are
  how readers match types, and a bare name collides across services);
* every record, enum and fixed, and every field, has a ``doc``: the schema is the
  agreement between administrations, and a field nobody can explain is not agreed;
* a field added in a minor has a default, so readers on earlier minors' data can fill
  it in (the compatibility check would also refuse it, but less legibly).

Each rule yields ``Problem`` values; nothing here raises for a schema that breaks a rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from contracts.avro_schema import (
    ArrayNode,
    Field,
    MapNode,
    NamedNode,
    Node,
    RecordNode,
    UnionNode,
    parse,
)

__all__ = ["Problem", "lint_added_fields", "lint_schema", "named_types"]


@dataclass(frozen=True)
class Problem:
    """One problem found by ``interop contracts check``; ``where`` names the file."""

    where: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.code}]"


def named_types(root: Node) -> Iterator[NamedNode]:
    """Every named type reachable from ``root``, each once, in document order."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        children: list[Node] = []
        if isinstance(node, RecordNode):
            children = [f.type for f in node.fields]
        elif isinstance(node, UnionNode):
            children = list(node.branches)
        elif isinstance(node, ArrayNode):
            children = [node.items]
        elif isinstance(node, MapNode):
            children = [node.values]
        if isinstance(node, NamedNode):
            yield node
        stack.extend(reversed(children))


def lint_schema(schema: Any, where: str) -> list[Problem]:
    """Namespace and documentation rules for one schema."""
    root = parse(schema)
    problems: list[Problem] = []
    if not isinstance(root, RecordNode):
        problems.append(Problem(where, "not-a-record", "the top-level schema must be a record"))
    for named in named_types(root):
        if not named.namespace:
            problems.append(
                Problem(where, "no-namespace", f"{named.kind} {named.fullname!r} has no namespace")
            )
        if not (named.doc or "").strip():
            problems.append(Problem(where, "no-doc", f"{named.kind} {named.fullname!r} has no doc"))
        if isinstance(named, RecordNode):
            problems += [
                Problem(where, "no-doc", f"field {named.fullname}.{f.name} has no doc")
                for f in named.fields
                if not (f.doc or "").strip()
            ]
    return problems


def _known(field: Field, previous: RecordNode) -> bool:
    names = {f.name for f in previous.fields}
    return field.name in names or bool(field.aliases & names)


def lint_added_fields(schema: Any, previous: Any, where: str) -> list[Problem]:
    """Fields added since the previous minor must have defaults.

    Records are matched by full name; a record that is new in this minor is reached
    through a new field, and that field is the one that needs the default.
    """
    before = {n.fullname: n for n in named_types(parse(previous)) if isinstance(n, RecordNode)}
    problems: list[Problem] = []
    for named in named_types(parse(schema)):
        old = before.get(named.fullname)
        if not isinstance(named, RecordNode) or old is None:
            continue
        problems += [
            Problem(
                where,
                "added-field-without-default",
                f"field {named.fullname}.{field.name} is new in this minor and has no default",
            )
            for field in named.fields
            if not _known(field, old) and not field.has_default
        ]
    return problems
