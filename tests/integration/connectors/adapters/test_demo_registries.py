"""The demo registries answered through the real adapters and mappings of their configs:
SQLite through ``sql``, the SOAP tax agency through ``soap``, the CSV through ``file``."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import fastavro
import pytest

from connectors.adapters.base import Adapter, Found, NotFound
from connectors.adapters.registry import adapter_factory
from connectors.demo import Person, RunningDemo, demo_connector_documents, start_demo_registries
from connectors.mapping import ResponseMapping, compile_mapping
from contracts import DEFAULT_CATALOGUE_DIR, load_catalogue

CATALOGUE = load_catalogue(DEFAULT_CATALOGUE_DIR)


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[RunningDemo]:
    """The demo registries of 200 people with the tax agency serving."""
    running = await start_demo_registries(tmp_path, people=200)
    yield running
    await running.stop()


async def answer(
    demo: RunningDemo, registry: str, version: str, request: dict[str, Any]
) -> dict[str, Any] | None:
    """Build, open, ask and close the adapter of one service; map and encode its answer."""
    document = demo_connector_documents(demo.registries.directory, demo.tax_agency.url)[registry]
    service = next(s for s in document["services"] if s["version"] == version)
    settings = dict(service["adapter"])
    factory = adapter_factory(settings.pop("kind"))
    adapter: Adapter = factory.build(factory.settings_model.model_validate(settings))
    contract = CATALOGUE.services[service["service"]].version(version)
    assert contract is not None
    mapping: ResponseMapping = compile_mapping(service["mapping"], contract.response)
    await adapter.open()
    try:
        result = await adapter.lookup(request)
    finally:
        await adapter.close()
    if isinstance(result, NotFound):
        return None
    assert isinstance(result, Found)
    datum = mapping.apply(result.record, request)
    fastavro.schemaless_writer(io.BytesIO(), fastavro.parse_schema(contract.response), datum)
    return datum


def example(demo: RunningDemo) -> Person:
    return demo.registries.examples[0]


async def test_residence_certificate_from_sqlite_v1_and_v2(demo: RunningDemo) -> None:
    """Both majors answer from the same register: v2 adds the address record."""
    person = example(demo)
    v1 = await answer(
        demo,
        "padron",
        "1.1",
        {
            "document_type": person.document_type,
            "document_number": person.document_number,
            "municipality_code": None,
            "as_of_date": None,
        },
    )
    assert v1 is not None
    assert v1["registered"] is True
    assert v1["municipality_code"] == person.municipality.code
    assert v1["registered_since"] == person.registered_since
    v2 = await answer(
        demo,
        "padron",
        "2.0",
        {
            "subject": {
                "document_type": person.document_type,
                "document_number": person.document_number,
                "issuing_country": "ES",
            },
            "municipality_code": person.municipality.code,
            "as_of_date": None,
        },
    )
    assert v2 is not None
    assert v2["address"]["postal_code"] == person.postal_code
    elsewhere = "99999" if person.municipality.code != "99999" else "00000"
    none = await answer(
        demo,
        "padron",
        "1.1",
        {
            "document_type": person.document_type,
            "document_number": person.document_number,
            "municipality_code": elsewhere,
            "as_of_date": None,
        },
    )
    assert none is None


async def test_income_band_from_the_soap_tax_agency(demo: RunningDemo) -> None:
    """The SOAP service's codes become the schema's band; unknown taxpayers are not found."""
    person = example(demo)
    income = next(y for y in person.income if y.year == 2024)
    datum = await answer(demo, "aeat", "1.1", {"nif": person.document_number, "fiscal_year": 2024})
    assert datum is not None
    assert datum["fiscal_year"] == 2024
    assert datum["return_filed"] is income.filed
    assert (datum["band"] == "UNKNOWN") is (not income.filed)
    assert await answer(demo, "aeat", "1.1", {"nif": "00000000T", "fiscal_year": 2024}) is None


async def test_employment_status_from_the_csv_export(demo: RunningDemo) -> None:
    """Coded status and regime become enum symbols; dd/mm/yyyy becomes a date."""
    person = example(demo)
    request = {
        "document_number": person.document_number,
        "reference_date": date(2026, 1, 1),
        "social_security_number": None,
    }
    datum = await answer(demo, "tgss", "1.1", request)
    assert datum is not None
    assert datum["status"] == person.employment.status
    assert datum["regime"] == person.employment.regime
    assert datum["since"] == person.employment.since
