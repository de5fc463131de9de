"""Legacy record -> response datum: the ``mapping:`` block of ``connector.yaml``.

Each entry names a target field of the response schema (dotted for nested records,
``address.street``) and where its value comes from: a legacy field (``from``), a request
field (``from_request``), a ``constant`` or the time of the answer (``now``). Legacy
values are converted to the field's Avro type: text to numbers, ``date_format`` for dates
and timestamps written the legacy way (``%d/%m/%Y``), ``values`` for code tables
(``A`` -> ``EMPLOYED``, ``S`` -> ``true``), ``null_values`` for the texts that mean "none"
(blank, ``00/00/0000``) and ``default`` for what to answer then.

``compile_mapping`` checks the whole mapping against the response schema once, at
start-up, and reports every problem at once, each naming its entry: a target that is not
in the schema, a required field nothing produces, a constant or value-map target that
does not fit the type, an enum target that is not a symbol. ``ResponseMapping.apply``
then only meets problems of the legacy data, raised as ``LegacyError(PROTOCOL)`` naming
the entry and never the value (error details are logged; values are personal data).

The result is an Avro datum as the codec (fastavro) writes it: ``datetime.date`` for
dates, aware ``datetime`` for timestamps, enums as symbols, a dict per record. Request
values reach ``from_request`` as decoded (dates as ``date``), or as ISO text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from connectors.adapters.base import (
    LegacyConfigurationError,
    LegacyProtocolError,
)
from connectors.adapters.request_values import field_value
from contracts.avro_schema import EnumNode, Node, RecordNode, UnionNode, parse

__all__ = [
    "FieldMapping",
    "MappingConfig",
    "MappingError",
    "ResponseMapping",
    "compile_mapping",
]

_INT_RANGES: Final = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_SOURCES: Final = ("source", "constant", "from_request", "now")
_NOTHING: Final = object()
_EPOCH: Final = date(1970, 1, 1)


class FieldMapping(BaseModel):
    """How one response field is produced. Exactly one of from/constant/from_request/now."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: str | None = Field(default=None, alias="from", min_length=1)
    """The legacy record's field (column, JSON key, XPath field name)."""
    constant: Any = None
    """A fixed value, in the response field's type (JSON form: dates as ``YYYY-MM-DD``)."""
    from_request: str | None = Field(default=None, min_length=1)
    """A request field echoed back (dotted path), such as the fiscal year asked for."""
    now: bool = False
    """The time of the answer (timestamp or date fields)."""
    date_format: str | None = None
    """``strptime`` format of a legacy date or timestamp text; ISO 8601 when unset."""
    timezone: str = "UTC"
    """Zone of legacy timestamps written without an offset (e.g. ``Europe/Madrid``)."""
    values: dict[str, Any] | None = None
    """Code table: legacy value (as text) -> response value. Unlisted codes are errors."""
    null_values: list[str] = Field(default_factory=lambda: [""])
    """Legacy texts meaning "no value" (compared after stripping blanks)."""
    default: Any = None
    """The response value when the legacy value is null; unset: null or the schema default."""
    allow_missing: bool = False
    """Treat a legacy record without the field (a JSON key left out) as null, not an error."""
    strip: bool = True
    """Strip surrounding blanks from legacy text (fixed-width exports pad with spaces)."""

    @model_validator(mode="after")
    def _one_source(self) -> FieldMapping:
        given = [name for name in _SOURCES if name in self.model_fields_set]
        if "now" in given and not self.now:
            given.remove("now")
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'from', 'constant', 'from_request', 'now' "
                f"(got {', '.join(given) or 'none'})"
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}") from exc
        return self

    @property
    def has_default(self) -> bool:
        """Whether ``default`` was written in the config (null is a valid default)."""
        return "default" in self.model_fields_set


class MappingConfig(RootModel[dict[str, FieldMapping]]):
    """The ``mapping:`` block: response field path -> how it is produced."""


