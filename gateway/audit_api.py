"""The audit API: auditors query events and fetch checkpoints and proofs; citizens see
who accessed their data.

* ``GET /v1/audit/events`` (role ``auditor``): events in log order, filtered by subject
  (the given identifier is pseudonymised here with the gateway's subject key, never
  stored or logged), requester, provider, service, purpose, outcome, type, exchange and
  time range; cursor pagination; JSON, or CSV with ``Accept: text/csv``.
* ``GET /v1/audit/checkpoint``: the latest signed checkpoint (C2SP signed note, text).
* ``GET /v1/audit/events/{id}/proof?tree_size=N``: the event as stored, its leaf index
  and its inclusion proof in the tree of size N (default: the latest checkpoint's).
* ``GET /v1/audit/consistency?from=M&to=N``: the consistency proof between two sizes.
* the citizen's data tracker lives in ``gateway/accesses_api.py``.

Proofs are computed from stored node hashes (O(log n) rows). Hashes travel as standard
base64. The indexer runs in the gateway process unless ``audit.indexer.enabled`` is off.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import io
from collections.abc import AsyncIterator
from typing import Any, Final

import structlog
from aiohttp import web
from multidict import MultiMapping

from bus import (
    BrokerWait,
    KafkaSettings,
    MemberKeys,
    cancel_and_wait,
    start_or_keep_trying,
)
from bus.audit import (
    EVENT_FIELDS,
    AuditError,
    AuditEventType,
    AuditIndex,
    AuditIndexer,
    CheckpointPolicy,
    EventFilter,
    IndexedEvent,
    MerkleError,
    encode_cursor,
)
from contracts import Catalogue
from contracts.errors import InteropError
from gateway.accesses_api import add_accesses_routes
from gateway.audit_parts import AUDIT_KEY, AuditParts
from gateway.audit_query import (
    check_params,
    csv_row,
    query_int,
    query_time,
    read_cursor,
    subject_ref,
)
from gateway.auth import current_member
from gateway.errors import (
    FieldProblem,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
)
from gateway.members import Member, Role
from gateway.openapi_parts import SECURED, problem
from gateway.settings import GatewaySettings

__all__ = [
    "AUDIT_KEY",
    "OPENAPI_PATHS",
    "OPENAPI_SCHEMAS",
    "AuditParts",
    "UnknownAuditEventError",
    "add_audit",
    "audit_parts",
    "event_json",
    "event_query",
    "events_csv",
    "search_events",
]

_log = structlog.get_logger(__name__)
_MAX_LIMIT: Final = 1000
_DEFAULT_LIMIT: Final = 100
_EVENT_FILTERS: Final = ("requester", "provider", "service", "purpose", "outcome", "exchange_id")
_EVENT_PARAMS: Final = frozenset(
    {*_EVENT_FILTERS, "subject", "type", "since", "until", "from_index", "cursor", "limit"}
)
_CSV_COLUMNS: Final = ("leaf_index", *EVENT_FIELDS, "key_id", "signature")


class UnknownAuditEventError(NotFoundError):
    """No event with this id is in the audit index (yet)."""

    code = "UNKNOWN_AUDIT_EVENT"


def providers_by_service(catalogue: Catalogue) -> dict[str, frozenset[str]]:
    """Each service's providers, as the indexer checks a provider's steps against them."""
    return {
        service_id: frozenset(str(p) for p in service.meta.providers)
        for service_id, service in catalogue.services.items()
    }


def audit_parts(
    kafka: KafkaSettings,
    settings: GatewaySettings,
    *,
    member_keys: MemberKeys,
    subject_key: bytes,
    catalogue: Catalogue | None = None,
) -> AuditParts:
    """This replica's audit index and, when enabled here, its indexer (not yet started).
    With ``catalogue``, a provider's steps must name a service it provides."""
    audit = settings.audit
    index = AuditIndex(settings.store_url.get_secret_value())
    indexer = None
    if audit.indexer.enabled:
        indexer = AuditIndexer(
            kafka,
            index,
            topic=audit.topic,
            # One group per gateway group: replicas sharing a database share the group,
            # so only the owner of the audit partition appends.
            group_id=f"interop.audit-indexer.{settings.gateway_group}",
            checkpoints=CheckpointPolicy(
                origin=audit.indexer.origin,
                signer=audit.indexer.signer(),
                every=audit.indexer.checkpoint_every,
                interval_s=audit.indexer.checkpoint_interval_s,
            ),
            batch_size=audit.indexer.batch_size,
            # Only events signed by their actor, who may write them, become leaves.
            member_keys=member_keys if audit.verify_events else None,
            providers_of=None if catalogue is None else providers_by_service(catalogue),
        )
    return AuditParts(index, indexer, subject_key)


