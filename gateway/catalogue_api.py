"""``GET /v1/services`` and ``GET /v1/services/{service}/versions/{version}``.

The catalogue a back-office developer reads to build requests: which services this caller
may use, for which purposes, under which consent mode and legal bases, and the request
and response schemas of each version with their registry ids.

The listing shows only services the caller holds an access right for. Asking for the
detail of another service answers 403 FORBIDDEN, as a request to it would: the existence
of a service is public (the catalogue is published, and so is the schema registry) —
only exchanges are hidden from other members (404).
"""

from __future__ import annotations

import re
from typing import Any, Final

from aiohttp import web

from contracts import Catalogue, ContractVersion, LockFile, Service, VersionStatus
from contracts.registry import request_subject, response_subject
from gateway.auth import current_member
from gateway.errors import ForbiddenError, UnknownServiceError, UnknownVersionError
from gateway.members import Member
from gateway.openapi_parts import SECURED, problem

__all__ = ["OPENAPI_PATHS", "OPENAPI_SCHEMAS", "add_catalogue_routes", "resolve_version"]

_CATALOGUE_KEY: Final = web.AppKey("interop.catalogue", Catalogue)
_LOCK_KEY: Final = web.AppKey("interop.catalogue_lock", LockFile)
_VERSION_TEXT: Final = re.compile(r"(0|[1-9][0-9]{0,5})(?:\.(0|[1-9][0-9]{0,5}))?")


def add_catalogue_routes(app: web.Application, *, catalogue: Catalogue, lock: LockFile) -> None:
    """Mount the catalogue endpoints (they need an authenticated member)."""
    app[_CATALOGUE_KEY] = catalogue
    app[_LOCK_KEY] = lock
    app.router.add_get("/v1/services", _list_services)
    app.router.add_get("/v1/services/{service}/versions/{version}", _service_version)


def resolve_version(service: Service, text: str) -> ContractVersion:
    """``"1.1"`` exactly, or ``"1"`` = the newest minor of major 1 that is not sunset.

    Raises ``UnknownVersionError`` saying why (malformed, unknown, or sunset).
    """
    match = _VERSION_TEXT.fullmatch(text)
    if match is None:
        raise UnknownVersionError(f"{text[:20]!r} is not a version: use MAJOR or MAJOR.MINOR")
    if match[2] is not None:
        found = service.version(text)
        if found is None:
            raise UnknownVersionError(f"{service.id} has no version {text}")
        if found.meta.status is VersionStatus.SUNSET:
            raise UnknownVersionError(
                f"{service.id} {text} was sunset on {found.meta.sunset_date}; use a newer version"
            )
        return found
    minors = [
        v
        for v in service.majors().get(int(match[1]), [])
        if v.meta.status is not VersionStatus.SUNSET
    ]
    if not minors:
        raise UnknownVersionError(f"{service.id} has no served version in major {text}")
    return minors[-1]


def _service(request: web.Request, member: Member) -> Service:
    service_id = request.match_info["service"]
    service = request.app[_CATALOGUE_KEY].services.get(service_id)
    if service is None:
        raise UnknownServiceError(f"no service {service_id[:100]!r} in the catalogue")
    if not member.may_call(service.id):
        raise ForbiddenError(f"{member.id} holds no access right for {service.id}")
    return service


def _allowed_purposes(service: Service, member: Member) -> list[str]:
    return [p for p in service.meta.purposes if member.may_call(service.id, p)]


def _version_summary(item: ContractVersion) -> dict[str, Any]:
    sunset = item.meta.sunset_date
    return {
        "version": str(item.version),
        "status": item.meta.status.value,
        "sunset_date": sunset.isoformat() if sunset else None,
    }


def _service_summary(service: Service, member: Member) -> dict[str, Any]:
    meta = service.meta
    return {
        "id": service.id,
        "title": meta.title,
        "description": meta.description,
        "providers": list(meta.providers),
        "consent_mode": meta.consent_mode.value,
        "legal_bases": list(meta.legal_bases),
        "purposes": _allowed_purposes(service, member),
        "classification": meta.classification.value,
        "timeout_ms": meta.timeout_ms,
        "versions": [_version_summary(v) for v in service.versions],
    }


