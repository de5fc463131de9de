"""JSON <-> Avro conversion: strict, every problem with its JSON pointer, round trips."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from contracts import Codec, DataValidationError, SchemaId, avro_to_json, json_to_avro

ADDRESS = {
    "type": "record",
    "name": "Address",
    "fields": [{"name": "street", "type": "string"}, {"name": "zip", "type": "string"}],
}
SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Req",
    "namespace": "es.test",
    "fields": [
        {"name": "nif", "type": "string"},
        {"name": "year", "type": "int"},
        {"name": "total", "type": "long"},
        {"name": "ratio", "type": "float"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "born", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {
            "name": "amount",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2},
        },
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "blob", "type": "bytes"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "where", "type": ["null", "string", ADDRESS], "default": None},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        {"name": "scores", "type": {"type": "map", "values": "int"}, "default": {}},
    ],
}
VALID: dict[str, Any] = {
    "nif": "12345678Z",
    "year": 2024,
    "total": 2**40,
    "ratio": 0.5,
    "kind": "B",
    "born": "1980-02-29",
    "at": "2024-05-01T10:00:00Z",
    "amount": "1234.50",
    "id": "0191e2c4-7a1b-7c3d-8e4f-123456789abc",
    "blob": "aGk=",
    "note": "urgent",
    "where": {"es.test.Address": {"street": "Calle Mayor 1", "zip": "28013"}},
    "tags": ["a"],
    "scores": {"x": 1},
}


def test_a_valid_document_converts_to_fastavro_types() -> None:
    """Logical values become Python objects; unions of several types pick their branch."""
    datum = json_to_avro(SCHEMA, VALID)
    assert datum["born"] == date(1980, 2, 29)
    assert datum["at"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert datum["amount"] == Decimal("1234.50")
    assert datum["blob"] == b"hi"
    assert datum["where"] == ("es.test.Address", {"street": "Calle Mayor 1", "zip": "28013"})


def test_round_trip_through_the_wire() -> None:
    """JSON -> Avro -> bytes -> Avro -> JSON gives the same document back."""
    codec = Codec({SchemaId(1): SCHEMA})
    decoded = codec.decode(codec.encode(SchemaId(1), json_to_avro(SCHEMA, VALID))).datum
    assert avro_to_json(SCHEMA, decoded) == VALID


def test_missing_fields_with_defaults_take_them() -> None:
    """Optional fields may be left out; their defaults are filled in."""
    document = {k: v for k, v in VALID.items() if k not in {"note", "where", "tags", "scores"}}
    datum = json_to_avro(SCHEMA, document)
    assert (datum["note"], datum["where"], datum["tags"], datum["scores"]) == (None, None, [], {})


def test_every_problem_is_reported_with_its_pointer() -> None:
    """All errors at once, each at its RFC 6901 pointer (``~1`` escapes a slash)."""
    bad = {
        **VALID,
        "year": 2**31,
        "total": True,
        "ratio": 1e39,
        "kind": "C",
        "born": "2024-02-30",
        "at": "2024-05-01T10:00:00",
        "amount": "1.234",
        "id": "not-a-uuid",
        "blob": "***",
        "where": "Calle Mayor",
        "tags": ["a", 1],
        "scores": {"a/b": "x"},
        "extra": 1,
    }
    del bad["nif"]
    with pytest.raises(DataValidationError) as caught:
        json_to_avro(SCHEMA, bad)
    pointers = [pointer for pointer, _ in caught.value.problems]
    assert pointers == [
        "/extra",
        "/nif",
        "/year",
        "/total",
        "/ratio",
        "/kind",
        "/born",
        "/at",
        "/amount",
        "/id",
        "/blob",
        "/where",
        "/tags/1",
        "/scores/a~1b",
    ]
    messages = dict(caught.value.problems)
    assert messages["/extra"] == "unknown field"
    assert messages["/nif"] == "required field is missing"
    assert "out of range for int" in messages["/year"]
    assert "needs an offset" in messages["/at"]
    assert "more than 2 decimal places" in messages["/amount"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"int": 1}, "is not a type of this union"),
        ({"string": "a", "null": None}, "one key naming the type"),
    ],
)
def test_multi_type_unions_need_a_tagged_value(value: Any, message: str) -> None:
    """A union of several types takes a one-key object naming a branch it has."""
    with pytest.raises(DataValidationError, match=message):
        json_to_avro(SCHEMA, {**VALID, "where": value})


def test_short_names_select_named_branches() -> None:
    """``{"Address": ...}`` works as well as the full name."""
    datum = json_to_avro(SCHEMA, {**VALID, "where": {"Address": {"street": "s", "zip": "z"}}})
    assert datum["where"][0] == "es.test.Address"


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ("int", 5.0),
        ("long", "5"),
        ("double", float("nan")),
        ("boolean", 0),
        ("null", 0),
        ({"type": "fixed", "name": "F", "size": 2}, "aGk9"),
        ({"type": "bytes", "logicalType": "decimal", "precision": 3, "scale": 0}, "1234"),
        ({"type": "int", "logicalType": "date"}, "20240101"),
    ],
)
def test_strictness(schema: Any, value: Any) -> None:
    """No coercion: floats for ints, strings for numbers, NaN, 0 for false, too many digits."""
    with pytest.raises(DataValidationError) as caught:
        json_to_avro(schema, value)
    assert [pointer for pointer, _ in caught.value.problems] == [""]
