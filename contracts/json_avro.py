"""JSON <-> Avro datum conversion for the gateway: strict, and every problem at once.

``json_to_avro(schema, value)`` turns a JSON document (as ``json.loads`` returns it)
into a datum fastavro writes with ``schema``, or raises ``DataValidationError`` listing
*every* problem with its RFC 6901 JSON pointer: unknown fields, missing fields, wrong
types, out-of-range numbers, unknown enum symbols, bad logical values.

The JSON mapping is the one a back-office developer expects, not Avro's own JSON
encoding:

* a union of ``null`` and one other type takes ``null`` or the bare value; any other
  union takes ``null`` or a one-key object naming the branch (``{"string": "x"}``, the
  full or short name for named types), because a bare value could fit several branches;
* ``bytes`` and ``fixed`` are base64 strings;
* ``date`` is ``YYYY-MM-DD``; ``time-*`` is ``HH:MM:SS[.ffffff]``; ``timestamp-*`` is
  RFC 3339 *with* an offset; ``local-timestamp-*`` is ISO 8601 *without* one;
* ``decimal`` is a string (``"1234.50"``): a JSON number would lose digits;
* ``uuid`` is the canonical hyphenated string;
* integers must be JSON integers in range (no ``5.0`` for an int, no ``true`` for 1);
  floats must be finite.

``avro_to_json(schema, datum)`` is the inverse for what fastavro reads.
"""

from __future__ import annotations

import base64
import binascii
import math
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
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
    escape_pointer,
    parse,
)
from contracts.errors import DataProblem, DataValidationError

__all__ = ["avro_to_json", "json_to_avro"]

_INT_RANGES: Final = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_FLOAT_MAX: Final = 3.4028234663852886e38
_MISSING: Final = object()
_PARSED_MAX: Final = 256


# Parsing a schema into its tree cost about 5% of the gateway's CPU per exchange when it
# was done on every conversion (issue #16). The catalog hands out the same schema objects
# for as long as it lives, so the tree is kept by the object's identity; the object itself
# is kept alongside, so its id cannot be reused by another while its entry stands.
_parsed: dict[int, tuple[Any, Node]] = {}


def _tree(schema: Any) -> Node:
    cached = _parsed.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    node = parse(schema)
    if len(_parsed) >= _PARSED_MAX:
        _parsed.clear()  # a catalog reload or a test's schemas: start afresh, stay bounded
    _parsed[id(schema)] = (schema, node)
    return node


def json_to_avro(schema: Any, value: Any) -> Any:
    """Convert JSON ``value`` to a datum of ``schema``; raise ``DataValidationError``."""
    problems: list[DataProblem] = []
    datum = _In(problems).convert(_tree(schema), value, "")
    if problems:
        raise DataValidationError(problems)
    return datum


def avro_to_json(schema: Any, datum: Any) -> Any:
    """Convert a datum read with ``schema`` (fastavro's types) to JSON-ready values."""
    return _out(_tree(schema), datum)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def _branch_name(node: Node) -> str:
    return node.fullname if isinstance(node, NamedNode) else node.kind


def _nullable(node: UnionNode) -> Node | None:
    """The non-null branch of a two-branch union with ``null``, else None."""
    kinds = [b.kind for b in node.branches]
    if len(kinds) == 2 and "null" in kinds:
        return node.branches[1 - kinds.index("null")]
    return None


