"""``connector.yaml`` for each demo registry: adapter settings and field mappings.

``demo_connector_documents`` returns the three documents (as dicts) and
``write_demo_connector_configs`` writes them as YAML next to the registries. What the
connector process needs besides (Kafka, gateway keys, the audit digest key, health port)
is the caller's to give in ``common``: it is merged into every document.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from connectors.config import settings_file_document
from connectors.demo.registries import PADRON_FILE, TGSS_FILE
from connectors.demo.tax_agency import SOAP_ACTION, TAX_NAMESPACE

__all__ = ["CONFIG_FILES", "demo_connector_documents", "write_demo_connector_configs"]

CONFIG_FILES: Final = {
    "padron": "connector-padron.yaml",
    "aeat": "connector-aeat.yaml",
    "tgss": "connector-tgss.yaml",
}

_PADRON_COLUMNS: Final = (
    "SELECT cod_municipio, municipio, fecha_alta, personas_hoja, via, numero, cod_postal"
    " FROM habitantes WHERE tipo_documento = :document_type"
    " AND numero_documento = :document_number"
    " AND (:municipality_code IS NULL OR cod_municipio = :municipality_code)"
)

_RESIDENCE_V1: Final[dict[str, Any]] = {
    "registered": {"constant": True},
    "municipality_code": {"from": "cod_municipio"},
    "municipality_name": {"from": "municipio"},
    "registered_since": {"from": "fecha_alta", "date_format": "%d/%m/%Y"},
    "household_size": {"from": "personas_hoja"},
    "certified_at": {"now": True},
}

_RESIDENCE_V2: Final[dict[str, Any]] = {
    **_RESIDENCE_V1,
    "address.street": {"from": "via"},
    "address.number": {"from": "numero"},
    "address.postal_code": {"from": "cod_postal"},
}

_EMPLOYMENT: Final[dict[str, Any]] = {
    "status": {
        "from": "SITUACION",
        "values": {
            "01": "EMPLOYED",
            "02": "SELF_EMPLOYED",
            "03": "UNEMPLOYED",
            "00": "NOT_AFFILIATED",
        },
    },
    "regime": {
        "from": "REGIMEN",
        "values": {
            "0111": "GENERAL",
            "0521": "SELF_EMPLOYED",
            "0163": "AGRICULTURAL",
            "0811": "SEA_WORKERS",
            "0138": "DOMESTIC",
        },
    },
    "since": {"from": "FECHA_EFECTO", "date_format": "%d/%m/%Y"},
    "employers_count": {"from": "N_EMPRESAS"},
}

_INCOME: Final[dict[str, Any]] = {
    "fiscal_year": {"from_request": "fiscal_year"},
    "return_filed": {"from": "presentada", "values": {"S": True, "N": False}},
    "band": {
        "from": "tramo",
        "values": {
            "1": "BELOW_1_IPREM",
            "2": "FROM_1_TO_2_IPREM",
            "3": "FROM_2_TO_3_IPREM",
            "4": "ABOVE_3_IPREM",
        },
        "default": "UNKNOWN",
    },
    "joint_return": {"from": "conjunta", "values": {"S": True, "N": False}},
}

_SOAP_ENVELOPE: Final = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
    f' xmlns:ren="{TAX_NAMESPACE}"><soapenv:Body><ren:ConsultaNivelRenta>'
    "<ren:NIF>{nif}</ren:NIF><ren:Ejercicio>{fiscal_year}</ren:Ejercicio>"
    "</ren:ConsultaNivelRenta></soapenv:Body></soapenv:Envelope>"
)


def demo_connector_documents(
    data_dir: Path, tax_agency_url: str, common: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """The three connector documents by registry name (``padron``, ``aeat``, ``tgss``)."""
    data_dir = data_dir.resolve()
    padron_url = f"sqlite+aiosqlite:///{data_dir / PADRON_FILE}"
    documents: dict[str, dict[str, Any]] = {
        "padron": {
            "member_id": "es.ine.padron",
            "services": [
                {
                    "service": "register.residence-certificate",
                    "version": "1.1",
                    "adapter": {"kind": "sql", "url": padron_url, "query": _PADRON_COLUMNS},
                    "mapping": _RESIDENCE_V1,
                },
                {
                    "service": "register.residence-certificate",
                    "version": "2.0",
                    "adapter": {
                        "kind": "sql",
                        "url": padron_url,
                        "query": _PADRON_COLUMNS,
                        "params": {
                            "document_type": "subject.document_type",
                            "document_number": "subject.document_number",
                        },
                    },
                    "mapping": _RESIDENCE_V2,
                },
            ],
        },
        "aeat": {
            "member_id": "es.aeat",
            "services": [
                {
                    "service": "tax.income-band",
                    "version": "1.1",
                    "adapter": {
                        "kind": "soap",
                        "endpoint": tax_agency_url,
                        "soap_version": "1.1",
                        "soap_action": SOAP_ACTION,
                        "envelope": _SOAP_ENVELOPE,
                        "namespaces": {"ren": TAX_NAMESPACE},
                        "record_xpath": "//ren:ConsultaNivelRentaResponse/ren:Resultado",
                        "fields": {
                            "presentada": "ren:DeclaracionPresentada",
                            "tramo": "ren:TramoRenta",
                            "conjunta": "ren:Conjunta",
                        },
                        "not_found_fault_codes": ["NoEncontrado"],
                    },
                    "mapping": _INCOME,
                }
            ],
        },
        "tgss": {
            "member_id": "es.tgss",
            "services": [
                {
                    "service": "socialsecurity.employment-status",
                    "version": "1.1",
                    "adapter": {
                        "kind": "file",
                        "path": str(data_dir / TGSS_FILE),
                        "format": "csv",
                        "encoding": "latin-1",
                        "delimiter": ";",
                        "key_column": "IPF",
                        "key_field": "document_number",
                    },
                    "mapping": _EMPLOYMENT,
                }
            ],
        },
    }
    for name, document in documents.items():
        document["reply_store_url"] = f"sqlite:///{data_dir / f'replies-{name}.db'}"
        document.update(common or {})
    return documents


def write_demo_connector_configs(
    data_dir: Path, tax_agency_url: str, common: Mapping[str, Any] | None = None
) -> dict[str, Path]:
    """Write ``connector-<registry>.yaml`` under ``data_dir``; returns the paths by registry."""
    paths: dict[str, Path] = {}
    for name, document in demo_connector_documents(data_dir, tax_agency_url, common).items():
        path = data_dir / CONFIG_FILES[name]
        file_document = settings_file_document(document)
        path.write_text(yaml.safe_dump(file_document, sort_keys=False, allow_unicode=True))
        paths[name] = path
    return paths