class MappingError(LegacyConfigurationError):
    """The mapping does not fit the response schema; lists every problem at once."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the mapping does not fit the response schema: " + "; ".join(problems))
        self.problems = problems


class _Unfit(Exception):
    """A value does not fit a target type; the message names types, never the value."""


# ---------------------------------------------------------------------------- plan


@dataclass
class _Leaf:
    entry: str
    spec: FieldMapping
    node: Node
    nullable: bool
    fallback: Any
    """The value for an empty legacy value: the entry's default, else the schema's."""
    fixed: Any = None
    """The converted constant."""
    values: dict[str, Any] | None = None
    zone: Any = UTC


@dataclass
class _Fixed:
    """An unmapped field filled with its schema default."""

    value: Any


@dataclass
class _Record:
    nullable: bool
    children: dict[str, _Leaf | _Record | _Fixed] = field(default_factory=dict)


class ResponseMapping:
    """A mapping checked against one response schema; ``apply`` maps legacy records."""

    def __init__(self, plan: _Record, clock: Callable[[], datetime]) -> None:
        self._plan = plan
        self._clock = clock

    def apply(
        self, record: Mapping[str, Any], request: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The response datum for a legacy record and the request it answers."""
        datum = self._record(self._plan, record, request or {}, self._clock())
        assert datum is not None  # noqa: S101 - the top record is never nullable
        return datum

    def _record(
        self, plan: _Record, record: Mapping[str, Any], request: Mapping[str, Any], now: datetime
    ) -> dict[str, Any] | None:
        """The record's datum (fastavro types); None for an absent nullable record."""
        out: dict[str, Any] = {}
        produced = False
        empty: list[str] = []
        for name, child in plan.children.items():
            if isinstance(child, _Fixed):
                out[name] = child.value
            elif isinstance(child, _Record):
                out[name] = self._record(child, record, request, now)
                produced |= out[name] is not None
            else:
                out[name] = _leaf(child, record, request, now)
                if out[name] is _NOTHING:
                    empty.append(child.entry)
                    continue
                # Constants and clocks say nothing about whether the legacy data is there.
                legacy = child.spec.source is not None or child.spec.from_request is not None
                produced |= out[name] is not None and legacy
        # A nullable record whose legacy fields are all empty is absent (no address).
        if plan.nullable and not produced:
            return None
        if empty:
            raise LegacyProtocolError(
                f"mapping entry {empty[0]!r}: the legacy value is empty and the field is required",
            )
        return out


def _leaf(leaf: _Leaf, record: Mapping[str, Any], request: Mapping[str, Any], now: datetime) -> Any:
    spec = leaf.spec
    if "constant" in spec.model_fields_set:
        return leaf.fixed  # converted once, at compile time
    if spec.now:
        raw: Any = now
    elif spec.from_request is not None:
        raw = field_value(request, spec.from_request)
    else:
        assert spec.source is not None  # noqa: S101 - the validator ensures one source
        raw = record.get(spec.source, _NOTHING)
        if raw is _NOTHING:
            if not spec.allow_missing:
                raise LegacyProtocolError(
                    f"mapping entry {leaf.entry!r}: the legacy record has no field {spec.source!r}",
                )
            raw = None
    if isinstance(raw, str) and spec.strip:
        raw = raw.strip()
    if raw is None or (isinstance(raw, str) and raw in spec.null_values):
        return _absent(leaf)
    try:
        if leaf.values is not None:
            key = _code(raw)
            if key not in leaf.values:
                raise _Unfit("the legacy code is not in the entry's value map")
            return leaf.values[key]
        return _convert(leaf.node, raw, spec, leaf.zone)
    except _Unfit as exc:
        raise LegacyProtocolError(f"mapping entry {leaf.entry!r}: {exc}") from None


def _absent(leaf: _Leaf) -> Any:
    if leaf.fallback is not _NOTHING:
        return leaf.fallback
    # Empty and required: an error unless its nullable record turns out absent as a whole.
    return None if leaf.nullable else _NOTHING


