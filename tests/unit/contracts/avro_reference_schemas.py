"""The Apache Avro project's compatibility test schemas, as JSON schema objects.

Ported from Apache Avro (Apache License 2.0):

* ``lang/py/avro/test/test_compatibility.py`` (shipped in the ``avro`` 1.12 package as
  ``avro/test/test_compatibility.py``), and
* ``lang/java/avro/src/test/java/org/apache/avro/TestSchemas.java``, which the Python
  file mirrors and which adds the recursive ``INT_LIST_RECORD`` / ``LONG_LIST_RECORD``.

Names keep the reference spelling so a case can be looked up in the source.
"""

from __future__ import annotations

from typing import Any

Schema = Any

NULL = "null"
BOOLEAN = "boolean"
INT = "int"
LONG = "long"
FLOAT = "float"
DOUBLE = "double"
STRING = "string"
BYTES = "bytes"

INT_ARRAY = {"type": "array", "items": "int"}
LONG_ARRAY = {"type": "array", "items": "long"}
STRING_ARRAY = {"type": "array", "items": "string"}
INT_MAP = {"type": "map", "values": "int"}
LONG_MAP = {"type": "map", "values": "long"}
STRING_MAP = {"type": "map", "values": "string"}

ENUM1_AB = {"type": "enum", "name": "Enum1", "symbols": ["A", "B"]}
ENUM1_ABC = {"type": "enum", "name": "Enum1", "symbols": ["A", "B", "C"]}
ENUM1_BC = {"type": "enum", "name": "Enum1", "symbols": ["B", "C"]}
ENUM2_AB = {"type": "enum", "name": "Enum2", "symbols": ["A", "B"]}
ENUM_ABC_ENUM_DEFAULT_A = {
    "type": "enum",
    "name": "Enum",
    "symbols": ["A", "B", "C"],
    "default": "A",
}
ENUM_AB_ENUM_DEFAULT_A = {"type": "enum", "name": "Enum", "symbols": ["A", "B"], "default": "A"}


def _record(name: str, *fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields), **extra}


