"""The consent registry's HTTP API, and its part of the OpenAPI document.

``POST /v1/consents`` (201 + Location), ``DELETE /v1/consents/{id}`` (revoke, 200 with
the revoked consent; never erased), ``GET /v1/consents?subject=`` and the same three for
``/v1/oppositions``. Who may call what is ``gateway/consent/registry.py``'s business.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from gateway.auth import current_member
from gateway.consent.bodies import (
    ConsentBody,
    OppositionBody,
    consent_json,
    opposition_json,
    parse_body,
    parse_subject_query,
)
from gateway.consent.registry import ConsentRegistry
from gateway.http_server import read_body
from gateway.openapi_parts import SECURED, problem

__all__ = [
    "CONSENTS_PATH",
    "OPENAPI_PATHS",
    "OPENAPI_SCHEMAS",
    "OPPOSITIONS_PATH",
    "add_consent_routes",
]

CONSENTS_PATH: Final = "/v1/consents"
OPPOSITIONS_PATH: Final = "/v1/oppositions"
_REGISTRY_KEY: Final = web.AppKey("interop.consent_registry", ConsentRegistry)


def add_consent_routes(app: web.Application, *, registry: ConsentRegistry) -> None:
    """Mount the consent and opposition endpoints (they need an authenticated member)."""
    app[_REGISTRY_KEY] = registry
    app.router.add_post(CONSENTS_PATH, _post_consent)
    app.router.add_get(CONSENTS_PATH, _list_consents)
    app.router.add_delete(CONSENTS_PATH + "/{id}", _revoke_consent)
    app.router.add_post(OPPOSITIONS_PATH, _post_opposition)
    app.router.add_get(OPPOSITIONS_PATH, _list_oppositions)
    app.router.add_delete(OPPOSITIONS_PATH + "/{id}", _revoke_opposition)


async def _post_consent(request: web.Request) -> web.StreamResponse:
    member = current_member(request)
    body = parse_body(request.content_type, await read_body(request), ConsentBody)
    consent = await request.app[_REGISTRY_KEY].grant(member, body.grant())
    return web.json_response(
        consent_json(consent, request.app[_REGISTRY_KEY].now()),
        status=201,
        headers={"Location": f"{CONSENTS_PATH}/{consent.id}"},
    )


async def _list_consents(request: web.Request) -> web.StreamResponse:
    member = current_member(request)
    subject = parse_subject_query(request.query.get("subject"))
    consents = await request.app[_REGISTRY_KEY].consents(member, subject)
    now = request.app[_REGISTRY_KEY].now()
    return web.json_response({"items": [consent_json(c, now) for c in consents]})


async def _revoke_consent(request: web.Request) -> web.StreamResponse:
    member = current_member(request)
    consent = await request.app[_REGISTRY_KEY].revoke_consent(
        member, request.match_info["id"], subject=_optional_subject(request)
    )
    return web.json_response(consent_json(consent, request.app[_REGISTRY_KEY].now()))


async def _post_opposition(request: web.Request) -> web.StreamResponse:
    member = current_member(request)
    body = parse_body(request.content_type, await read_body(request), OppositionBody)
    opposition = await request.app[_REGISTRY_KEY].register_opposition(member, body.grant())
    return web.json_response(
        opposition_json(opposition),
        status=201,
        headers={"Location": f"{OPPOSITIONS_PATH}/{opposition.id}"},
    )


async def _list_oppositions(request: web.Request) -> web.StreamResponse:
    member = current_member(request)
    subject = parse_subject_query(request.query.get("subject"))
    oppositions = await request.app[_REGISTRY_KEY].oppositions(member, subject)
    return web.json_response({"items": [opposition_json(o) for o in oppositions]})


async def _revoke_opposition(request: web.Request) -> web.StreamResponse:
    member = current_member(request)
    registry = request.app[_REGISTRY_KEY]
    opposition = await registry.revoke_opposition(
        member, request.match_info["id"], subject=_optional_subject(request)
    )
    return web.json_response(opposition_json(opposition))


def _optional_subject(request: web.Request) -> str | None:
    """``?subject=`` on a revocation: the citizen it is for (the portal must name one)."""
    value = request.query.get("subject")
    return None if value is None else parse_subject_query(value)


# -- OpenAPI -------------------------------------------------------------------------------
_TIME: Final = {"type": ["string", "null"], "format": "date-time"}
_CODES: Final = {"type": "array", "minItems": 1, "maxItems": 50, "items": {"type": "string"}}


def _json(ref: str, description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
        **extra,
    }


OPENAPI_SCHEMAS: Final[dict[str, Any]] = {
    "ConsentRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["subject", "services", "purposes", "evidence"],
        "properties": {
            "subject": {
                "type": "string",
                "description": "NIF/NIE (check letter verified) or another id; kept only "
                "as a keyed pseudonym",
            },
            "grantee": {"type": ["string", "null"], "description": "null: any member"},
            "services": _CODES,
            "purposes": _CODES,
            "valid_from": _TIME,
            "valid_until": _TIME,
            "evidence": {
                "type": "object",
                "additionalProperties": False,
                "required": ["channel", "digest"],
                "properties": {
                    "channel": {
                        "enum": ["citizen-portal", "paper", "in-person", "electronic-signature"]
                    },
                    "digest": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
                },
            },
        },
    },
    "Consent": {
        "type": "object",
        "required": ["id", "subject_ref", "state", "services", "purposes", "evidence"],
        "properties": {
            "id": {"type": "string"},
            "subject_ref": {"type": "string"},
            "state": {"enum": ["active", "not-yet-valid", "expired", "revoked"]},
            "grantee": {"type": ["string", "null"]},
            "services": {"type": "array", "items": {"type": "string"}},
            "purposes": {"type": "array", "items": {"type": "string"}},
            "valid_from": _TIME,
            "valid_until": _TIME,
            "evidence": {"type": "object"},
            "recorded_by": {"type": "string"},
            "created_at": _TIME,
            "revoked_at": _TIME,
            "revoked_by": {"type": ["string", "null"]},
        },
    },
    "OppositionRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["subject", "services"],
        "properties": {
            "subject": {"type": "string"},
            "services": _CODES,
            "requesters": {"type": "array", "maxItems": 50, "items": {"type": "string"}},
        },
    },
    "Opposition": {
        "type": "object",
        "required": ["id", "subject_ref", "state", "services", "requesters"],
        "properties": {
            "id": {"type": "string"},
            "subject_ref": {"type": "string"},
            "state": {"enum": ["active", "revoked"]},
            "services": {"type": "array", "items": {"type": "string"}},
            "requesters": {"type": "array", "items": {"type": "string"}},
            "recorded_by": {"type": "string"},
            "created_at": _TIME,
            "revoked_at": _TIME,
            "revoked_by": {"type": ["string", "null"]},
        },
    },
}


def _collection(kind: str, title: str, who: str) -> dict[str, Any]:
    item = title.capitalize()
    return {
        "post": {
            "tags": ["consent"],
            "summary": f"Record a {title} ({who})",
            "operationId": f"create{item}",
            "security": SECURED,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{item}Request"}}
                },
            },
            "responses": {
                "201": _json(
                    item, f"The {title}", headers={"Location": {"schema": {"type": "string"}}}
                ),
                "400": problem("Malformed body, wrong check letter, bad scope (with pointers)"),
                "401": problem("No valid credentials"),
                "403": problem(f"This member may not record this {title}"),
                "413": problem("Body too large"),
                "415": problem("Not application/json"),
                "429": problem("Rate limited (see Retry-After)"),
                "503": problem("The store or the audit trail is unavailable"),
            },
        },
        "get": {
            "tags": ["consent"],
            "summary": f"The {kind} of a subject that this member may see",
            "operationId": f"list{item}s",
            "security": SECURED,
            "parameters": [
                {"name": "subject", "in": "query", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {
                    "description": f"The {kind}, oldest first",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["items"],
                                "properties": {
                                    "items": {
                                        "type": "array",
                                        "items": {"$ref": f"#/components/schemas/{item}"},
                                    }
                                },
                            }
                        }
                    },
                },
                "400": problem("Missing or invalid subject"),
                "401": problem("No valid credentials"),
                "403": problem(f"This member may not read {kind}"),
                "429": problem("Rate limited (see Retry-After)"),
                "503": problem("The store is unavailable"),
            },
        },
    }


def _revocation(title: str) -> dict[str, Any]:
    item = title.capitalize()
    return {
        "delete": {
            "tags": ["consent"],
            "summary": f"Revoke a {title} (kept, marked revoked; effective at once)",
            "operationId": f"revoke{item}",
            "security": SECURED,
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "subject",
                    "in": "query",
                    "required": False,
                    "description": (
                        "The citizen the revocation is for; required from the citizen portal,"
                        " which revokes only that citizen's records"
                    ),
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": _json(item, f"The revoked {title}"),
                "400": problem("The portal named no subject, or an invalid one"),
                "401": problem("No valid credentials"),
                "403": problem(f"This member may not revoke {title}s"),
                "404": problem(f"No such {title} visible to this member"),
                "429": problem("Rate limited (see Retry-After)"),
                "503": problem("The store or the audit trail is unavailable"),
            },
        }
    }


OPENAPI_PATHS: Final[dict[str, Any]] = {
    CONSENTS_PATH: _collection(
        "consents", "consent", "citizen portal; a consumer for consents collected on paper"
    ),
    CONSENTS_PATH + "/{id}": _revocation("consent"),
    OPPOSITIONS_PATH: _collection("oppositions", "opposition", "citizen portal"),
    OPPOSITIONS_PATH + "/{id}": _revocation("opposition"),
}
