"""Golden compatibility cases ported from the Apache Avro project.

Source: ``avro/test/test_compatibility.py`` of the ``avro`` 1.12 Python package
(``lang/py/avro/test/test_compatibility.py`` in apache/avro) and the Java suite it
mirrors (``TestSchemaCompatibility*.java``, ``TestSchemas.java``), Apache License 2.0.

Every reader/writer pair keeps the reference's verdict. Incompatible pairs also keep the
reference's location where the conventions agree; two conventions differ on purpose:
the root is ``""`` (RFC 6901) rather than ``"/"``, and a reader union lacking a writer
branch is reported at the reader union (the issue asks for paths in the *reader*
schema) rather than at the writer's branch index.
"""

from __future__ import annotations

from typing import Any

import pytest

from contracts.compat import IncompatibilityKind, check
from tests.unit.contracts import avro_reference_schemas as s

K = IncompatibilityKind

COMPATIBLE: list[tuple[str, Any, Any]] = [
    # testValidateSchemaPair* / test_schema_compatibility
    ("missing_field", s.PAIR_READER_MISSING_FIELD, s.PAIR_WRITER),
    ("missing_second_field", s.PAIR_READER_MISSING_SECOND_FIELD, s.PAIR_WRITER),
    ("all_fields", s.PAIR_READER_ALL_FIELDS, s.PAIR_WRITER),
    ("new_field_with_default", s.PAIR_READER_NEW_FIELD_WITH_DEFAULT, s.PAIR_WRITER),
    ("array_writer", s.STRING_ARRAY, s.STRING_ARRAY),
    ("primitive_writer", s.STRING, s.STRING),
    # test_simple_schema_promotion (aliases)
    ("field_alias", s.FIELD_ALIAS_READER, s.ALIAS_WRITER),
    ("record_alias", s.RECORD_ALIAS_READER, s.ALIAS_WRITER),
    # testReaderWriterCompatibility
    ("boolean", s.BOOLEAN, s.BOOLEAN),
    ("int", s.INT, s.INT),
    ("long<-int", s.LONG, s.INT),
    ("long", s.LONG, s.LONG),
    ("float<-int", s.FLOAT, s.INT),
    ("float<-long", s.FLOAT, s.LONG),
    ("double<-long", s.DOUBLE, s.LONG),
    ("double<-int", s.DOUBLE, s.INT),
    ("double<-float", s.DOUBLE, s.FLOAT),
    ("string", s.STRING, s.STRING),
    ("bytes", s.BYTES, s.BYTES),
    ("string<-bytes", s.STRING, s.BYTES),
    ("bytes<-string", s.BYTES, s.STRING),
    ("int_array", s.INT_ARRAY, s.INT_ARRAY),
    ("long_array<-int_array", s.LONG_ARRAY, s.INT_ARRAY),
    ("int_map", s.INT_MAP, s.INT_MAP),
    ("long_map<-int_map", s.LONG_MAP, s.INT_MAP),
    ("enum_ab", s.ENUM1_AB, s.ENUM1_AB),
    ("enum_abc<-ab", s.ENUM1_ABC, s.ENUM1_AB),
    ("empty_union", s.EMPTY_UNION, s.EMPTY_UNION),
    ("float_union<-empty", s.FLOAT_UNION, s.EMPTY_UNION),
    ("float_union<-int_union", s.FLOAT_UNION, s.INT_UNION),
    ("float_union<-long_union", s.FLOAT_UNION, s.LONG_UNION),
    ("float_union<-int_long_union", s.FLOAT_UNION, s.INT_LONG_UNION),
    ("int_union", s.INT_UNION, s.INT_UNION),
    ("int_string<-string_int", s.INT_STRING_UNION, s.STRING_INT_UNION),
    ("int_union<-empty", s.INT_UNION, s.EMPTY_UNION),
    ("long_union<-empty", s.LONG_UNION, s.EMPTY_UNION),
    ("long_union<-int_union", s.LONG_UNION, s.INT_UNION),
    ("double_union<-int_union", s.DOUBLE_UNION, s.INT_UNION),
    ("double_union<-long_union", s.DOUBLE_UNION, s.LONG_UNION),
    ("double_union<-float_union", s.DOUBLE_UNION, s.FLOAT_UNION),
    ("string_union<-empty", s.STRING_UNION, s.EMPTY_UNION),
    ("string_union<-bytes_union", s.STRING_UNION, s.BYTES_UNION),
    ("bytes_union<-empty", s.BYTES_UNION, s.EMPTY_UNION),
    ("bytes_union<-string_union", s.BYTES_UNION, s.STRING_UNION),
    ("double_union<-int_float_union", s.DOUBLE_UNION, s.INT_FLOAT_UNION),
    ("float<-int_float_union", s.FLOAT, s.INT_FLOAT_UNION),
    ("long<-int_long_union", s.LONG, s.INT_LONG_UNION),
    ("double<-int_float_union", s.DOUBLE, s.INT_FLOAT_UNION),
    ("double<-int_long_float_double", s.DOUBLE, s.INT_LONG_FLOAT_DOUBLE_UNION),
    ("float<-float_union", s.FLOAT, s.FLOAT_UNION),
    ("int_union<-int", s.INT_UNION, s.INT),
    ("int<-int_union", s.INT, s.INT_UNION),
    ("fixed_4", s.FIXED_4_BYTES, s.FIXED_4_BYTES),
    ("empty_record", s.EMPTY_RECORD1, s.EMPTY_RECORD1),
    ("empty_record<-a_int", s.EMPTY_RECORD1, s.A_INT_RECORD1),
    ("a_int", s.A_INT_RECORD1, s.A_INT_RECORD1),
    ("a_dint<-a_int", s.A_DINT_RECORD1, s.A_INT_RECORD1),
    ("a_dint", s.A_DINT_RECORD1, s.A_DINT_RECORD1),
    ("a_int<-a_dint", s.A_INT_RECORD1, s.A_DINT_RECORD1),
    ("a_long<-a_int", s.A_LONG_RECORD1, s.A_INT_RECORD1),
    ("a_int<-a_int_b_int", s.A_INT_RECORD1, s.A_INT_B_INT_RECORD1),
    ("a_dint<-a_int_b_int", s.A_DINT_RECORD1, s.A_INT_B_INT_RECORD1),
    ("a_int_b_dint<-a_int", s.A_INT_B_DINT_RECORD1, s.A_INT_RECORD1),
    ("a_dint_b_dint<-empty", s.A_DINT_B_DINT_RECORD1, s.EMPTY_RECORD1),
    ("a_dint_b_dint<-a_int", s.A_DINT_B_DINT_RECORD1, s.A_INT_RECORD1),
    ("a_int_b_int<-a_dint_b_dint", s.A_INT_B_INT_RECORD1, s.A_DINT_B_DINT_RECORD1),
    ("null_object", {"type": "null"}, {"type": "null"}),
    ("null", s.NULL, s.NULL),
    ("enum_default", s.ENUM_AB_ENUM_DEFAULT_A_RECORD, s.ENUM_ABC_ENUM_DEFAULT_A_RECORD),
    (
        "enum_default_with_field_default",
        s.ENUM_AB_FIELD_DEFAULT_A_ENUM_DEFAULT_B_RECORD,
        s.ENUM_ABC_FIELD_DEFAULT_B_ENUM_DEFAULT_A_RECORD,
    ),
    ("namespaces_ignored_in_names", s.NS_RECORD1, s.NS_RECORD2),
    ("with_and_without_namespace", s.WITHOUT_NAMESPACE_RECORD, s.WITH_NAMESPACE_RECORD),
    # Java: recursive records, and TestSchemaCompatibilityEnumDefaults
    ("int_list", s.INT_LIST_RECORD, s.INT_LIST_RECORD),
    ("long_list", s.LONG_LIST_RECORD, s.LONG_LIST_RECORD),
    ("long_list<-int_list", s.LONG_LIST_RECORD, s.INT_LIST_RECORD),
    ("enum_default_schema", s.ENUM_AB_ENUM_DEFAULT_A, s.ENUM_ABC_ENUM_DEFAULT_A),
]

