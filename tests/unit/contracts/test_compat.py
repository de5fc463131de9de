"""Compatibility checker: modes, logical types, recursion and hypothesis properties.

The golden cases from the Avro project live in ``test_compat_golden.py``; this file
covers what they do not: Confluent modes, logical types (which the reference checkers
ignore), and properties checked against generated schemas, including a differential
check against the reference ``avro.compatibility`` checker.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.schema import parse as avro_parse
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.compat import (
    CompatibilityMode,
    IncompatibilityKind,
    check,
    check_mode,
    is_compatible,
)
from contracts.errors import InvalidSchemaError
from tests.unit.contracts.schema_strategies import records, schemas


def _rec(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": "R", "namespace": "es.test", "fields": list(fields)}


V1 = _rec({"name": "a", "type": "int"})
V2 = _rec({"name": "a", "type": "int"}, {"name": "b", "type": "string", "default": ""})
V3 = _rec({"name": "a", "type": "int"}, {"name": "b", "type": "string"})  # default dropped


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # V3 after [V1, V2]: V3 reads V2 data (b present) but not V1 data (b missing);
        # V2 reads V3 data; V1 reads V3 data. So only the transitive backward checks fail.
        (CompatibilityMode.BACKWARD, True),
        (CompatibilityMode.FORWARD, True),
        (CompatibilityMode.FULL, True),
        (CompatibilityMode.BACKWARD_TRANSITIVE, False),
        (CompatibilityMode.FORWARD_TRANSITIVE, True),
        (CompatibilityMode.FULL_TRANSITIVE, False),
        (CompatibilityMode.NONE, True),
    ],
)
def test_modes_follow_confluent_semantics(mode: CompatibilityMode, expected: bool) -> None:
    """The DESIGN's trap: v1 -> v2 adds a default, v3 drops it; only transitive modes see it."""
    assert is_compatible(V3, [V1, V2], mode) is expected


def test_backward_and_forward_are_not_inverted() -> None:
    """BACKWARD = the new schema reads old data; FORWARD = the old schema reads new data."""
    old = _rec({"name": "a", "type": "int"})
    new_with_required = _rec({"name": "a", "type": "int"}, {"name": "b", "type": "int"})
    # New reader requires b, which old data lacks: not backward. Old reader skips b: forward.
    assert not is_compatible(new_with_required, [old], "BACKWARD")
    assert is_compatible(new_with_required, [old], "FORWARD")


def test_empty_history_and_none_mode_are_compatible() -> None:
    """No earlier schema means nothing to break; NONE checks nothing."""
    assert is_compatible("int", [], CompatibilityMode.FULL_TRANSITIVE)
    assert is_compatible("string", ["int"], CompatibilityMode.NONE)
    assert not is_compatible("string", ["int"], CompatibilityMode.FULL)


def test_check_mode_names_the_direction_and_the_version() -> None:
    """Problems from a mode check say which earlier schema and which direction failed."""
    found = check_mode(V3, [V1, V2], "FULL_TRANSITIVE")
    assert len(found) == 1
    assert "new schema reading data of #0" in found[0].message
    assert found[0].path == "/fields/1"


def test_an_unknown_mode_is_refused() -> None:
    """A typo in a mode name is a caller bug, not a silent pass."""
    with pytest.raises(ValueError, match="SIDEWAYS"):
        is_compatible("int", ["int"], "SIDEWAYS")


def test_an_invalid_schema_is_a_typed_error() -> None:
    """A schema that is not Avro raises InvalidSchemaError with the pointer of the problem."""
    with pytest.raises(InvalidSchemaError) as caught:
        check(_rec({"name": "a", "type": "Nope"}), "int")
    assert caught.value.pointer == "/fields/0/type"


def _logical(base: Any, name: str, **extra: Any) -> dict[str, Any]:
    return {"type": base, "logicalType": name, **extra}


@pytest.mark.parametrize(
    ("reader", "writer"),
    [
        (_logical("long", "timestamp-micros"), _logical("long", "timestamp-millis")),
        (_logical("long", "timestamp-millis"), _logical("int", "date")),
        (
            _logical("bytes", "decimal", precision=10, scale=3),
            _logical("bytes", "decimal", precision=10, scale=2),
        ),
        (
            _logical("bytes", "decimal", precision=8, scale=2),
            _logical("bytes", "decimal", precision=10, scale=2),
        ),
        ("string", _logical("bytes", "decimal", precision=10, scale=2)),
        ("long", _logical("int", "date")),
    ],
    ids=[
        "millis-as-micros",
        "date-as-timestamp",
        "scale",
        "precision",
        "decimal-as-string",
        "date-promoted",
    ],
)
def test_logical_type_changes_that_change_meaning_are_incompatible(
    reader: Any, writer: Any
) -> None:
    """Readable bits that would change meaning are refused, unlike the reference checkers."""
    found = check(reader, writer)
    assert [i.kind for i in found] == [IncompatibilityKind.LOGICAL_TYPE_MISMATCH]