class _In:
    def __init__(self, problems: list[DataProblem]) -> None:
        self.problems = problems

    def fail(self, pointer: str, message: str) -> None:
        self.problems.append((pointer, message))

    def convert(self, node: Node, value: Any, ptr: str) -> Any:  # noqa: PLR0911
        if isinstance(node, UnionNode):
            return self._union(node, value, ptr)
        if isinstance(node, RecordNode):
            return self._record(node, value, ptr)
        if isinstance(node, EnumNode):
            if not isinstance(value, str) or value not in node.symbols:
                self.fail(ptr, f"expected one of {node.symbols}, got {value!r}")
            return value
        if isinstance(node, ArrayNode):
            if not isinstance(value, list):
                self.fail(ptr, f"expected an array, got {_type_name(value)}")
                return None
            return [self.convert(node.items, v, f"{ptr}/{i}") for i, v in enumerate(value)]
        if isinstance(node, MapNode):
            if not isinstance(value, dict):
                self.fail(ptr, f"expected an object, got {_type_name(value)}")
                return None
            return {
                k: self.convert(node.values, v, f"{ptr}/{escape_pointer(k)}")
                for k, v in value.items()
            }
        if node.logical is not None and node.logical.name in _LOGICAL_IN:
            return _LOGICAL_IN[node.logical.name](self, node, value, ptr)
        return self._primitive(node, value, ptr)

    def _union(self, node: UnionNode, value: Any, ptr: str) -> Any:
        if value is None:
            if not any(b.kind == "null" for b in node.branches):
                self.fail(ptr, "null is not allowed here")
            return None
        single = _nullable(node)
        if single is not None:
            return self.convert(single, value, ptr)
        names = [_branch_name(b) for b in node.branches if b.kind != "null"]
        if not isinstance(value, dict) or len(value) != 1:
            self.fail(ptr, f"expected an object with one key naming the type, one of {names}")
            return None
        [(key, inner)] = value.items()
        for branch in node.branches:
            short = branch.name if isinstance(branch, NamedNode) else None
            if branch.kind != "null" and key in (_branch_name(branch), short):
                datum = self.convert(branch, inner, f"{ptr}/{escape_pointer(key)}")
                # fastavro's tuple notation picks the branch; no guessing on write.
                return (_branch_name(branch), datum) if isinstance(branch, NamedNode) else datum
        self.fail(ptr, f"{key!r} is not a type of this union, one of {names}")
        return None

    def _record(self, node: RecordNode, value: Any, ptr: str) -> Any:
        if not isinstance(value, dict):
            self.fail(ptr, f"expected an object, got {_type_name(value)}")
            return None
        known = {f.name for f in node.fields}
        for key in value:
            if key not in known:
                self.fail(f"{ptr}/{escape_pointer(key)}", "unknown field")
        datum: dict[str, Any] = {}
        for field in node.fields:
            fptr = f"{ptr}/{escape_pointer(field.name)}"
            if field.name in value:
                datum[field.name] = self.convert(field.type, value[field.name], fptr)
            elif field.has_default:
                datum[field.name] = _default_datum(field.type, field.default)
            else:
                self.fail(fptr, "required field is missing")
        return datum

    def _primitive(self, node: Node, value: Any, ptr: str) -> Any:
        kind = node.kind
        if kind == "null":
            if value is not None:
                self.fail(ptr, f"expected null, got {_type_name(value)}")
            return None
        if kind == "boolean":
            if not isinstance(value, bool):
                self.fail(ptr, f"expected a boolean, got {_type_name(value)}")
            return value
        if kind in _INT_RANGES:
            low, high = _INT_RANGES[kind]
            if not isinstance(value, int) or isinstance(value, bool):
                self.fail(ptr, f"expected an integer ({kind}), got {_type_name(value)}")
            elif not low <= value <= high:
                self.fail(ptr, f"{value} is out of range for {kind} [{low}, {high}]")
            return value
        if kind in {"float", "double"}:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                self.fail(ptr, f"expected a number, got {_type_name(value)}")
            elif not math.isfinite(value) or (kind == "float" and abs(value) > _FLOAT_MAX):
                self.fail(ptr, f"{value} is not a finite {kind}")
            return value
        if kind == "string":
            if not isinstance(value, str):
                self.fail(ptr, f"expected a string, got {_type_name(value)}")
            return value
        return self._binary(node, value, ptr)

    def _binary(self, node: Node, value: Any, ptr: str) -> bytes | None:
        if not isinstance(value, str):
            self.fail(ptr, f"expected a base64 string, got {_type_name(value)}")
            return None
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            self.fail(ptr, "not valid base64")
            return None
        if isinstance(node, FixedNode) and len(raw) != node.size:
            self.fail(ptr, f"expected {node.size} bytes, got {len(raw)}")
        return raw

    def _text(self, value: Any, ptr: str, what: str) -> str | None:
        if not isinstance(value, str):
            self.fail(ptr, f"expected {what} as a string, got {_type_name(value)}")
            return None
        return value

    def date(self, node: Node, value: Any, ptr: str) -> Any:
        text = self._text(value, ptr, "a date (YYYY-MM-DD)")
        if text is None:
            return None
        try:
            if len(text) != 10:  # fromisoformat also takes 20240101
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            return self.fail(ptr, f"{text!r} is not a date (YYYY-MM-DD)")

    def time(self, node: Node, value: Any, ptr: str) -> Any:
        text = self._text(value, ptr, "a time (HH:MM:SS)")
        try:
            return time.fromisoformat(text) if text is not None else None
        except ValueError:
            return self.fail(ptr, f"{text!r} is not a time (HH:MM:SS[.ffffff])")

    def timestamp(self, node: Node, value: Any, ptr: str) -> Any:
        assert node.logical is not None  # noqa: S101 - dispatched on it
        local = node.logical.name.startswith("local-")
        text = self._text(value, ptr, "a timestamp")
        if text is None:
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return self.fail(ptr, f"{text!r} is not an ISO 8601 timestamp")
        if local and parsed.tzinfo is not None:
            return self.fail(ptr, "a local timestamp has no offset")
        if not local and parsed.tzinfo is None:
            return self.fail(ptr, "a timestamp needs an offset (e.g. Z or +01:00)")
        return parsed

    def decimal(self, node: Node, value: Any, ptr: str) -> Any:
        assert node.logical is not None  # noqa: S101 - dispatched on it
        text = self._text(value, ptr, "a decimal")
        try:
            number = Decimal(text) if text is not None else None
        except InvalidOperation:
            return self.fail(ptr, f"{text!r} is not a decimal number")
        if number is None or not number.is_finite():
            return None if number is None else self.fail(ptr, "a decimal must be finite")
        exponent = number.as_tuple().exponent
        assert isinstance(exponent, int)  # noqa: S101 - finite decimals have int exponents
        if -exponent > node.logical.scale:
            return self.fail(ptr, f"more than {node.logical.scale} decimal places")
        digits = len(number.quantize(Decimal(1).scaleb(-node.logical.scale)).as_tuple().digits)
        if digits > node.logical.precision:
            return self.fail(ptr, f"more than {node.logical.precision} digits")
        return number

    def uuid(self, node: Node, value: Any, ptr: str) -> Any:
        text = self._text(value, ptr, "a UUID")
        if text is None:
            return None
        try:
            if len(text) != 36:  # uuid.UUID also takes braces, URNs and bare hex
                raise ValueError(text)
            return str(uuid.UUID(text))
        except ValueError:
            return self.fail(ptr, f"{text!r} is not a UUID")


