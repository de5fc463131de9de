"""The citizen's data tracker: who received data about a subject, when and why.

``POST /v1/subjects/accesses`` (role ``citizen-portal``) takes the identifier in its JSON
body (``{"subject": ..., "cursor": ..., "limit": ...}``) and answers every completed
exchange about the subject, oldest first, with a cursor. The identifier never travels in
a URL, where proxies, access logs and browser histories would keep it; the old
``GET /v1/subjects/{id}/accesses`` answers 410 and names the POST (its path is never
logged: see ``gateway/redaction.py``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bus.audit import AuditError, AuditEventType, EventFilter, IndexedEvent, encode_cursor
from gateway.audit_parts import AUDIT_KEY, AuditParts
from gateway.audit_query import MAX_INDEX, check_params, read_cursor, subject_ref
from gateway.auth import current_member
from gateway.consent.bodies import parse_body
from gateway.errors import ForbiddenError, GoneError, ServiceUnavailableError
from gateway.http_server import read_body
from gateway.members import Role
from gateway.openapi_parts import SECURED, problem

__all__ = [
    "ACCESSES_PATH",
    "OPENAPI_PATHS",
    "OPENAPI_SCHEMAS",
    "add_accesses_routes",
    "subject_accesses",
]

ACCESSES_PATH: Final = "/v1/subjects/accesses"
_MAX_LIMIT: Final = 1000


class AccessesQuery(BaseModel):
    """The body of ``POST /v1/subjects/accesses``."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    subject: Annotated[str, Field(min_length=1, max_length=256)]
    cursor: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    limit: Annotated[int, Field(ge=1, le=_MAX_LIMIT)] = 100


def add_accesses_routes(app: web.Application) -> None:
    app.router.add_post(ACCESSES_PATH, _accesses)
    app.router.add_get("/v1/subjects/{subject}/accesses", _moved)


async def _moved(request: web.Request) -> web.StreamResponse:
    raise GoneError(
        f"the identifier no longer travels in the URL: POST {ACCESSES_PATH} "
        'with {"subject": "..."} in a JSON body'
    )


async def _accesses(request: web.Request) -> web.StreamResponse:
    member = current_member(request)
    if not member.has_role(Role.CITIZEN_PORTAL):
        raise ForbiddenError(f"{member.id} does not hold the {Role.CITIZEN_PORTAL.value} role")
    check_params(request, frozenset())
    query = parse_body(request.content_type, await read_body(request), AccessesQuery)
    accesses, cursor = await subject_accesses(
        request.app[AUDIT_KEY], query.subject, cursor=query.cursor, limit=query.limit
    )
    return web.json_response({"accesses": accesses, "next_cursor": cursor})


async def subject_accesses(
    parts: AuditParts, subject: str, *, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """The subject's completed exchanges after ``cursor``, oldest first, and the next
    cursor; shared by the API and the console's "who looked at my data" page."""
    where = EventFilter(
        subject_ref=subject_ref(parts.subject_key, subject, "/subject"),
        types=(AuditEventType.COMPLETED.value,),
    )
    after = read_cursor(cursor)
    try:
        events: list[IndexedEvent] = await parts.index.events(where, after_seq=after, limit=limit)
    except AuditError as exc:
        raise ServiceUnavailableError(f"the audit index is unavailable ({exc.code})") from exc
    following = (
        encode_cursor(events[-1].leaf_index)
        if len(events) == limit and events[-1].leaf_index < MAX_INDEX
        else None
    )
    return [_access(e) for e in events], following


def _access(event: IndexedEvent) -> dict[str, Any]:
    row = event.row
    return {
        "time": row.to_json()["time"],
        "administration": row.requester,
        "official": row.official,
        "provider": row.provider,
        "service": row.service,
        "purpose": row.purpose,
        "procedure": row.procedure,
        "legal_basis": row.legal_basis,
        "outcome": row.outcome,
        "exchange_id": row.exchange_id,
        "event_id": row.event_id,
    }


OPENAPI_SCHEMAS: Final[dict[str, Any]] = {
    "AccessesQuery": {
        "type": "object",
        "additionalProperties": False,
        "required": ["subject"],
        "properties": {
            "subject": {"type": "string", "minLength": 1, "maxLength": 256},
            "cursor": {"type": "string", "minLength": 1, "maxLength": 200},
            "limit": {"type": "integer", "minimum": 1, "maximum": _MAX_LIMIT},
        },
    }
}

OPENAPI_PATHS: Final[dict[str, Any]] = {
    ACCESSES_PATH: {
        "post": {
            "tags": ["audit"],
            "summary": "Who received data about this subject, when and why (role citizen-portal)",
            "security": SECURED,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/AccessesQuery"}}
                },
            },
            "responses": {
                "200": {
                    "description": "The accesses, oldest first",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "400": problem("Invalid body"),
                "401": problem("Unknown or missing credentials"),
                "403": problem("The caller lacks the role"),
                "415": problem("Not application/json"),
                "503": problem("The audit index is unavailable"),
            },
        }
    },
}