async def _list_services(request: web.Request) -> web.Response:
    member = current_member(request)
    services = request.app[_CATALOGUE_KEY].services
    listed = [
        _service_summary(services[sid], member) for sid in sorted(services) if member.may_call(sid)
    ]
    return web.json_response({"services": listed})


async def _service_version(request: web.Request) -> web.Response:
    member = current_member(request)
    service = _service(request, member)
    item = resolve_version(service, request.match_info["version"])
    lock = request.app[_LOCK_KEY]
    version = str(item.version)
    request_entry = lock.entry(service.id, version, "request")
    response_entry = lock.entry(service.id, version, "response")
    return web.json_response(
        {
            "service": _service_summary(service, member),
            **_version_summary(item),
            "request_schema": item.request,
            "response_schema": item.response,
            "request_schema_id": request_entry.schema_id if request_entry else None,
            "response_schema_id": response_entry.schema_id if response_entry else None,
            "request_subject": request_subject(service.id, item.version.major),
            "response_subject": response_subject(service.id, item.version.major),
        }
    )


OPENAPI_SCHEMAS: Final[dict[str, Any]] = {
    "VersionSummary": {
        "type": "object",
        "required": ["version", "status", "sunset_date"],
        "properties": {
            "version": {"type": "string", "pattern": r"^\d+\.\d+$"},
            "status": {"enum": ["active", "deprecated", "sunset"]},
            "sunset_date": {"type": ["string", "null"], "format": "date"},
        },
    },
    "ServiceSummary": {
        "type": "object",
        "required": [
            "id",
            "title",
            "description",
            "providers",
            "consent_mode",
            "legal_bases",
            "purposes",
            "classification",
            "timeout_ms",
            "versions",
        ],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "providers": {"type": "array", "items": {"type": "string"}},
            "consent_mode": {"enum": ["explicit", "presumed", "legal"]},
            "legal_bases": {"type": "array", "items": {"type": "string"}},
            "purposes": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The purposes this caller may use the service for",
            },
            "classification": {"type": "string"},
            "timeout_ms": {"type": "integer"},
            "versions": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/VersionSummary"},
            },
        },
    },
    "ServiceVersion": {
        "type": "object",
        "required": [
            "service",
            "version",
            "status",
            "request_schema",
            "response_schema",
            "request_subject",
            "response_subject",
        ],
        "properties": {
            "service": {"$ref": "#/components/schemas/ServiceSummary"},
            "version": {"type": "string"},
            "status": {"enum": ["active", "deprecated", "sunset"]},
            "sunset_date": {"type": ["string", "null"], "format": "date"},
            "request_schema": {"description": "Avro schema (JSON)"},
            "response_schema": {"description": "Avro schema (JSON)"},
            "request_schema_id": {"type": ["integer", "null"]},
            "response_schema_id": {"type": ["integer", "null"]},
            "request_subject": {"type": "string"},
            "response_subject": {"type": "string"},
        },
    },
}

OPENAPI_PATHS: Final[dict[str, Any]] = {
    "/v1/services": {
        "get": {
            "tags": ["catalogue"],
            "summary": "The services this caller may use",
            "security": SECURED,
            "responses": {
                "200": {
                    "description": "The caller's catalogue",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["services"],
                                "properties": {
                                    "services": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/ServiceSummary"},
                                    }
                                },
                            }
                        }
                    },
                },
                "401": problem("Unknown or missing credentials"),
            },
        }
    },
    "/v1/services/{service}/versions/{version}": {
        "get": {
            "tags": ["catalogue"],
            "summary": "One version of a service with its schemas (MAJOR = newest minor)",
            "security": SECURED,
            "parameters": [
                {"name": "service", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {
                    "description": "The version and its schemas",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ServiceVersion"}
                        }
                    },
                },
                "401": problem("Unknown or missing credentials"),
                "403": problem("No access right for this service"),
                "404": problem("Unknown service or version"),
            },
        }
    },
}
