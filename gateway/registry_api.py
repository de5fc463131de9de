"""The read side of the Confluent Schema Registry REST API, served from the catalogue.

Standard Kafka tooling (Confluent's deserializers, kcat, Kafka UI, Karapace clients) finds
the writer schema of every record on our topics here, by the id in the record's framing.
Only reads exist: schemas are published by `interop contracts check --lock` and reviewed
in the repository, never registered over HTTP.

These routes are public (schemas are not secret, and registry clients rarely carry our
credentials) and answer errors in the registry's own format (``error_code`` +
``message``), because that is what registry clients parse — not RFC 9457 problems.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from contracts import Catalogue, LockFile, SchemaId, Subject, SubjectVersion
from contracts.events import event_refs, events_dir_for, load_events
from contracts.registry import build_schemas_by_id, build_subjects

__all__ = [
    "OPENAPI_PATHS",
    "OPENAPI_SCHEMAS",
    "REGISTRY_CONTENT_TYPE",
    "RegistryView",
    "add_registry_routes",
    "is_registry_path",
]

REGISTRY_CONTENT_TYPE: Final = "application/vnd.schemaregistry.v1+json"

# The registry's own error codes (Confluent Schema Registry API reference).
_SUBJECT_NOT_FOUND: Final = 40401
_VERSION_NOT_FOUND: Final = 40402
_SCHEMA_NOT_FOUND: Final = 40403
_INVALID_VERSION: Final = 42202
# Versions are 1..2^31-1 in the registry; anything longer is not a version number.
_MAX_VERSION_DIGITS: Final = 10


class RegistryView:
    """The catalogue as the registry sees it: ids, subjects, versions (built once)."""

    def __init__(self, catalogue: Catalogue, lock: LockFile) -> None:
        # The services' schemas and the platform events' (the audit topic's AuditEvent).
        refs = [
            *catalogue.schema_refs(),
            *event_refs(load_events(events_dir_for(catalogue.root))),
        ]
        self.subjects: Mapping[Subject, tuple[SubjectVersion, ...]] = build_subjects(refs, lock)
        # The registry serves a schema as a string holding its canonical JSON text.
        self.schema_text: Mapping[SchemaId, str] = {
            schema_id: json.dumps(schema, separators=(",", ":"), sort_keys=False)
            for schema_id, schema in build_schemas_by_id(refs, lock).items()
        }

    def version(self, subject: Subject, version: str) -> SubjectVersion | int:
        """The subject version, or the registry error code saying why there is none."""
        versions = self.subjects.get(subject)
        if versions is None:
            return _SUBJECT_NOT_FOUND
        if version in {"latest", "-1"}:
            return versions[-1]
        if not _ascii_number(version) or int(version) < 1:
            return _INVALID_VERSION
        number = int(version)
        return versions[number - 1] if number <= len(versions) else _VERSION_NOT_FOUND


_VIEW_KEY: Final = web.AppKey("interop.registry_view", RegistryView)


def is_registry_path(path: str) -> bool:
    """Public registry routes: no member credentials needed."""
    return path.startswith(("/schemas/", "/subjects", "/associations/"))


def add_registry_routes(app: web.Application, *, catalogue: Catalogue, lock: LockFile) -> None:
    """Mount the registry read API on ``app``."""
    app[_VIEW_KEY] = RegistryView(catalogue, lock)
    app.router.add_get("/schemas/ids/{id}", _schema_by_id)
    app.router.add_get("/schemas/ids/{id}/schema", _raw_schema_by_id)
    app.router.add_get("/subjects", _subjects)
    app.router.add_get("/subjects/{subject}/versions", _subject_versions)
    app.router.add_get("/subjects/{subject}/versions/{version}", _subject_version)
    app.router.add_get("/subjects/{subject}/versions/{version}/schema", _subject_version_schema)
    app.router.add_get("/associations/resources/{namespace}/{name}", _associations)


def _view(request: web.Request) -> RegistryView:
    return request.app[_VIEW_KEY]


def _ok(body: Any) -> web.Response:
    return web.Response(text=json.dumps(body), content_type=REGISTRY_CONTENT_TYPE)


def _error(status: int, code: int, message: str) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"error_code": code, "message": message}),
        content_type=REGISTRY_CONTENT_TYPE,
    )


def _ascii_number(text: str) -> bool:
    # str.isdigit() also takes other scripts' digits (U+0661, Arabic-Indic one),
    # which int() reads as 1.
    return text.isascii() and text.isdigit() and len(text) <= _MAX_VERSION_DIGITS


def _schema_text(request: web.Request) -> str | web.Response:
    raw = request.match_info["id"]
    text = None
    if _ascii_number(raw):
        text = _view(request).schema_text.get(SchemaId(int(raw)))
    if text is None:
        return _error(404, _SCHEMA_NOT_FOUND, "Schema not found")
    return text


async def _schema_by_id(request: web.Request) -> web.Response:
    text = _schema_text(request)
    # schemaType is omitted for AVRO, as the registry itself does.
    return text if isinstance(text, web.Response) else _ok({"schema": text})


async def _raw_schema_by_id(request: web.Request) -> web.Response:
    text = _schema_text(request)
    return text if isinstance(text, web.Response) else _ok(json.loads(text))


async def _subjects(request: web.Request) -> web.Response:
    return _ok(sorted(_view(request).subjects))


async def _subject_versions(request: web.Request) -> web.Response:
    versions = _view(request).subjects.get(Subject(request.match_info["subject"]))
    if versions is None:
        return _error(404, _SUBJECT_NOT_FOUND, "Subject not found")
    return _ok([v.version for v in versions])


def _lookup(request: web.Request) -> SubjectVersion | web.Response:
    found = _view(request).version(
        Subject(request.match_info["subject"]), request.match_info["version"]
    )
    if isinstance(found, SubjectVersion):
        return found
    if found == _SUBJECT_NOT_FOUND:
        return _error(404, found, "Subject not found")
    if found == _VERSION_NOT_FOUND:
        return _error(404, found, "Version not found")
    return _error(
        422, found, "The specified version is not a valid version id: 1..2^31-1 or latest"
    )


async def _subject_version(request: web.Request) -> web.Response:
    found = _lookup(request)
    if isinstance(found, web.Response):
        return found
    return _ok(
        {
            "subject": found.subject,
            "version": found.version,
            "id": found.schema_id,
            "schema": _view(request).schema_text[found.schema_id],
        }
    )


async def _subject_version_schema(request: web.Request) -> web.Response:
    found = _lookup(request)
    if isinstance(found, web.Response):
        return found
    return _ok(found.schema)


async def _associations(_request: web.Request) -> web.Response:
    # Newer Confluent clients first ask which subject a topic is associated with and fall
    # back to their subject-name strategy on a 404. The catalogue's subjects follow
    # TopicNameStrategy for requests, so "no association" is the true answer.
    return _error(404, 404, "No associations: subjects follow TopicNameStrategy")


def _registry_op(summary: str, ok_schema: dict[str, Any], *, params: list[str]) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in params
    ]
    return {
        "get": {
            "tags": ["schema registry"],
            "summary": summary,
            "security": [],
            "parameters": parameters,
            "responses": {
                "200": {"description": "Found", "content": {REGISTRY_CONTENT_TYPE: ok_schema}},
                "404": {
                    "description": "Not found (registry error format)",
                    "content": {
                        REGISTRY_CONTENT_TYPE: {
                            "schema": {"$ref": "#/components/schemas/RegistryError"}
                        }
                    },
                },
                "422": {
                    "description": "Invalid version (registry error format)",
                    "content": {
                        REGISTRY_CONTENT_TYPE: {
                            "schema": {"$ref": "#/components/schemas/RegistryError"}
                        }
                    },
                },
            },
        }
    }


_ANY_JSON: Final[dict[str, Any]] = {"schema": {}}
OPENAPI_SCHEMAS: Final[dict[str, Any]] = {
    "RegistryError": {
        "type": "object",
        "required": ["error_code", "message"],
        "properties": {"error_code": {"type": "integer"}, "message": {"type": "string"}},
    },
    "RegistrySchema": {
        "type": "object",
        "required": ["schema"],
        "properties": {"schema": {"type": "string", "description": "The Avro schema as JSON"}},
    },
    "RegistrySubjectVersion": {
        "type": "object",
        "required": ["subject", "version", "id", "schema"],
        "properties": {
            "subject": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
            "id": {"type": "integer", "minimum": 1},
            "schema": {"type": "string"},
        },
    },
}

OPENAPI_PATHS: Final[dict[str, Any]] = {
    "/schemas/ids/{id}": _registry_op(
        "A schema by its global id (what deserializers call)",
        {"schema": {"$ref": "#/components/schemas/RegistrySchema"}},
        params=["id"],
    ),
    "/schemas/ids/{id}/schema": _registry_op(
        "The bare schema by its global id", _ANY_JSON, params=["id"]
    ),
    "/subjects": {
        "get": {
            "tags": ["schema registry"],
            "summary": "Every subject of the catalogue",
            "security": [],
            "responses": {
                "200": {
                    "description": "Subject names",
                    "content": {
                        REGISTRY_CONTENT_TYPE: {
                            "schema": {"type": "array", "items": {"type": "string"}}
                        }
                    },
                }
            },
        }
    },
    "/subjects/{subject}/versions": _registry_op(
        "The version numbers of a subject",
        {"schema": {"type": "array", "items": {"type": "integer", "minimum": 1}}},
        params=["subject"],
    ),
    "/subjects/{subject}/versions/{version}": _registry_op(
        "One version of a subject (a number, or latest)",
        {"schema": {"$ref": "#/components/schemas/RegistrySubjectVersion"}},
        params=["subject", "version"],
    ),
    "/subjects/{subject}/versions/{version}/schema": _registry_op(
        "The bare schema of one version of a subject", _ANY_JSON, params=["subject", "version"]
    ),
    "/associations/resources/{namespace}/{name}": {
        "get": {
            "tags": ["schema registry"],
            "summary": "Topic-to-subject associations: none (subjects follow TopicNameStrategy)",
            "security": [],
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in ("namespace", "name")
            ],
            "responses": {
                "404": {
                    "description": "No association (clients fall back to TopicNameStrategy)",
                    "content": {
                        REGISTRY_CONTENT_TYPE: {
                            "schema": {"$ref": "#/components/schemas/RegistryError"}
                        }
                    },
                }
            },
        }
    },
}
