"""The demo registries on disk, and connector configs the runtime's loader accepts whose
mappings fit the catalogue's response schemas."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from connectors.demo import create_demo_registries, write_demo_connector_configs
from connectors.mapping import compile_mapping
from contracts import DEFAULT_CATALOGUE_DIR, load_catalogue
from interop.settings import load_settings

COMMON: dict[str, Any] = {
    "allow_unsigned": True,
    "audit_digest_key": "k" * 40,
    "health": {"enabled": False},
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Registries of 300 people, written once for the module."""
    directory = tmp_path_factory.mktemp("demo")
    create_demo_registries(directory, people=300)
    return directory


def test_the_register_holds_everyone_with_legacy_dates(data_dir: Path) -> None:
    """One row per person, dates in the register's dd/mm/yyyy text."""
    with sqlite3.connect(data_dir / "padron.sqlite") as db:
        rows = db.execute("SELECT numero_documento, fecha_alta FROM habitantes").fetchall()
    db.close()
    assert len(rows) == 300
    assert all(len(alta) == 10 and alta[2] == "/" for _, alta in rows)


def test_the_social_security_export_is_latin1_csv(data_dir: Path) -> None:
    """Semicolon-separated, latin-1, a header and one line per person."""
    text = (data_dir / "tgss-afiliacion.csv").read_bytes().decode("latin-1")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:3] == ["NAF", "IPF", "APELLIDOS_NOMBRE"]
    assert len(rows) == 301
    assert {r[3] for r in rows[1:]} <= {"00", "01", "02", "03"}


def test_the_tax_records_cover_three_years(data_dir: Path) -> None:
    """Every taxpayer has 2022-2024, with a band code only when a return was filed."""
    records = json.loads((data_dir / "aeat-renta.json").read_text())
    assert len(records) == 300
    for years in records.values():
        assert sorted(years) == ["2022", "2023", "2024"]
        for year in years.values():
            assert (year["tramo"] == "") == (year["presentada"] == "N")


def test_rewriting_gives_identical_files(data_dir: Path, tmp_path: Path) -> None:
    """Same seed, same bytes: a second `interop dev` sees the same people."""
    again = create_demo_registries(tmp_path, people=300)
    assert again.tgss_export.read_bytes() == (data_dir / "tgss-afiliacion.csv").read_bytes()
    assert again.tax_records.read_bytes() == (data_dir / "aeat-renta.json").read_bytes()


def test_each_config_loads_and_its_mappings_fit_the_response_schemas(data_dir: Path) -> None:
    """The runtime's loader accepts each file; every mapping compiles against its schema."""
    paths = write_demo_connector_configs(data_dir, "http://127.0.0.1:1/aeat/ws/NivelRenta", COMMON)
    assert set(paths) == {"padron", "aeat", "tgss"}
    catalogue = load_catalogue(DEFAULT_CATALOGUE_DIR)
    served: list[tuple[str, str]] = []
    for path in paths.values():
        settings = load_settings(path, only="connector").connector
        assert settings is not None
        for service in settings.services:
            assert service.adapter is not None
            assert service.mapping is not None
            contract = catalogue.services[service.service].version(service.version)
            assert contract is not None
            compile_mapping(service.mapping, contract.response)
            served.append((service.service, service.version))
    assert sorted(served) == [
        ("register.residence-certificate", "1.1"),
        ("register.residence-certificate", "2.0"),
        ("socialsecurity.employment-status", "1.1"),
        ("tax.income-band", "1.1"),
    ]
