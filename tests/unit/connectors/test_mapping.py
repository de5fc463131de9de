"""The field mapping: checked against the real catalogue's response schemas at start-up,
and every legacy-data problem a PROTOCOL error that names the entry, never the value."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from connectors.adapters.base import LegacyError, LegacyErrorKind
from connectors.mapping import MappingConfig, MappingError, compile_mapping
from contracts import DEFAULT_CATALOGUE_DIR, load_catalogue

CATALOGUE = load_catalogue(DEFAULT_CATALOGUE_DIR)
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def encodes(schema: Any, datum: dict[str, Any]) -> bool:
    """Whether fastavro (the codec underneath) writes ``datum`` with ``schema``."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), datum)
    return buffer.tell() > 0


def response_schema(service: str, version: str) -> Any:
    contract = CATALOGUE.services[service].version(version)
    assert contract is not None
    return contract.response


RESIDENCE_V2 = response_schema("register.residence-certificate", "2.0")
EMPLOYMENT = response_schema("socialsecurity.employment-status", "1.1")
INCOME = response_schema("tax.income-band", "1.1")

RESIDENCE_MAPPING: dict[str, Any] = {
    "registered": {"constant": True},
    "municipality_code": {"from": "cod_mun"},
    "municipality_name": {"from": "municipio"},
    "registered_since": {"from": "fecha_alta", "date_format": "%d/%m/%Y"},
    "address.street": {"from": "via"},
    "address.number": {"from": "numero"},
    "address.postal_code": {"from": "cp"},
    "household_size": {"from": "miembros"},
    "certified_at": {"now": True},
}

LEGACY_ROW: dict[str, Any] = {
    "cod_mun": "08019",
    "municipio": "Barcelona",
    "fecha_alta": "03/02/2011",
    "via": "Carrer de Mallorca ",
    "numero": "12B",
    "cp": "08013",
    "miembros": Decimal(3),
}


def test_residence_record_maps_to_json_the_schema_accepts() -> None:
    """Rename, constant, date format, nested record and `now` give a datum the codec writes."""
    mapping = compile_mapping(RESIDENCE_MAPPING, RESIDENCE_V2, clock=lambda: NOW)
    out = mapping.apply(LEGACY_ROW)
    assert out == {
        "registered": True,
        "municipality_code": "08019",
        "municipality_name": "Barcelona",
        "registered_since": date(2011, 2, 3),
        "address": {"street": "Carrer de Mallorca", "number": "12B", "postal_code": "08013"},
        "household_size": 3,
        "certified_at": NOW,
    }
    assert encodes(RESIDENCE_V2, out)


def test_nullable_record_whose_legacy_fields_are_all_empty_is_null() -> None:
    """A dwelling-less row gives `address: null`, not a record of empty strings."""
    mapping = compile_mapping(RESIDENCE_MAPPING, RESIDENCE_V2, clock=lambda: NOW)
    row = {**LEGACY_ROW, "via": "  ", "numero": None, "cp": ""}
    assert mapping.apply(row)["address"] is None


def test_enum_value_maps_request_echo_and_schema_defaults() -> None:
    """Codes map to enum symbols; `from_request` echoes; unmapped optional fields default."""
    mapping = compile_mapping(
        {
            "fiscal_year": {"from_request": "fiscal_year"},
            "return_filed": {"from": "presentada", "values": {"S": True, "N": False}},
            "band": {"from": "tramo", "values": {"1": "BELOW_1_IPREM", "2": "FROM_1_TO_2_IPREM"}},
        },
        INCOME,
    )
    out = mapping.apply({"presentada": "S", "tramo": 2}, {"nif": "x", "fiscal_year": 2024})
    assert encodes(INCOME, out)
    assert out == {
        "fiscal_year": 2024,
        "return_filed": True,
        "band": "FROM_1_TO_2_IPREM",
        "joint_return": None,
    }


def test_value_map_to_null_and_default_for_empty_values() -> None:
    """A code may map to null on a nullable field; `default` answers for empty values."""
    mapping = compile_mapping(
        {
            "status": {"from": "sit", "values": {"A": "EMPLOYED", "B": "NOT_AFFILIATED"}},
            "regime": {"from": "reg", "values": {"01": "GENERAL", "00": None}},
            "since": {"from": "desde", "date_format": "%Y%m%d", "null_values": ["", "00000000"]},
            "employers_count": {"from": "n", "default": 0},
        },
        EMPLOYMENT,
    )
    out = mapping.apply({"sit": "B", "reg": "00", "desde": "00000000", "n": ""})
    assert encodes(EMPLOYMENT, out)
    assert out == {"status": "NOT_AFFILIATED", "regime": None, "since": None, "employers_count": 0}


