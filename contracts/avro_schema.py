"""Avro schemas as a resolved tree: the one place that reads a schema's JSON.

``parse(obj)`` takes a schema exactly as ``json.loads`` returns it from an ``.avsc`` file
and gives back typed nodes with every named reference resolved (so recursion is a cycle
in the tree, not a string), namespaces applied, aliases made full names, and each node's
RFC 6901 JSON pointer into the document kept for error messages. It is pure: no I/O,
no global registry of names.

Logical types follow the specification: an unknown or invalid logical type is ignored
and the node behaves as its underlying type. With ``strict=True`` (used for the
catalogue, where such a thing can only be a typo) they are refused instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from contracts.errors import InvalidSchemaError

__all__ = [
    "PRIMITIVES",
    "ArrayNode",
    "EnumNode",
    "Field",
    "FixedNode",
    "LogicalType",
    "MapNode",
    "NamedNode",
    "Node",
    "PrimitiveNode",
    "RecordNode",
    "UnionNode",
    "escape_pointer",
    "parse",
]

PRIMITIVES: Final = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)
_COMPLEX: Final = frozenset({"record", "error", "enum", "fixed", "array", "map"})
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Logical type -> the underlying types it may annotate (Avro 1.12 specification).
_LOGICAL_TARGETS: Final[dict[str, frozenset[str]]] = {
    "decimal": frozenset({"bytes", "fixed"}),
    "big-decimal": frozenset({"bytes"}),
    "uuid": frozenset({"string", "fixed"}),
    "date": frozenset({"int"}),
    "time-millis": frozenset({"int"}),
    "time-micros": frozenset({"long"}),
    "timestamp-millis": frozenset({"long"}),
    "timestamp-micros": frozenset({"long"}),
    "timestamp-nanos": frozenset({"long"}),
    "local-timestamp-millis": frozenset({"long"}),
    "local-timestamp-micros": frozenset({"long"}),
    "local-timestamp-nanos": frozenset({"long"}),
    "duration": frozenset({"fixed"}),
}


def escape_pointer(token: str | int) -> str:
    """Escape one reference token for an RFC 6901 JSON pointer."""
    return str(token).replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class LogicalType:
    """A valid logical type annotation (``precision``/``scale`` only for decimals)."""

    name: str
    precision: int = 0
    scale: int = 0

    def describe(self) -> str:
        """Render as ``decimal(10, 2)`` or ``date``."""
        if self.name == "decimal":
            return f"decimal({self.precision}, {self.scale})"
        return self.name


@dataclass(eq=False, kw_only=True)
class Node:
    """A schema node; ``kind`` is the Avro type name (``record``, ``int``, ``union``...)."""

    kind: str
    pointer: str
    logical: LogicalType | None = None


@dataclass(eq=False, kw_only=True)
class PrimitiveNode(Node):
    """``null``, ``boolean``, ``int``, ``long``, ``float``, ``double``, ``bytes``, ``string``."""


@dataclass(eq=False, kw_only=True)
class ArrayNode(Node):
    """An array of ``items``."""

    items: Node


@dataclass(eq=False, kw_only=True)
class MapNode(Node):
    """A map from strings to ``values``."""

    values: Node


@dataclass(eq=False, kw_only=True)
class UnionNode(Node):
    """A union; ``branches`` in declaration order."""

    branches: list[Node] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class NamedNode(Node):
    """A record, enum or fixed: has a full name, a short name and full-name aliases."""

    fullname: str = ""
    name: str = ""
    namespace: str = ""
    aliases: frozenset[str] = frozenset()
    doc: str | None = None


@dataclass(eq=False, kw_only=True)
class Field:
    """One record field; ``default`` is meaningful only when ``has_default``."""

    name: str
    type: Node
    pointer: str
    has_default: bool = False
    default: Any = None
    aliases: frozenset[str] = frozenset()
    doc: str | None = None


@dataclass(eq=False, kw_only=True)
class RecordNode(NamedNode):
    """A record (or ``error``) with its fields."""

    fields: list[Field] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class EnumNode(NamedNode):
    """An enum with its symbols and optional default symbol."""

    symbols: list[str] = field(default_factory=list)
    default: str | None = None


@dataclass(eq=False, kw_only=True)
class FixedNode(NamedNode):
    """A fixed-size byte string."""

    size: int = 0


def parse(schema: Any, *, strict: bool = False) -> Node:
    """Parse a schema object into a resolved tree; raise ``InvalidSchemaError`` if not Avro."""
    return _Parser(strict).node(schema, "", "")


def _fail(pointer: str, reason: str) -> InvalidSchemaError:
    return InvalidSchemaError(pointer, reason)


class _Parser:
    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.names: dict[str, NamedNode] = {}

    def node(self, obj: Any, ns: str, ptr: str) -> Node:
        if isinstance(obj, str):
            return self._reference(obj, ns, ptr)
        if isinstance(obj, list):
            return self._union(obj, ns, ptr)
        if not isinstance(obj, dict):
            raise _fail(ptr, f"a schema is a string, an object or an array, not {obj!r}")
        kind = obj.get("type")
        if isinstance(kind, (dict, list)):
            # {"type": {...}} wraps a schema; only the inner one counts.
            return self.node(kind, ns, f"{ptr}/type")
        if not isinstance(kind, str):
            raise _fail(ptr, "missing or non-string 'type'")
        if kind not in PRIMITIVES and kind not in _COMPLEX:
            return self._reference(kind, ns, f"{ptr}/type")
        result = self._typed(kind, obj, ns, ptr)
        result.logical = self._logical(obj, result, ptr)
        return result

    def _typed(self, kind: str, obj: dict[str, Any], ns: str, ptr: str) -> Node:
        if kind in PRIMITIVES:
            result: Node = PrimitiveNode(kind=kind, pointer=ptr)
        elif kind in {"record", "error"}:
            result = self._record(obj, ns, ptr)
        elif kind == "enum":
            result = self._enum(obj, ns, ptr)
        elif kind == "fixed":
            result = self._fixed(obj, ns, ptr)
        elif kind == "array":
            if "items" not in obj:
                raise _fail(ptr, "an array needs 'items'")
            items = self.node(obj["items"], ns, f"{ptr}/items")
            result = ArrayNode(kind="array", pointer=ptr, items=items)
        elif kind == "map":
            if "values" not in obj:
                raise _fail(ptr, "a map needs 'values'")
            values = self.node(obj["values"], ns, f"{ptr}/values")
            result = MapNode(kind="map", pointer=ptr, values=values)
        return result

    def _reference(self, name: str, ns: str, ptr: str) -> Node:
        if name in PRIMITIVES:
            return PrimitiveNode(kind=name, pointer=ptr)
        candidates = [name] if "." in name else [f"{ns}.{name}" if ns else name, name]
        for candidate in candidates:
            if candidate in self.names:
                return self.names[candidate]
        raise _fail(ptr, f"unknown type {name!r}")

    def _union(self, obj: list[Any], ns: str, ptr: str) -> UnionNode:
        branches: list[Node] = []
        seen: set[str] = set()
        for index, item in enumerate(obj):
            branch = self.node(item, ns, f"{ptr}/{index}")
            if isinstance(branch, UnionNode):
                raise _fail(f"{ptr}/{index}", "a union may not directly contain a union")
            key = branch.fullname if isinstance(branch, NamedNode) else branch.kind
            if key in seen:
                raise _fail(f"{ptr}/{index}", f"the union already has a {key!r} branch")
            seen.add(key)
            branches.append(branch)
        return UnionNode(kind="union", pointer=ptr, branches=branches)

    def _names(self, obj: dict[str, Any], ns: str, ptr: str) -> tuple[str, str, str]:
        name = obj.get("name")
        if not isinstance(name, str) or not name:
            raise _fail(ptr, f"a {obj['type']} needs a 'name'")
        explicit_ns = obj.get("namespace")
        if explicit_ns is not None and not isinstance(explicit_ns, str):
            raise _fail(f"{ptr}/namespace", "a namespace is a string")
        if "." in name:
            namespace, _, short = name.rpartition(".")
        else:
            namespace, short = (explicit_ns if explicit_ns is not None else ns), name
        for part in [*namespace.split("."), short] if namespace else [short]:
            if not _NAME.fullmatch(part):
                raise _fail(f"{ptr}/name", f"{part!r} is not a valid Avro name")
        fullname = f"{namespace}.{short}" if namespace else short
        if fullname in PRIMITIVES or fullname in self.names:
            raise _fail(f"{ptr}/name", f"the name {fullname!r} is already defined")
        return fullname, short, namespace

    def _aliases(self, obj: dict[str, Any], namespace: str, ptr: str) -> frozenset[str]:
        raw = obj.get("aliases", [])
        if not isinstance(raw, list) or not all(isinstance(a, str) and a for a in raw):
            raise _fail(f"{ptr}/aliases", "aliases are a list of names")
        return frozenset(a if "." in a or not namespace else f"{namespace}.{a}" for a in raw)

    def _doc(self, obj: dict[str, Any], ptr: str) -> str | None:
        doc = obj.get("doc")
        if doc is not None and not isinstance(doc, str):
            raise _fail(f"{ptr}/doc", "a doc is a string")
        return doc

    def _record(self, obj: dict[str, Any], ns: str, ptr: str) -> RecordNode:
        fullname, short, namespace = self._names(obj, ns, ptr)
        record = RecordNode(
            kind="record",
            pointer=ptr,
            fullname=fullname,
            name=short,
            namespace=namespace,
            aliases=self._aliases(obj, namespace, ptr),
            doc=self._doc(obj, ptr),
        )
        self.names[fullname] = record  # before the fields: they may refer to it
        fields = obj.get("fields")
        if not isinstance(fields, list):
            raise _fail(ptr, "a record needs a 'fields' list")
        seen: set[str] = set()
        for index, raw in enumerate(fields):
            fptr = f"{ptr}/fields/{index}"
            if not isinstance(raw, dict):
                raise _fail(fptr, "a field is an object")
            name = raw.get("name")
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise _fail(f"{fptr}/name", f"{name!r} is not a valid field name")
            if name in seen:
                raise _fail(f"{fptr}/name", f"duplicate field {name!r}")
            seen.add(name)
            if "type" not in raw:
                raise _fail(fptr, f"field {name!r} has no 'type'")
            ftype = self.node(raw["type"], namespace, f"{fptr}/type")
            aliases = raw.get("aliases", [])
            if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
                raise _fail(f"{fptr}/aliases", "aliases are a list of names")
            item = Field(
                name=name,
                type=ftype,
                pointer=fptr,
                has_default="default" in raw,
                default=raw.get("default"),
                aliases=frozenset(aliases),
                doc=self._doc(raw, fptr),
            )
            if item.has_default:
                problem = default_problem(ftype, item.default)
                if problem is not None:
                    raise _fail(f"{fptr}/default", problem)
            record.fields.append(item)
        return record

    def _enum(self, obj: dict[str, Any], ns: str, ptr: str) -> EnumNode:
        fullname, short, namespace = self._names(obj, ns, ptr)
        symbols = obj.get("symbols")
        if not isinstance(symbols, list) or not all(
            isinstance(s, str) and _NAME.fullmatch(s) for s in symbols
        ):
            raise _fail(f"{ptr}/symbols", "symbols are a list of valid Avro names")
        if len(set(symbols)) != len(symbols):
            raise _fail(f"{ptr}/symbols", "symbols must be unique")
        default = obj.get("default")
        if default is not None and default not in symbols:
            raise _fail(f"{ptr}/default", f"the enum default {default!r} is not a symbol")
        node = EnumNode(
            kind="enum",
            pointer=ptr,
            fullname=fullname,
            name=short,
            namespace=namespace,
            aliases=self._aliases(obj, namespace, ptr),
            doc=self._doc(obj, ptr),
            symbols=list(symbols),
            default=default,
        )
        self.names[fullname] = node
        return node

    def _fixed(self, obj: dict[str, Any], ns: str, ptr: str) -> FixedNode:
        fullname, short, namespace = self._names(obj, ns, ptr)
        size = obj.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _fail(f"{ptr}/size", "a fixed needs a non-negative integer 'size'")
        node = FixedNode(
            kind="fixed",
            pointer=ptr,
            fullname=fullname,
            name=short,
            namespace=namespace,
            aliases=self._aliases(obj, namespace, ptr),
            doc=self._doc(obj, ptr),
            size=size,
        )
        self.names[fullname] = node
        return node

    def _logical(self, obj: dict[str, Any], node: Node, ptr: str) -> LogicalType | None:
        name = obj.get("logicalType")
        if name is None:
            return None
        reason = _logical_problem(name, obj, node)
        if reason is None:
            if name == "decimal":
                return LogicalType(name=name, precision=obj["precision"], scale=obj.get("scale", 0))
            return LogicalType(name=str(name))
        if self.strict:
            raise _fail(f"{ptr}/logicalType", reason)
        return None  # the specification: ignore it, use the underlying type


_FIXED_SIZES: Final = {"uuid": 16, "duration": 12}


def _logical_problem(name: Any, obj: dict[str, Any], node: Node) -> str | None:
    if not isinstance(name, str) or name not in _LOGICAL_TARGETS:
        return f"unknown logical type {name!r}"
    if node.kind not in _LOGICAL_TARGETS[name]:
        return f"logical type {name!r} cannot annotate a {node.kind}"
    size = _FIXED_SIZES.get(name)
    if size is not None and isinstance(node, FixedNode) and node.size != size:
        return f"a {name} fixed must have size {size}"
    return _decimal_problem(obj, node) if name == "decimal" else None


def _decimal_problem(obj: dict[str, Any], node: Node) -> str | None:
    precision, scale = obj.get("precision"), obj.get("scale", 0)
    if not isinstance(precision, int) or isinstance(precision, bool) or precision < 1:
        return "a decimal needs a positive integer precision"
    if not isinstance(scale, int) or isinstance(scale, bool) or not 0 <= scale <= precision:
        return "a decimal scale must be an integer between 0 and the precision"
    if isinstance(node, FixedNode):
        max_digits = int((8 * node.size - 1) * 0.30102999566398120)  # log10(2)
        if precision > max_digits:
            return f"a fixed of {node.size} bytes holds at most {max_digits} digits"
    return None


_INT_RANGE: Final = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def default_problem(node: Node, value: Any) -> str | None:  # noqa: PLR0911, PLR0912
    """Why ``value`` is not a valid default (Avro JSON encoding) for ``node``, or None."""
    match node:
        case UnionNode(branches=branches):
            if not branches:
                return "an empty union cannot have a default"
            # Specification: a union's default corresponds to its first branch.
            return default_problem(branches[0], value)
        case RecordNode(fields=fields):
            if not isinstance(value, dict):
                return "a record default is an object"
            for item in fields:
                if item.name in value:
                    problem = default_problem(item.type, value[item.name])
                    if problem is not None:
                        return f"field {item.name!r}: {problem}"
                elif not item.has_default:
                    return f"field {item.name!r} is missing from the default"
            return None
        case EnumNode(symbols=symbols):
            return None if value in symbols else f"{value!r} is not a symbol of the enum"
        case FixedNode(size=size):
            if not isinstance(value, str) or len(value) != size:
                return f"a fixed default is a string of {size} characters"
            return None
        case ArrayNode(items=items):
            if not isinstance(value, list):
                return "an array default is a list"
            return next(filter(None, (default_problem(items, v) for v in value)), None)
        case MapNode(values=values):
            if not isinstance(value, dict):
                return "a map default is an object"
            return next(filter(None, (default_problem(values, v) for v in value.values())), None)
    return _primitive_default_problem(node.kind, value)


def _primitive_default_problem(kind: str, value: Any) -> str | None:
    ok: bool
    if kind == "null":
        ok = value is None
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind in _INT_RANGE:
        low, high = _INT_RANGE[kind]
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    elif kind in {"float", "double"}:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:  # string, bytes
        ok = isinstance(value, str)
    return None if ok else f"{value!r} is not a valid {kind} default"
