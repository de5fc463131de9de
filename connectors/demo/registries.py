"""Writing the demo's legacy registries from the synthetic population.

Each is written the way its real counterpart's data looks, so the adapters and mappings
have real work to do:

* the municipal register (padrón): a SQLite database, dates as ``dd/mm/yyyy`` text;
* social security (TGSS): a ``;``-separated latin-1 CSV export with coded columns;
* the tax agency (AEAT): a JSON file the demo SOAP service (``tax_agency``) answers from.

Files are written aside and renamed into place, so a running connector never reads half.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from connectors.demo.population import Person, generate_population, income_band_code

__all__ = [
    "PADRON_FILE",
    "TAX_FILE",
    "TGSS_FILE",
    "DemoRegistries",
    "create_demo_registries",
    "write_padron",
    "write_tax_records",
    "write_tgss_export",
]

PADRON_FILE: Final = "padron.sqlite"
TGSS_FILE: Final = "tgss-afiliacion.csv"
TAX_FILE: Final = "aeat-renta.json"

TGSS_STATUS: Final = {
    "EMPLOYED": "01",
    "SELF_EMPLOYED": "02",
    "UNEMPLOYED": "03",
    "NOT_AFFILIATED": "00",
}
TGSS_REGIME: Final = {
    "GENERAL": "0111",
    "SELF_EMPLOYED": "0521",
    "AGRICULTURAL": "0163",
    "SEA_WORKERS": "0811",
    "DOMESTIC": "0138",
}


def _replace(path: Path, content: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def write_padron(people: list[Person], directory: Path) -> Path:
    """The municipal register as a SQLite database (table ``habitantes``)."""
    path = directory / PADRON_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as db:
        db.execute(
            "CREATE TABLE habitantes ("
            " tipo_documento TEXT NOT NULL, numero_documento TEXT NOT NULL,"
            " nombre TEXT NOT NULL, apellido1 TEXT NOT NULL, apellido2 TEXT,"
            " fecha_nacimiento TEXT NOT NULL, cod_municipio TEXT NOT NULL,"
            " municipio TEXT NOT NULL, via TEXT NOT NULL, numero TEXT, cod_postal TEXT NOT NULL,"
            " fecha_alta TEXT NOT NULL, personas_hoja INTEGER NOT NULL,"
            " PRIMARY KEY (tipo_documento, numero_documento))"
        )
        db.executemany(
            "INSERT INTO habitantes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    p.document_type,
                    p.document_number,
                    p.given_name,
                    p.surname1,
                    p.surname2,
                    p.birth_date.strftime("%d/%m/%Y"),
                    p.municipality.code,
                    p.municipality.name,
                    p.street,
                    p.street_number,
                    p.postal_code,
                    p.registered_since.strftime("%d/%m/%Y"),
                    p.household_size,
                )
                for p in people
            ],
        )
    db.close()
    os.replace(tmp, path)
    return path


def write_tgss_export(people: list[Person], directory: Path) -> Path:
    """The affiliation export: latin-1, ``;``-separated, coded status and regime."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(
        ["NAF", "IPF", "APELLIDOS_NOMBRE", "SITUACION", "REGIMEN", "FECHA_EFECTO", "N_EMPRESAS"]
    )
    for p in people:
        job = p.employment
        writer.writerow(
            [
                p.naf,
                p.document_number,
                f"{p.surname1} {p.surname2}, {p.given_name}".upper(),
                TGSS_STATUS[job.status],
                TGSS_REGIME[job.regime] if job.regime else "",
                job.since.strftime("%d/%m/%Y") if job.since else "",
                "" if job.employers is None else str(job.employers),
            ]
        )
    path = directory / TGSS_FILE
    _replace(path, out.getvalue().encode("latin-1"))
    return path


def write_tax_records(people: list[Person], directory: Path) -> Path:
    """The tax agency's returns by NIF and year, as the demo SOAP service reads them."""
    records = {
        p.document_number: {
            str(year.year): {
                "presentada": "S" if year.filed else "N",
                "tramo": income_band_code(year),
                "conjunta": "" if year.joint is None else ("S" if year.joint else "N"),
            }
            for year in p.income
        }
        for p in people
    }
    path = directory / TAX_FILE
    _replace(path, json.dumps(records, sort_keys=True).encode())
    return path


@dataclass(frozen=True)
class DemoRegistries:
    """What ``create_demo_registries`` wrote, and people to try the demo with."""

    directory: Path
    padron: Path
    tgss_export: Path
    tax_records: Path
    people: int
    examples: tuple[Person, ...]
    """A few residents present in every registry (for copy-paste curl commands)."""


def create_demo_registries(
    directory: Path, *, people: int = 3000, seed: int = 20260301
) -> DemoRegistries:
    """Write the three legacy registries under ``directory``; same seed, same data.

    Idempotent: a second call with the same arguments rewrites identical files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    population = generate_population(people, seed)
    return DemoRegistries(
        directory=directory,
        padron=write_padron(population, directory),
        tgss_export=write_tgss_export(population, directory),
        tax_records=write_tax_records(population, directory),
        people=len(population),
        examples=tuple(population[:3]),
    )