@pytest.mark.parametrize(
    ("reader", "writer"),
    [
        (_logical("int", "date"), _logical("int", "date")),
        (
            _logical("bytes", "decimal", precision=12, scale=2),
            _logical("bytes", "decimal", precision=10, scale=2),
        ),
        (_logical("string", "uuid"), "string"),
        ("string", _logical("string", "uuid")),
    ],
    ids=["same", "wider-precision", "annotate", "drop-annotation"],
)
def test_logical_type_changes_that_keep_meaning_are_compatible(reader: Any, writer: Any) -> None:
    """Same logical type, wider decimal precision, or an annotation on the same base pass."""
    assert check(reader, writer) == []


def test_unknown_and_invalid_logical_types_are_ignored() -> None:
    """The spec: an unknown or invalid logical type is ignored, leaving the base type.

    Were they kept, the promotion int -> long would add a logical type and be refused.
    """
    assert check(_logical("long", "no-such-type"), "int") == []
    assert check(_logical("long", "date"), "int") == []  # date cannot annotate a long


def test_reader_union_uses_the_first_matching_branch() -> None:
    """The spec resolves a non-union writer with the first reader branch that matches it."""
    inner_a = {"type": "record", "name": "In", "fields": [{"name": "x", "type": "int"}]}
    writer = {"type": "record", "name": "In", "fields": [{"name": "y", "type": "int"}]}
    found = check([inner_a, "null"], writer)
    assert [(i.kind, i.path) for i in found] == [
        (IncompatibilityKind.READER_FIELD_MISSING_DEFAULT, "/0/fields/0")
    ]


def test_named_references_are_followed() -> None:
    """A type defined once and referenced by name later is checked where it is used."""
    addr = {"type": "record", "name": "Addr", "fields": [{"name": "zip", "type": "string"}]}
    reader = _rec({"name": "home", "type": addr}, {"name": "work", "type": "Addr"})
    addr_w = {"type": "record", "name": "Addr", "fields": [{"name": "zip", "type": "int"}]}
    writer = _rec({"name": "home", "type": addr_w}, {"name": "work", "type": "Addr"})
    paths = [i.path for i in check(reader, writer)]
    assert paths == ["/fields/0/type/fields/0/type", "/fields/1/type/fields/0/type"]


# --- properties ---------------------------------------------------------------------------


@given(schemas())
def test_every_schema_is_compatible_with_itself(schema: Any) -> None:
    """Reading data with the schema it was written with never fails."""
    assert check(schema, schema) == []


@given(schemas(), schemas())
def test_full_is_backward_and_forward(new: Any, old: Any) -> None:
    """FULL holds exactly when BACKWARD and FORWARD both hold (and so for transitive)."""
    backward = is_compatible(new, [old], CompatibilityMode.BACKWARD)
    forward = is_compatible(new, [old], CompatibilityMode.FORWARD)
    assert is_compatible(new, [old], CompatibilityMode.FULL) == (backward and forward)
    assert is_compatible(new, [old], CompatibilityMode.FULL_TRANSITIVE) == (backward and forward)


@given(records(), st.sampled_from(["int", "string", "boolean", "double"]))
def test_adding_a_field_with_a_default_is_backward_compatible(record: Any, field_type: str) -> None:
    """A new reader with an extra defaulted field reads everything the old writer wrote."""
    default = {"int": 7, "string": "x", "boolean": True, "double": 0.5}[field_type]
    new = {
        **record,
        "fields": [*record["fields"], {"name": "zz", "type": field_type, "default": default}],
    }
    assert is_compatible(new, [record], CompatibilityMode.BACKWARD)


@given(records(), st.sampled_from(["int", "string", "boolean", "double"]))
def test_adding_a_field_without_a_default_is_not_backward_compatible(
    record: Any, field_type: str
) -> None:
    """The same addition without a default breaks BACKWARD (and only at the new field)."""
    new = {**record, "fields": [*record["fields"], {"name": "zz", "type": field_type}]}
    found = check(new, record)
    assert [i.path for i in found] == [f"/fields/{len(record['fields'])}"]


@settings(max_examples=300)
@given(schemas(), schemas())
def test_verdicts_agree_with_the_reference_checker(reader: Any, writer: Any) -> None:
    """Without logical types, our verdict equals the Apache Avro Python checker's."""
    reference = ReaderWriterCompatibilityChecker().get_compatibility(
        avro_parse(json.dumps(reader)), avro_parse(json.dumps(writer))
    )
    expected = reference.compatibility is SchemaCompatibilityType.compatible
    assert (check(reader, writer) == []) == expected