def add_audit(app: web.Application, parts: AuditParts) -> None:
    """Add the audit routes, and open the index (and start the indexer) with the app."""
    app[AUDIT_KEY] = parts
    app.cleanup_ctx.append(_lifecycle)
    router = app.router
    router.add_get("/v1/audit/events", _events)
    router.add_get("/v1/audit/checkpoint", _checkpoint)
    router.add_get("/v1/audit/events/{event_id}/proof", _proof)
    router.add_get("/v1/audit/consistency", _consistency)
    add_accesses_routes(app)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    parts = app[AUDIT_KEY]
    indexer = parts.indexer
    await parts.index.open()
    try:
        starting: asyncio.Task[None] | None = None
        if indexer is not None:
            # As the gateway's own Kafka side does (gateway/bus_startup.py): with no broker
            # the replica serves health while the indexer waits for it; any other error
            # stops the replica at start.
            starting = await start_or_keep_trying(
                indexer.start, component="audit-indexer", wait=BrokerWait()
            )
            if starting is not None:
                starting.add_done_callback(_log_start_failure)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # its failure was logged when it ended
                await cancel_and_wait(starting)
            if indexer is not None:
                await indexer.stop()
    finally:
        await parts.index.close()


def _log_start_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        code = exc.code if isinstance(exc, InteropError) else type(exc).__name__
        _log.error("audit_indexer_start_failed", error_code=code, error=str(exc))


# -- helpers ---------------------------------------------------------------------------
def _require(request: web.Request, role: Role) -> tuple[Member, AuditParts]:
    member = current_member(request)
    if not member.has_role(role):
        raise ForbiddenError(f"{member.id} does not hold the {role.value} role")
    return member, request.app[AUDIT_KEY]


def _int(request: web.Request, name: str, *, default: int | None, low: int) -> int | None:
    return query_int(request.query.get(name), name, default=default, low=low)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def event_json(event: IndexedEvent) -> dict[str, Any]:
    # The actor's key id and signature travel with the event (not part of its leaf), so an
    # auditor can check offline who wrote it (``bus.audit.event_signing``).
    signed = event.signature
    return {
        "leaf_index": event.leaf_index,
        **event.row.to_json(),
        "key_id": None if signed is None else signed.key_id,
        "signature": None if signed is None else signed.signature,
    }


async def _guard(coro: Any) -> Any:
    try:
        return await coro
    except AuditError as exc:
        raise ServiceUnavailableError(f"the audit index is unavailable ({exc.code})") from exc


def _next_cursor(events: list[IndexedEvent], limit: int) -> str | None:
    if len(events) < limit:
        return None
    return encode_cursor(events[-1].leaf_index)


# -- handlers --------------------------------------------------------------------------
async def _events(request: web.Request) -> web.StreamResponse:
    _, parts = _require(request, Role.AUDITOR)
    check_params(request, _EVENT_PARAMS)
    where, limit, after = event_query(request.query, parts.subject_key)
    events, cursor = await search_events(parts, where, limit=limit, after=after)
    if "text/csv" in request.headers.get("Accept", ""):
        return events_csv(events, cursor)
    return web.json_response({"events": [event_json(e) for e in events], "next_cursor": cursor})