_LOGICAL_IN: Final[dict[str, Any]] = {
    "date": _In.date,
    "time-millis": _In.time,
    "time-micros": _In.time,
    "timestamp-millis": _In.timestamp,
    "timestamp-micros": _In.timestamp,
    "local-timestamp-millis": _In.timestamp,
    "local-timestamp-micros": _In.timestamp,
    "decimal": _In.decimal,
    "uuid": _In.uuid,
}


def _default_datum(node: Node, default: Any) -> Any:
    """A field default (Avro's JSON encoding) as a datum fastavro writes."""
    if isinstance(node, UnionNode):
        return _default_datum(node.branches[0], default)
    if isinstance(node, RecordNode):
        return {f.name: _default_datum(f.type, default.get(f.name, f.default)) for f in node.fields}
    if isinstance(node, ArrayNode):
        return [_default_datum(node.items, v) for v in default]
    if isinstance(node, MapNode):
        return {k: _default_datum(node.values, v) for k, v in default.items()}
    if node.kind in {"bytes", "fixed"} and isinstance(default, str):
        return default.encode("latin-1")  # the spec's encoding of byte defaults
    return default


def _out(node: Node, datum: Any) -> Any:  # noqa: PLR0911
    if datum is None:
        return None
    if isinstance(node, UnionNode):
        single = _nullable(node)
        if single is not None:
            return _out(single, datum)
        branch = next(b for b in node.branches if b.kind != "null" and _fits(b, datum))
        return {_branch_name(branch): _out(branch, datum)}
    if isinstance(node, RecordNode):
        return {f.name: _out(f.type, datum.get(f.name)) for f in node.fields}
    if isinstance(node, ArrayNode):
        return [_out(node.items, v) for v in datum]
    if isinstance(node, MapNode):
        return {k: _out(node.values, v) for k, v in datum.items()}
    if isinstance(datum, (bytes, bytearray)):
        return base64.b64encode(datum).decode("ascii")
    if isinstance(datum, datetime):
        if datum.tzinfo is not None:
            datum = datum.astimezone(UTC)
            return datum.isoformat().replace("+00:00", "Z")
        return datum.isoformat()
    if isinstance(datum, (date, time, uuid.UUID, Decimal)):
        return datum.isoformat() if isinstance(datum, (date, time)) else str(datum)
    return datum


def _fits(node: Node, datum: Any) -> bool:  # noqa: PLR0911
    """Whether a datum read by fastavro belongs to this union branch (first fit wins)."""
    if isinstance(node, RecordNode):
        return isinstance(datum, dict) and set(datum) == {f.name for f in node.fields}
    if isinstance(node, EnumNode):
        return isinstance(datum, str) and datum in node.symbols
    if isinstance(node, ArrayNode):
        return isinstance(datum, list)
    if isinstance(node, MapNode):
        return isinstance(datum, dict)
    if node.logical is not None:
        expected = {"date": date, "uuid": uuid.UUID, "decimal": Decimal}.get(node.logical.name)
        if expected is not None:
            return isinstance(datum, expected)
    checks: dict[str, Any] = {
        "boolean": bool,
        "int": int,
        "long": int,
        "float": float,
        "double": float,
        "string": str,
        "bytes": bytes,
        "fixed": bytes,
    }
    wanted = checks.get(node.kind)
    if wanted is int:
        return isinstance(datum, int) and not isinstance(datum, bool)
    return wanted is not None and isinstance(datum, wanted)
