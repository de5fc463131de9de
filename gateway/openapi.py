"""The OpenAPI 3.1 document of the gateway, served at ``/v1/openapi.json``.

Each API module owns the description of its own routes (``OPENAPI_PATHS`` and the
component schemas they reference, ``OPENAPI_SCHEMAS``) next to their handlers, so a route
and its documentation change together; this module only assembles them and adds what is
shared: the RFC 9457 ``Problem`` schema and the two ways to authenticate. The
schemathesis test fuzzes the running gateway against exactly this document.
"""

from __future__ import annotations

import copy
import functools
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

from contracts import Catalogue, ConsentMode, VersionStatus, example_request_data
from gateway import (
    accesses_api,
    audit_api,
    catalogue_api,
    exchanges_api,
    ops_api,
    registry_api,
)
from gateway.batches import api as batches_api
from gateway.consent import api as consent_api
from gateway.openapi_parts import SECURED
from gateway.problems import PROBLEM_CONTENT_TYPE

__all__ = ["EXAMPLE_SUBJECT", "OPENAPI_PATH", "exchange_examples", "openapi_document"]

OPENAPI_PATH: Final = "/v1/openapi.json"

_PROBLEM_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "description": "RFC 9457 problem details; `code` is stable and machine-readable.",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
        "errors": {
            "type": "array",
            "description": "Every field problem of a 400, each with a JSON pointer",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
        "provider_code": {"type": "string"},
    },
}

_MODULES: Final = (
    accesses_api,
    exchanges_api,
    batches_api,
    consent_api,
    audit_api,
    catalogue_api,
    registry_api,
    ops_api,
)


def _package_version() -> str:
    try:
        return version("interop-bus")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0.0.0"


@functools.cache
def _document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        OPENAPI_PATH: {
            "get": {
                "tags": ["operations"],
                "summary": "This OpenAPI document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        }
    }
    schemas: dict[str, Any] = {"Problem": _PROBLEM_SCHEMA}
    for module in _MODULES:
        for path, item in module.OPENAPI_PATHS.items():
            if path in paths:
                raise RuntimeError(f"OpenAPI path {path} is described twice")
            paths[path] = item
        for name, schema in module.OPENAPI_SCHEMAS.items():
            if name in schemas and schemas[name] != schema:
                raise RuntimeError(f"OpenAPI schema {name} is described twice, differently")
            schemas[name] = schema
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "interop-bus gateway",
            "version": _package_version(),
            "summary": "Data exchange between public administrations",
            "description": (
                "Back-office systems ask other administrations for data about a subject, "
                "for a stated purpose. Errors are RFC 9457 problems "
                f"(`{PROBLEM_CONTENT_TYPE}`) with a stable `code`."
            ),
            "license": {"name": "EUPL-1.2", "identifier": "EUPL-1.2"},
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A member's API key (development deployments)",
                },
                "mutualTLS": {
                    "type": "mutualTLS",
                    "description": "A member's client certificate (production)",
                },
            },
        },
        "security": SECURED,
    }


def openapi_document(catalogue: Catalogue | None = None) -> dict[str, Any]:
    """The document (a fresh copy: callers may not alter the cached one).

    With the gateway's ``catalogue``, ``POST /v1/exchanges`` carries one valid example
    body per served service version, so clients (and the API fuzzer) start from requests
    that reach the consent and exchange logic instead of stopping at the data's schema.
    """
    document = copy.deepcopy(_document())
    if catalogue is not None:
        body = document["paths"]["/v1/exchanges"]["post"]["requestBody"]
        body["content"]["application/json"]["examples"] = exchange_examples(catalogue)
    return document


EXAMPLE_SUBJECT: Final = "12345678Z"
"""A well-formed DNI (its check letter is right) that names no real person."""


def exchange_examples(catalogue: Catalogue) -> dict[str, Any]:
    """``<service>@<version>`` -> an OpenAPI example of a valid exchange request."""
    examples: dict[str, Any] = {}
    for service in catalogue.services.values():
        for item in service.versions:
            if item.meta.status is VersionStatus.SUNSET:
                continue
            body: dict[str, Any] = {
                "service": service.id,
                "version": str(item.version),
                "subject": EXAMPLE_SUBJECT,
                "purpose": service.meta.purposes[0],
                "official": "official-0001",
                "data": example_request_data(item, EXAMPLE_SUBJECT),
            }
            if service.meta.consent_mode is ConsentMode.LEGAL:
                body["legal_basis"] = service.meta.legal_bases[0]
            examples[f"{service.id}@{item.version}"] = {
                "summary": f"{service.meta.title} ({item.version})",
                "value": body,
            }
    return examples