def _field(name: str, type_: Schema, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


ENUM_ABC_ENUM_DEFAULT_A_RECORD = _record(
    "Record",
    _field(
        "Field",
        {"type": "enum", "name": "Enum", "symbols": ["A", "B", "C"], "default": "A"},
    ),
)
ENUM_AB_ENUM_DEFAULT_A_RECORD = _record(
    "Record",
    _field("Field", {"type": "enum", "name": "Enum", "symbols": ["A", "B"], "default": "A"}),
)
ENUM_ABC_FIELD_DEFAULT_B_ENUM_DEFAULT_A_RECORD = _record(
    "Record",
    _field(
        "Field",
        {"type": "enum", "name": "Enum", "symbols": ["A", "B", "C"], "default": "A"},
        default="B",
    ),
)
ENUM_AB_FIELD_DEFAULT_A_ENUM_DEFAULT_B_RECORD = _record(
    "Record",
    _field(
        "Field",
        {"type": "enum", "name": "Enum", "symbols": ["A", "B"], "default": "B"},
        default="A",
    ),
)

EMPTY_UNION: list[Schema] = []
NULL_UNION = ["null"]
INT_UNION = ["int"]
LONG_UNION = ["long"]
FLOAT_UNION = ["float"]
DOUBLE_UNION = ["double"]
STRING_UNION = ["string"]
BYTES_UNION = ["bytes"]
INT_STRING_UNION = ["int", "string"]
STRING_INT_UNION = ["string", "int"]
INT_FLOAT_UNION = ["int", "float"]
INT_LONG_UNION = ["int", "long"]
INT_LONG_FLOAT_DOUBLE_UNION = ["int", "long", "float", "double"]
NULL_INT_ARRAY_UNION = ["null", INT_ARRAY]
NULL_INT_MAP_UNION = ["null", INT_MAP]

EMPTY_RECORD1 = _record("Record1")
EMPTY_RECORD2 = _record("Record2")
A_INT_RECORD1 = _record("Record1", _field("a", INT))
A_LONG_RECORD1 = _record("Record1", _field("a", LONG))
A_INT_B_INT_RECORD1 = _record("Record1", _field("a", INT), _field("b", INT))
A_DINT_RECORD1 = _record("Record1", _field("a", INT, default=0))
A_INT_B_DINT_RECORD1 = _record("Record1", _field("a", INT), _field("b", INT, default=0))
A_DINT_B_DINT_RECORD1 = _record("Record1", _field("a", INT, default=0), _field("b", INT, default=0))
FIXED_4_BYTES = {"type": "fixed", "name": "Fixed", "size": 4}
FIXED_8_BYTES = {"type": "fixed", "name": "Fixed", "size": 8}
FIXED_4_ANOTHER_NAME = {"type": "fixed", "name": "AnotherName", "size": 4}
A_DINT_B_DFIXED_4_BYTES_RECORD1 = _record(
    "Record1", _field("a", INT, default=0), _field("b", FIXED_4_BYTES)
)
A_DINT_B_DFIXED_8_BYTES_RECORD1 = _record(
    "Record1", _field("a", INT, default=0), _field("b", FIXED_8_BYTES)
)
A_DINT_B_DINT_STRING_UNION_RECORD1 = _record(
    "Record1", _field("a", INT, default=0), _field("b", INT_STRING_UNION, default=0)
)
A_DINT_B_DINT_UNION_RECORD1 = _record(
    "Record1", _field("a", INT, default=0), _field("b", INT_UNION, default=0)
)
A_DINT_B_DENUM_1_RECORD1 = _record("Record1", _field("a", INT, default=0), _field("b", ENUM1_AB))
A_DINT_B_DENUM_2_RECORD1 = _record("Record1", _field("a", INT, default=0), _field("b", ENUM2_AB))


def _ns_record(inner_namespace: str) -> dict[str, Any]:
    inner = _record("InnerRecord1", _field("a", INT), namespace=inner_namespace)
    return _record("Record1", _field("f1", ["null", {"type": "array", "items": inner}]))


NS_RECORD1 = _ns_record("ns1")
NS_RECORD2 = _ns_record("ns2")
WITHOUT_NAMESPACE_RECORD = _record("Record", _field("f1", INT))
WITH_NAMESPACE_RECORD = _record("ns.Record", _field("f1", INT))

UNION_INT_RECORD1 = [INT, _record("Record1", _field("field1", INT))]
UNION_INT_RECORD2 = [INT, _record("Record2", _field("field1", INT))]
UNION_INT_ENUM1_AB = [INT, ENUM1_AB]
UNION_INT_FIXED_4_BYTES = [INT, FIXED_4_BYTES]
UNION_INT_BOOLEAN = [INT, BOOLEAN]
UNION_INT_ARRAY_INT = [INT, INT_ARRAY]
UNION_INT_MAP_INT = [INT, INT_MAP]
UNION_INT_NULL = [INT, NULL]
RECORD1_WITH_ENUM_AB = _record("Record1", _field("field1", ENUM1_AB))
RECORD1_WITH_ENUM_ABC = _record("Record1", _field("field1", ENUM1_ABC))

# Java TestSchemas: recursive linked lists.
INT_LIST_RECORD = _record("List", _field("head", INT), _field("tail", "List"))
LONG_LIST_RECORD = _record("List", _field("head", LONG), _field("tail", "List"))

# testValidateSchemaPair* in both suites.
PAIR_WRITER = _record("Record", _field("oldField1", INT), _field("oldField2", STRING))
PAIR_READER_MISSING_FIELD = _record("Record", _field("oldField1", INT))
PAIR_READER_MISSING_SECOND_FIELD = _record("Record", _field("oldField2", STRING))
PAIR_READER_ALL_FIELDS = PAIR_WRITER
PAIR_READER_NEW_FIELD_WITH_DEFAULT = _record(
    "Record", _field("oldField1", INT), _field("newField2", INT, default=42)
)
PAIR_READER_NEW_FIELD = _record("Record", _field("oldField1", INT), _field("newField2", INT))

# test_simple_schema_promotion (aliases).
ALIAS_WRITER = _record("foo", _field("f1", INT), _field("f2", STRING))
FIELD_ALIAS_READER = _record("foo", _field("bar", INT, aliases=["f1"]))
RECORD_ALIAS_READER = _record("other", _field("f1", INT), aliases=["foo"])

# testUnionReaderWriterSubsetIncompatibility
SUBSET_UNION_WRITER = [INT, STRING, LONG]
SUBSET_UNION_READER = [INT, STRING]