def test_every_startup_problem_is_reported_at_once_naming_its_entry() -> None:
    """Unknown targets, missing required fields, bad enum targets and bad constants."""
    with pytest.raises(MappingError) as caught:
        compile_mapping(
            {
                "registred": {"from": "x"},
                "status": {"from": "sit", "values": {"A": "WORKING"}},
                "regime": {"constant": "GENERAL", "date_format": "%d"},
                "since": {"constant": "yesterday"},
            },
            EMPLOYMENT,
        )
    problems = caught.value.problems
    assert any("'registred'" in p and "no field" in p for p in problems)
    assert any("'status'" in p and "not a symbol of enum EmploymentStatus" in p for p in problems)
    assert any("'regime'" in p and "date_format" in p for p in problems)
    assert any("'since'" in p and "YYYY-MM-DD" in p for p in problems)
    assert caught.value.kind is LegacyErrorKind.CONFIGURATION


def test_required_field_without_entry_is_named() -> None:
    """A required response field that nothing produces is a start-up error naming it."""
    mapping = {k: v for k, v in RESIDENCE_MAPPING.items() if k != "address.postal_code"}
    del mapping["certified_at"]
    with pytest.raises(MappingError) as caught:
        compile_mapping(mapping, RESIDENCE_V2)
    text = str(caught.value)
    assert "address.postal_code is required" in text
    assert "certified_at is required" in text


def test_target_shapes_that_cannot_be_mapped_are_refused() -> None:
    """A record mapped as a whole, a path through a scalar, a null into a required field."""
    with pytest.raises(MappingError) as caught:
        compile_mapping(
            {
                **RESIDENCE_MAPPING,
                "address": {"from": "addr"},
                "registered.x": {"from": "y"},
                "municipality_code": {"constant": None},
            },
            RESIDENCE_V2,
        )
    problems = caught.value.problems
    assert any("'address'" in p and "field by field" in p for p in problems)
    assert any("'registered.x'" in p and "not a record" in p for p in problems)
    assert any("'municipality_code'" in p and "null does not fit" in p for p in problems)


@pytest.mark.parametrize(
    ("row_change", "message"),
    [
        ({"fecha_alta": "2011-02-03"}, "expected a date written as %d/%m/%Y"),
        ({"miembros": "tres"}, "expected an integer"),
        ({"miembros": Decimal("2.5")}, "fraction"),
        ({"miembros": 2**40}, "out of range for int"),
        ({"municipio": None}, "empty and the field is required"),
        ({"cod_mun": 3.5}, "a float does not fit a string field"),
    ],
)
def test_legacy_values_that_do_not_convert_are_protocol_errors(
    row_change: dict[str, Any], message: str
) -> None:
    """Each bad legacy value is a PROTOCOL error naming the entry, not the value."""
    mapping = compile_mapping(RESIDENCE_MAPPING, RESIDENCE_V2, clock=lambda: NOW)
    with pytest.raises(LegacyError) as caught:
        mapping.apply({**LEGACY_ROW, **row_change})
    assert caught.value.kind is LegacyErrorKind.PROTOCOL
    assert not caught.value.retriable
    assert message in caught.value.detail
    assert "mapping entry" in caught.value.detail
    for value in row_change.values():
        if isinstance(value, str):
            assert value not in caught.value.detail


def test_unmapped_code_and_missing_legacy_field() -> None:
    """An unlisted code and a record without the source field are PROTOCOL errors."""
    mapping = compile_mapping(
        {"status": {"from": "sit", "values": {"A": "EMPLOYED"}}, "since": {"from": "d"}},
        EMPLOYMENT,
    )
    with pytest.raises(LegacyError, match="not in the entry's value map"):
        mapping.apply({"sit": "Z", "d": None})
    with pytest.raises(LegacyError, match="has no field 'd'"):
        mapping.apply({"sit": "A"})


def test_allow_missing_treats_an_absent_key_as_null() -> None:
    """REST APIs leave null keys out; `allow_missing` accepts that for one entry."""
    mapping = compile_mapping(
        {"status": {"constant": "UNEMPLOYED"}, "since": {"from": "d", "allow_missing": True}},
        EMPLOYMENT,
    )
    assert mapping.apply({})["since"] is None


def test_timestamps_in_local_time_are_converted_to_utc() -> None:
    """A naive legacy timestamp is read in the entry's zone and answered in UTC."""
    mapping = compile_mapping(
        {
            **RESIDENCE_MAPPING,
            "certified_at": {
                "from": "emitido",
                "date_format": "%d/%m/%Y %H:%M",
                "timezone": "Europe/Madrid",
            },
        },
        RESIDENCE_V2,
    )
    out = mapping.apply({**LEGACY_ROW, "emitido": "01/07/2025 12:00"})
    assert out["certified_at"] == datetime(2025, 7, 1, 10, 0, tzinfo=UTC)
    assert encodes(RESIDENCE_V2, out)


def test_config_model_names_bad_entries() -> None:
    """Two sources, no source, an unknown key and an unknown zone are refused by the model."""
    for bad, message in [
        ({"x": {"from": "a", "constant": 1}}, "exactly one"),
        ({"x": {"date_format": "%d"}}, "got none"),
        ({"x": {"from": "a", "rename": "b"}}, "Extra inputs"),
        ({"x": {"from": "a", "timezone": "Mars/Base"}}, "unknown timezone"),
    ]:
        with pytest.raises(ValueError, match=message):
            MappingConfig.model_validate(bad)