def event_query(query: MultiMapping[str], subject_key: bytes) -> tuple[EventFilter, int, int]:
    """The filter, page size and cursor position of an event search (400 when invalid);
    shared by ``GET /v1/audit/events`` and the console's search, so both find the same."""
    types = tuple(query.getall("type", []))
    bad = [t for t in types if t not in AuditEventType.__members__]
    if bad:
        raise InvalidRequestError(
            "unknown event type", [FieldProblem("/type", f"one of {', '.join(AuditEventType)}")]
        )
    subject = query.get("subject")
    where = EventFilter(
        # Present but empty is a 400, as on the consent API: not a search of everyone.
        subject_ref=subject_ref(subject_key, subject, "/subject") if subject is not None else None,
        types=types,
        since=query_time(query.get("since"), "since"),
        until=query_time(query.get("until"), "until"),
        from_index=query_int(query.get("from_index"), "from_index", default=None, low=0),
        requester=query.get("requester"),
        provider=query.get("provider"),
        service=query.get("service"),
        purpose=query.get("purpose"),
        outcome=query.get("outcome"),
        exchange_id=query.get("exchange_id"),
    )
    limit = query_int(query.get("limit"), "limit", default=_DEFAULT_LIMIT, low=1)
    page = min(limit or _DEFAULT_LIMIT, _MAX_LIMIT)
    return where, page, read_cursor(query.get("cursor"))


async def search_events(
    parts: AuditParts, where: EventFilter, *, limit: int, after: int
) -> tuple[list[IndexedEvent], str | None]:
    """A page of events and the next page's cursor (503 when the index is unavailable)."""
    events: list[IndexedEvent] = await _guard(
        parts.index.events(where, after_seq=after, limit=limit)
    )
    return events, _next_cursor(events, limit)