def _code(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


# ------------------------------------------------------------------------ compile


def compile_mapping(
    config: MappingConfig | Mapping[str, Any],
    response_schema: Any,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ResponseMapping:
    """Check ``config`` against ``response_schema`` (the .avsc JSON); raise ``MappingError``."""
    if not isinstance(config, MappingConfig):
        config = MappingConfig.model_validate(config)
    root = parse(response_schema)
    if not isinstance(root, RecordNode):
        raise MappingError(["the response schema is not a record"])
    problems: list[str] = []
    plan = _Record(nullable=False)
    placed: dict[str, _Record] = {"": plan}
    for entry, spec in config.root.items():
        _place(entry, spec, root, placed, problems)
    _fill(root, plan, "", problems)
    if problems:
        raise MappingError(problems)
    return ResponseMapping(plan, clock)


def _place(
    entry: str,
    spec: FieldMapping,
    root: RecordNode,
    placed: dict[str, _Record],
    problems: list[str],
) -> None:
    parts = entry.split(".")
    record, plan, prefix = root, placed[""], ""
    for depth, part in enumerate(parts):
        target = next((f for f in record.fields if f.name == part), None)
        if target is None:
            where = f"record {prefix[:-1]!r}" if prefix else "the response"
            problems.append(f"entry {entry!r}: {where} has no field {part!r}")
            return
        node, nullable = _unwrap(target.type)
        if node is None:
            problems.append(f"entry {entry!r}: unions of several types are not supported")
            return
        if depth == len(parts) - 1:
            if isinstance(node, RecordNode):
                problems.append(f"entry {entry!r}: a record is mapped field by field")
                return
            fallback = (
                _schema_default(target.type, target.default) if target.has_default else _NOTHING
            )
            leaf = _Leaf(entry, spec, node, nullable or _null_default(target), fallback)
            _check_leaf(leaf, problems)
            plan.children[part] = leaf
            return
        if not isinstance(node, RecordNode):
            problems.append(f"entry {entry!r}: {prefix}{part} is a {node.kind}, not a record")
            return
        prefix = f"{prefix}{part}."
        existing = plan.children.get(part)
        if not isinstance(existing, _Record):
            existing = _Record(nullable=nullable)
            plan.children[part] = existing
            placed[prefix] = existing
        record, plan = node, existing


def _null_default(target: Any) -> bool:
    return bool(target.has_default and target.default is None)


def _unwrap(node: Node) -> tuple[Node | None, bool]:
    """(the non-null type, nullable) of a field type; (None, _) for wider unions."""
    if not isinstance(node, UnionNode):
        return node, False
    others = [b for b in node.branches if b.kind != "null"]
    if len(others) != 1:
        return None, True
    return others[0], len(others) < len(node.branches)


def _check_leaf(leaf: _Leaf, problems: list[str]) -> None:
    spec, node = leaf.spec, leaf.node
    leaf.zone = ZoneInfo(spec.timezone)
    name = f"entry {leaf.entry!r}"
    logical = node.logical.name if node.logical else None
    if spec.now and logical not in {"date", "timestamp-millis", "timestamp-micros"}:
        problems.append(f"{name}: 'now' needs a date or timestamp field, not {_describe(node)}")
    if spec.date_format is not None and logical is None:
        problems.append(f"{name}: 'date_format' needs a date or timestamp field")
    try:
        if "constant" in spec.model_fields_set:
            leaf.fixed = _target(leaf, spec.constant)
        if spec.has_default:
            leaf.fallback = _target(leaf, spec.default)
        if spec.values is not None:
            leaf.values = {code: _target(leaf, value) for code, value in spec.values.items()}
    except _Unfit as exc:
        problems.append(f"{name}: {exc}")


def _target(leaf: _Leaf, value: Any) -> Any:
    """A configured value (constant, default, value-map target) in the field's type."""
    if value is None:
        if not leaf.nullable:
            raise _Unfit(f"null does not fit the non-nullable {_describe(leaf.node)} field")
        return None
    # Configured dates are ISO text whatever the legacy format is.
    iso = leaf.spec.model_copy(update={"date_format": None})
    return _convert(leaf.node, value, iso, leaf.zone)


def _fill(record: RecordNode, plan: _Record, prefix: str, problems: list[str]) -> None:
    """Give every unmapped field its schema default; report required fields left empty."""
    for target in record.fields:
        child = plan.children.get(target.name)
        node, _ = _unwrap(target.type)
        if isinstance(child, _Record):
            assert isinstance(node, RecordNode)  # noqa: S101 - placed only on records
            _fill(node, child, f"{prefix}{target.name}.", problems)
        elif child is None:
            if target.has_default:
                plan.children[target.name] = _Fixed(_schema_default(target.type, target.default))
            else:
                problems.append(
                    f"field {prefix}{target.name!s} is required by the response schema "
                    "and no mapping entry produces it"
                )
    # Keep the schema's field order in the datum.
    order = {f.name: i for i, f in enumerate(record.fields)}
    plan.children = dict(sorted(plan.children.items(), key=lambda kv: order[kv[0]]))


def _schema_default(node: Node, default: Any) -> Any:
    if isinstance(node, UnionNode):
        return _schema_default(node.branches[0], default)
    if isinstance(node, RecordNode):
        return {
            f.name: _schema_default(f.type, default.get(f.name, f.default)) for f in node.fields
        }
    if node.logical is not None and node.logical.name == "date" and isinstance(default, int):
        return _EPOCH + timedelta(days=default)  # Avro writes date defaults as epoch days
    return default


# ---------------------------------------------------------------------- conversion


def _describe(node: Node) -> str:
    return node.logical.name if node.logical else node.kind


def _convert(node: Node, raw: Any, spec: FieldMapping, zone: Any) -> Any:  # noqa: PLR0911, PLR0912
    """``raw`` in ``node``'s type, or ``_Unfit`` naming the types involved."""
    got = type(raw).__name__
    if isinstance(node, EnumNode):
        if isinstance(raw, str) and raw in node.symbols:
            return raw
        raise _Unfit(f"not a symbol of enum {node.name} (add it to 'values')")
    logical = node.logical.name if node.logical else None
    if logical == "date":
        return _as_datetime(raw, spec, zone, want_date=True)
    if logical in {"timestamp-millis", "timestamp-micros"}:
        return _as_datetime(raw, spec, zone, want_date=False)
    kind = node.kind
    if kind == "string":
        if isinstance(raw, (str, Decimal)) or (isinstance(raw, int) and not isinstance(raw, bool)):
            return str(raw)
        if isinstance(raw, date):
            return raw.isoformat()
    elif kind in _INT_RANGES:
        number = _as_int(raw)
        low, high = _INT_RANGES[kind]
        if not low <= number <= high:
            raise _Unfit(f"the number is out of range for {kind}")
        return number
    elif kind in {"float", "double"}:
        try:
            if not isinstance(raw, bool) and isinstance(raw, (int, float, Decimal, str)):
                return float(raw)
        except ValueError:
            raise _Unfit(f"expected a number, got text that is not one ({kind})") from None
    elif kind == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).lower() if isinstance(raw, (str, int)) else None
        if text in {"true", "1"}:
            return True
        if text in {"false", "0"}:
            return False
        raise _Unfit("expected a boolean (true/false/1/0; map other codes with 'values')")
    elif kind == "null":
        raise _Unfit("a null field takes no value")
    raise _Unfit(f"a {got} does not fit a {_describe(node)} field")


def _as_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise _Unfit("expected an integer, got a bool")
    if isinstance(raw, int):
        return raw
    try:
        number = Decimal(raw.strip()) if isinstance(raw, str) else Decimal(raw)
    except (InvalidOperation, TypeError, ValueError):
        raise _Unfit(f"expected an integer, got a {type(raw).__name__} that is not one") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise _Unfit("expected an integer, got a number with a fraction")
    return int(number)


def _as_datetime(raw: Any, spec: FieldMapping, zone: Any, *, want_date: bool) -> Any:
    what = "date" if want_date else "timestamp"
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, date):
        value = datetime(raw.year, raw.month, raw.day)
    elif isinstance(raw, str):
        try:
            if spec.date_format is not None:
                value = datetime.strptime(raw, spec.date_format)
            elif not want_date or len(raw) == 10:  # fromisoformat also takes 20240101
                value = datetime.fromisoformat(raw)
            else:
                raise ValueError(raw)
        except ValueError:
            fmt = spec.date_format or ("YYYY-MM-DD" if want_date else "ISO 8601")
            raise _Unfit(f"expected a {what} written as {fmt}") from None
    else:
        raise _Unfit(f"a {type(raw).__name__} does not fit a {what} field")
    if want_date:
        return value.date()
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value