# (id, reader, writer, kinds expected, paths expected): every incompatibility is listed.
INCOMPATIBLE: list[tuple[str, Any, Any, list[IncompatibilityKind], list[str]]] = [
    # testValidateSchemaNewField, testValidateArrayWriterSchema, ...PrimitiveWriterSchema
    (
        "new_field",
        s.PAIR_READER_NEW_FIELD,
        s.PAIR_WRITER,
        [K.READER_FIELD_MISSING_DEFAULT],
        ["/fields/1"],
    ),
    ("map<-array", s.STRING_MAP, s.STRING_ARRAY, [K.TYPE_MISMATCH], [""]),
    ("int<-string", s.INT, s.STRING, [K.TYPE_MISMATCH], [""]),
    ("union_subset", s.SUBSET_UNION_READER, s.SUBSET_UNION_WRITER, [K.MISSING_UNION_BRANCH], [""]),
    # test_schema_compatibility_fixed_size_mismatch
    ("fixed_4<-8", s.FIXED_4_BYTES, s.FIXED_8_BYTES, [K.FIXED_SIZE_MISMATCH], ["/size"]),
    ("fixed_8<-4", s.FIXED_8_BYTES, s.FIXED_4_BYTES, [K.FIXED_SIZE_MISMATCH], ["/size"]),
    (
        "record_fixed_8<-4",
        s.A_DINT_B_DFIXED_8_BYTES_RECORD1,
        s.A_DINT_B_DFIXED_4_BYTES_RECORD1,
        [K.FIXED_SIZE_MISMATCH],
        ["/fields/1/type/size"],
    ),
    (
        "record_fixed_4<-8",
        s.A_DINT_B_DFIXED_4_BYTES_RECORD1,
        s.A_DINT_B_DFIXED_8_BYTES_RECORD1,
        [K.FIXED_SIZE_MISMATCH],
        ["/fields/1/type/size"],
    ),
    # test_schema_compatibility_missing_enum_symbols
    ("enum_ab<-abc", s.ENUM1_AB, s.ENUM1_ABC, [K.MISSING_ENUM_SYMBOLS], ["/symbols"]),
    ("enum_bc<-abc", s.ENUM1_BC, s.ENUM1_ABC, [K.MISSING_ENUM_SYMBOLS], ["/symbols"]),
    (
        "record_enum_ab<-abc",
        s.RECORD1_WITH_ENUM_AB,
        s.RECORD1_WITH_ENUM_ABC,
        [K.MISSING_ENUM_SYMBOLS],
        ["/fields/0/type/symbols"],
    ),
    # test_schema_compatibility_missing_union_branch
    ("int_union<-int_string", s.INT_UNION, s.INT_STRING_UNION, [K.MISSING_UNION_BRANCH], [""]),
    (
        "string_union<-int_string",
        s.STRING_UNION,
        s.INT_STRING_UNION,
        [K.MISSING_UNION_BRANCH],
        [""],
    ),
    ("int_union<-int_record1", s.INT_UNION, s.UNION_INT_RECORD1, [K.MISSING_UNION_BRANCH], [""]),
    ("int_union<-int_record2", s.INT_UNION, s.UNION_INT_RECORD2, [K.MISSING_UNION_BRANCH], [""]),
    (
        "record1<-record2_union",
        s.UNION_INT_RECORD1,
        s.UNION_INT_RECORD2,
        [K.MISSING_UNION_BRANCH],
        [""],
    ),
    ("int_union<-int_enum", s.INT_UNION, s.UNION_INT_ENUM1_AB, [K.MISSING_UNION_BRANCH], [""]),
    (
        "int_union<-int_fixed",
        s.INT_UNION,
        s.UNION_INT_FIXED_4_BYTES,
        [K.MISSING_UNION_BRANCH],
        [""],
    ),
    ("int_union<-int_boolean", s.INT_UNION, s.UNION_INT_BOOLEAN, [K.MISSING_UNION_BRANCH], [""]),
    ("int_union<-long_union", s.INT_UNION, s.LONG_UNION, [K.MISSING_UNION_BRANCH], [""]),
    ("int_union<-float_union", s.INT_UNION, s.FLOAT_UNION, [K.MISSING_UNION_BRANCH], [""]),
    ("int_union<-double_union", s.INT_UNION, s.DOUBLE_UNION, [K.MISSING_UNION_BRANCH], [""]),
    ("int_union<-bytes_union", s.INT_UNION, s.BYTES_UNION, [K.MISSING_UNION_BRANCH], [""]),
    ("int_union<-int_array", s.INT_UNION, s.UNION_INT_ARRAY_INT, [K.MISSING_UNION_BRANCH], [""]),
    ("int_union<-int_map", s.INT_UNION, s.UNION_INT_MAP_INT, [K.MISSING_UNION_BRANCH], [""]),
    ("int_union<-int_null", s.INT_UNION, s.UNION_INT_NULL, [K.MISSING_UNION_BRANCH], [""]),
    (
        "int_union<-int_long_float_double",
        s.INT_UNION,
        s.INT_LONG_FLOAT_DOUBLE_UNION,
        [K.MISSING_UNION_BRANCH] * 3,
        ["", "", ""],
    ),
    (
        "record_union<-record_wider_union",
        s.A_DINT_B_DINT_UNION_RECORD1,
        s.A_DINT_B_DINT_STRING_UNION_RECORD1,
        [K.MISSING_UNION_BRANCH],
        ["/fields/1/type"],
    ),
    # test_schema_compatibility_name_mismatch
    ("enum1<-enum2", s.ENUM1_AB, s.ENUM2_AB, [K.NAME_MISMATCH], ["/name"]),
    ("record2<-record1", s.EMPTY_RECORD2, s.EMPTY_RECORD1, [K.NAME_MISMATCH], ["/name"]),
    ("fixed<-another_name", s.FIXED_4_BYTES, s.FIXED_4_ANOTHER_NAME, [K.NAME_MISMATCH], ["/name"]),
    (
        "record_enum1<-enum2",
        s.A_DINT_B_DENUM_1_RECORD1,
        s.A_DINT_B_DENUM_2_RECORD1,
        [K.NAME_MISMATCH],
        ["/fields/1/type/name"],
    ),
    # test_schema_compatibility_reader_field_missing_default_value
    (
        "a_int<-empty",
        s.A_INT_RECORD1,
        s.EMPTY_RECORD1,
        [K.READER_FIELD_MISSING_DEFAULT],
        ["/fields/0"],
    ),
    (
        "a_int_b_dint<-empty",
        s.A_INT_B_DINT_RECORD1,
        s.EMPTY_RECORD1,
        [K.READER_FIELD_MISSING_DEFAULT],
        ["/fields/0"],
    ),
    # test_schema_compatibility_type_mismatch
    ("null<-int", s.NULL, s.INT, [K.TYPE_MISMATCH], [""]),
    ("null<-long", s.NULL, s.LONG, [K.TYPE_MISMATCH], [""]),
    ("boolean<-int", s.BOOLEAN, s.INT, [K.TYPE_MISMATCH], [""]),
    ("int<-null", s.INT, s.NULL, [K.TYPE_MISMATCH], [""]),
    ("int<-boolean", s.INT, s.BOOLEAN, [K.TYPE_MISMATCH], [""]),
    ("int<-long", s.INT, s.LONG, [K.TYPE_MISMATCH], [""]),
    ("int<-float", s.INT, s.FLOAT, [K.TYPE_MISMATCH], [""]),
    ("int<-double", s.INT, s.DOUBLE, [K.TYPE_MISMATCH], [""]),
    ("long<-float", s.LONG, s.FLOAT, [K.TYPE_MISMATCH], [""]),
    ("long<-double", s.LONG, s.DOUBLE, [K.TYPE_MISMATCH], [""]),
    ("float<-double", s.FLOAT, s.DOUBLE, [K.TYPE_MISMATCH], [""]),
    ("double<-string", s.DOUBLE, s.STRING, [K.TYPE_MISMATCH], [""]),
    ("fixed<-string", s.FIXED_4_BYTES, s.STRING, [K.TYPE_MISMATCH], [""]),
    ("string<-boolean", s.STRING, s.BOOLEAN, [K.TYPE_MISMATCH], [""]),
    ("string<-int", s.STRING, s.INT, [K.TYPE_MISMATCH], [""]),
    ("bytes<-null", s.BYTES, s.NULL, [K.TYPE_MISMATCH], [""]),
    ("bytes<-int", s.BYTES, s.INT, [K.TYPE_MISMATCH], [""]),
    ("record<-int", s.A_INT_RECORD1, s.INT, [K.TYPE_MISMATCH], [""]),
    ("int_array<-long_array", s.INT_ARRAY, s.LONG_ARRAY, [K.TYPE_MISMATCH], ["/items"]),
    ("map<-array_int", s.INT_MAP, s.INT_ARRAY, [K.TYPE_MISMATCH], [""]),
    ("array<-map_int", s.INT_ARRAY, s.INT_MAP, [K.TYPE_MISMATCH], [""]),
    ("int_map<-long_map", s.INT_MAP, s.LONG_MAP, [K.TYPE_MISMATCH], ["/values"]),
    ("int<-enum", s.INT, s.ENUM2_AB, [K.TYPE_MISMATCH], [""]),
    ("enum<-int", s.ENUM2_AB, s.INT, [K.TYPE_MISMATCH], [""]),
    (
        "float<-int_long_float_double",
        s.FLOAT,
        s.INT_LONG_FLOAT_DOUBLE_UNION,
        [K.TYPE_MISMATCH],
        [""],
    ),
    ("long<-int_float", s.LONG, s.INT_FLOAT_UNION, [K.TYPE_MISMATCH], [""]),
    ("int<-int_float", s.INT, s.INT_FLOAT_UNION, [K.TYPE_MISMATCH], [""]),
    # Java TestSchemaCompatibility: recursive records that differ deep down.
    (
        "int_list<-long_list",
        s.INT_LIST_RECORD,
        s.LONG_LIST_RECORD,
        [K.TYPE_MISMATCH],
        ["/fields/0/type"],
    ),
    # Java TestSchemaCompatibilityEnumDefaults: a field default does not stand in for a symbol.
    (
        "field_default_is_not_enum_default",
        {
            "type": "record",
            "name": "R",
            "fields": [{"name": "f", "type": s.ENUM1_AB, "default": "A"}],
        },
        {"type": "record", "name": "R", "fields": [{"name": "f", "type": s.ENUM1_ABC}]},
        [K.MISSING_ENUM_SYMBOLS],
        ["/fields/0/type/symbols"],
    ),
]


@pytest.mark.parametrize(
    ("reader", "writer"), [c[1:] for c in COMPATIBLE], ids=[c[0] for c in COMPATIBLE]
)
def test_reference_compatible_pairs(reader: Any, writer: Any) -> None:
    """Pairs the Avro project declares compatible produce no incompatibility."""
    assert check(reader, writer) == []


@pytest.mark.parametrize(
    ("reader", "writer", "kinds", "paths"),
    [c[1:] for c in INCOMPATIBLE],
    ids=[c[0] for c in INCOMPATIBLE],
)
def test_reference_incompatible_pairs(
    reader: Any, writer: Any, kinds: list[IncompatibilityKind], paths: list[str]
) -> None:
    """Pairs the Avro project declares incompatible are caught, with kind and reader path."""
    found = check(reader, writer)
    assert [i.kind for i in found] == kinds
    assert [i.path for i in found] == paths
    assert all(i.message for i in found)
