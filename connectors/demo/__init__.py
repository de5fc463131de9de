"""Demo legacy registries for ``interop dev``: synthetic people in SQLite, SOAP and CSV.

One call sets everything up::

    demo = await start_demo_registries(data_dir, common={"kafka": {...}, ...})
    ...  # run the connectors from demo.configs, the gateway, ...
    await demo.stop()

* ``generate_population``: a deterministic synthetic population (valid DNI/NIE letters,
  INE municipality codes, addresses, employment and income);
* ``create_demo_registries``: the municipal register (SQLite), the social-security export
  (latin-1 CSV) and the tax agency's returns (served by ``start_tax_agency``, SOAP 1.1);
* ``write_demo_connector_configs``: one ``connector.yaml`` per registry, mapping it to the
  catalogue's residence-certificate (1.1 and 2.0), income-band and employment-status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.demo.connector_configs import (
    CONFIG_FILES,
    demo_connector_documents,
    write_demo_connector_configs,
)
from connectors.demo.population import (
    Person,
    dni_letter,
    generate_population,
    is_valid_document,
)
from connectors.demo.registries import DemoRegistries, create_demo_registries
from connectors.demo.tax_agency import RunningTaxAgency, start_tax_agency, tax_agency_app

__all__ = [
    "CONFIG_FILES",
    "DemoRegistries",
    "Person",
    "RunningDemo",
    "RunningTaxAgency",
    "create_demo_registries",
    "demo_connector_documents",
    "dni_letter",
    "generate_population",
    "is_valid_document",
    "start_demo_registries",
    "start_tax_agency",
    "tax_agency_app",
    "write_demo_connector_configs",
]


@dataclass
class RunningDemo:
    """The demo registries on disk, the tax agency serving, and the connector configs."""

    registries: DemoRegistries
    tax_agency: RunningTaxAgency
    configs: dict[str, Path]
    """``padron``, ``aeat``, ``tgss`` -> ``connector.yaml`` path."""

    async def stop(self) -> None:
        """Stop the tax agency (the files stay for the next run)."""
        await self.tax_agency.stop()


async def start_demo_registries(
    data_dir: Path,
    *,
    common: Mapping[str, Any] | None = None,
    people: int = 3000,
    seed: int = 20260301,
    tax_agency_port: int = 0,
) -> RunningDemo:
    """Write the registries under ``data_dir``, start the SOAP tax agency, write the configs.

    ``common`` is merged into every connector document (``kafka``, ``gateway_keys``,
    ``audit_digest_key``, ``health``...). Rerunning rewrites the same data (same seed).
    """
    registries = create_demo_registries(data_dir, people=people, seed=seed)
    tax_agency = await start_tax_agency(data_dir, port=tax_agency_port)
    try:
        configs = write_demo_connector_configs(data_dir, tax_agency.url, common)
    except BaseException:
        await tax_agency.stop()
        raise
    return RunningDemo(registries, tax_agency, configs)