def events_csv(events: list[IndexedEvent], cursor: str | None) -> web.Response:
    """The CSV answer of an event search (formula-like cells escaped, ``csv_row``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for event in events:
        writer.writerow(csv_row(event_json(event)))
    headers = {"X-Next-Cursor": cursor} if cursor else {}
    return web.Response(text=out.getvalue(), content_type="text/csv", headers=headers)


async def _checkpoint(request: web.Request) -> web.StreamResponse:
    _, parts = _require(request, Role.AUDITOR)
    latest = await _guard(parts.index.latest_checkpoint())
    if latest is None:
        raise ServiceUnavailableError(
            "no signed checkpoint yet (the log is empty or no signing key is configured)"
        )
    return web.Response(text=latest.note, content_type="text/plain", charset="utf-8")


async def _size(request: web.Request, parts: AuditParts) -> int:
    given = _int(request, "tree_size", default=None, low=1)
    if given is not None:
        state = await _guard(parts.index.state())
        if given > state.tree_size:
            raise InvalidRequestError(
                f"the log has {state.tree_size} events, not {given}",
                [FieldProblem("/tree_size", f"at most {state.tree_size}")],
            )
        return given
    latest = await _guard(parts.index.latest_checkpoint())
    if latest is None:
        raise ServiceUnavailableError("no signed checkpoint yet: give tree_size")
    size: int = latest.tree_size
    return size


async def _proof(request: web.Request) -> web.StreamResponse:
    _, parts = _require(request, Role.AUDITOR)
    check_params(request, frozenset({"tree_size"}))
    event_id = request.match_info["event_id"][:64]
    found: IndexedEvent | None = await _guard(parts.index.event(event_id))
    if found is None:
        raise UnknownAuditEventError(f"no audit event {event_id!r} in the index")
    size = await _size(request, parts)
    if found.leaf_index >= size:
        raise InvalidRequestError(
            f"the event is leaf {found.leaf_index}, not in the tree of size {size}",
            [FieldProblem("/tree_size", f"above {found.leaf_index}")],
        )
    proof: list[bytes] = await _guard(parts.index.inclusion_proof(found.leaf_index, size))
    return web.json_response(
        {
            "event": event_json(found),
            "leaf_index": found.leaf_index,
            "tree_size": size,
            "proof": [_b64(h) for h in proof],
        }
    )


async def _consistency(request: web.Request) -> web.StreamResponse:
    _, parts = _require(request, Role.AUDITOR)
    check_params(request, frozenset({"from", "to"}))
    old = _int(request, "from", default=None, low=1)
    new = _int(request, "to", default=None, low=1)
    if old is None or new is None:
        missing = [name for name, value in (("from", old), ("to", new)) if value is None]
        raise InvalidRequestError(
            "give both sizes: ?from=M&to=N",
            [FieldProblem(f"/{name}", "required") for name in missing],
        )
    state = await _guard(parts.index.state())
    if not old <= new <= state.tree_size:
        raise InvalidRequestError(
            f"need 1 <= from <= to <= {state.tree_size}",
            [FieldProblem("/to", f"at most {state.tree_size} and at least from")],
        )
    try:
        proof: list[bytes] = await _guard(parts.index.consistency_proof(old, new))
    except MerkleError as exc:  # pragma: no cover - ranges checked above
        raise InvalidRequestError(exc.message) from exc
    return web.json_response({"from": old, "to": new, "proof": [_b64(h) for h in proof]})


# -- OpenAPI ---------------------------------------------------------------------------
_COMMON_ERRORS: Final = {
    "400": problem("Invalid parameters"),
    "401": problem("Unknown or missing credentials"),
    "403": problem("The caller lacks the role"),
    "503": problem("The audit index or checkpoint is unavailable"),
}


def _query(name: str, description: str, kind: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": kind},
    }


OPENAPI_SCHEMAS: Final[dict[str, Any]] = {
    "AuditEvent": {
        "type": "object",
        "description": "One audit event as indexed; its leaf entry is the canonical JSON of"
        " every field but leaf_index, key_id and signature. key_id and signature are its"
        " actor's Ed25519 signature over that canonical form (docs/audit.md).",
        "required": ["leaf_index", "event_id", "type", "time", "actor"],
        "properties": {
            "leaf_index": {"type": "integer"},
            **{
                name: {"type": ["integer", "null"] if name == "latency_ms" else ["string", "null"]}
                for name in EVENT_FIELDS
            },
            "key_id": {"type": ["string", "null"]},
            "signature": {"type": ["string", "null"], "description": "base64url, no padding"},
        },
    },
}

OPENAPI_PATHS: Final[dict[str, Any]] = {
    "/v1/audit/events": {
        "get": {
            "tags": ["audit"],
            "summary": "Audit events in log order (role auditor); JSON or CSV",
            "security": SECURED,
            "parameters": [
                _query("subject", "The subject's identifier (pseudonymised by the gateway)"),
                *(_query(n, f"Exact {n}") for n in _EVENT_FILTERS),
                _query("type", "Event type (repeatable)"),
                _query("since", "From this time (ISO 8601, inclusive)"),
                _query("until", "Before this time (ISO 8601, exclusive)"),
                _query("from_index", "From this leaf index", "integer"),
                _query("cursor", "next_cursor of the previous page"),
                _query("limit", f"Page size, at most {_MAX_LIMIT}", "integer"),
            ],
            "responses": {
                "200": {
                    "description": "A page of events",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "events": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/AuditEvent"},
                                    },
                                    "next_cursor": {"type": ["string", "null"]},
                                },
                            }
                        },
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                **_COMMON_ERRORS,
            },
        }
    },
    "/v1/audit/checkpoint": {
        "get": {
            "tags": ["audit"],
            "summary": "The latest signed checkpoint (C2SP tlog-checkpoint, signed note)",
            "security": SECURED,
            "responses": {
                "200": {
                    "description": "The note",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                **_COMMON_ERRORS,
            },
        }
    },
    "/v1/audit/events/{event_id}/proof": {
        "get": {
            "tags": ["audit"],
            "summary": "The event and its inclusion proof in the tree of size tree_size",
            "security": SECURED,
            "parameters": [
                {"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}},
                _query("tree_size", "Tree size (default: the latest checkpoint's)", "integer"),
            ],
            "responses": {
                "200": {
                    "description": "Event, leaf index, tree size and proof (base64 hashes)",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "404": problem("No such event"),
                **_COMMON_ERRORS,
            },
        }
    },
    "/v1/audit/consistency": {
        "get": {
            "tags": ["audit"],
            "summary": "Consistency proof between two tree sizes",
            "security": SECURED,
            "parameters": [
                _query("from", "The older size", "integer"),
                _query("to", "The newer size", "integer"),
            ],
            "responses": {
                "200": {
                    "description": "The proof (base64 hashes)",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                **_COMMON_ERRORS,
            },
        }
    },
}
