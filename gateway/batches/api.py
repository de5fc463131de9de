"""The HTTP face of batches: ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``GET
/v1/batches/{id}/results`` (NDJSON, or CSV by ``Accept``), ``DELETE /v1/batches/{id}``.

POST answers 202 with ``Location`` once the whole batch is stored (again 202, with
``Idempotent-Replayed``, for the same ``Idempotency-Key`` and body). Only the member that
submitted a batch may read or cancel it; for anyone else it does not exist (404).
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from gateway.auth import current_member
from gateway.batches.records import ItemStatus
from gateway.batches.request import parse_batch_request
from gateway.batches.results import csv_header, csv_line, decode_cursor, ndjson_line
from gateway.batches.service import BatchService, batch_json
from gateway.errors import NotAcceptableError, PayloadTooLargeError
from gateway.exchange_request import check_content_type, parse_idempotency_key
from gateway.exchanges_api import CALLER_HEADERS
from gateway.http_server import reading_body
from gateway.openapi_parts import SECURED, problem
from gateway.settings import BatchSettings
from gateway.store.base import ExchangeStore

__all__ = ["BATCHES_PATH", "OPENAPI_PATHS", "OPENAPI_SCHEMAS", "add_batch_routes"]

BATCHES_PATH: Final = "/v1/batches"
_PAGE: Final = 200
_BODY_TIMEOUT_S: Final = 60.0
_SERVICE_KEY: Final = web.AppKey("interop.batch_service", BatchService)
_SETTINGS_KEY: Final = web.AppKey("interop.batch_settings", BatchSettings)
_EXCHANGES_KEY: Final = web.AppKey("interop.batch_exchange_store", ExchangeStore)


def add_batch_routes(
    app: web.Application,
    *,
    service: BatchService,
    settings: BatchSettings,
    exchange_store: ExchangeStore,
) -> None:
    """Mount the batch endpoints (they need an authenticated member)."""
    app[_SERVICE_KEY] = service
    app[_SETTINGS_KEY] = settings
    app[_EXCHANGES_KEY] = exchange_store
    app.router.add_post(BATCHES_PATH, _post_batch)
    app.router.add_get(BATCHES_PATH + "/{id}", _get_batch)
    app.router.add_delete(BATCHES_PATH + "/{id}", _delete_batch)
    app.router.add_get(BATCHES_PATH + "/{id}/results", _get_results)


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The body up to ``limit`` bytes (the app-wide limit does not apply to this route)."""
    chunks: list[bytes] = []
    size = 0
    async with reading_body(request, _BODY_TIMEOUT_S):
        while chunk := await request.content.readany():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(
                    f"the batch exceeds the configured limit of {limit} bytes"
                )
            chunks.append(chunk)
    return b"".join(chunks)


async def _post_batch(request: web.Request) -> web.StreamResponse:
    check_content_type(request.content_type, "the batch")
    member = current_member(request)
    settings = request.app[_SETTINGS_KEY]
    key = parse_idempotency_key(request.headers.get("Idempotency-Key"))
    body = await _read_body(request, settings.max_body_bytes)
    parsed = parse_batch_request(body, max_items=settings.max_items)
    service = request.app[_SERVICE_KEY]
    batch, created = await service.submit(
        member, parsed, idempotency_key=key, traceparent=request.headers.get("traceparent")
    )
    counts = await service.counts(batch)
    response = web.json_response(batch_json(batch, counts), status=202)
    response.headers["Location"] = f"{BATCHES_PATH}/{batch.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


async def _get_batch(request: web.Request) -> web.StreamResponse:
    service = request.app[_SERVICE_KEY]
    batch = await service.get(current_member(request), request.match_info["id"])
    return web.json_response(batch_json(batch, await service.counts(batch)))


async def _delete_batch(request: web.Request) -> web.StreamResponse:
    service = request.app[_SERVICE_KEY]
    batch, cancelled = await service.cancel(current_member(request), request.match_info["id"])
    body = batch_json(batch, await service.counts(batch))
    body["cancelled_now"] = cancelled
    return web.json_response(body)


_NDJSON_RANGES: Final = frozenset(
    {"application/x-ndjson", "application/jsonl", "application/json", "application/*", "*/*"}
)
_CSV_RANGES: Final = frozenset({"text/csv", "text/*"})


def _wants_csv(accept: str | None) -> bool:
    """CSV or NDJSON by ``Accept`` (RFC 9110 12.5.1): the acceptable range with the highest
    weight wins, the earlier one on a tie; no header means NDJSON. A header that allows
    neither is answered 406, never with a format the caller said it cannot read."""
    if accept is None or not accept.strip():
        return False
    ranges: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        kind, *params = (piece.strip().lower() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0  # a malformed weight does not make a range acceptable
        if weight > 0:
            ranges.append((-weight, position, kind))
    for _, _, kind in sorted(ranges):
        if kind in _NDJSON_RANGES:
            return False
        if kind in _CSV_RANGES:
            return True
    raise NotAcceptableError(
        "the results are served as application/x-ndjson or text/csv; the Accept header"
        " allows neither"
    )


async def _get_results(request: web.Request) -> web.StreamResponse:
    service = request.app[_SERVICE_KEY]
    batch = await service.get(current_member(request), request.match_info["id"])
    after = decode_cursor(request.query.get("cursor"))
    as_csv = _wants_csv(request.headers.get("Accept"))
    response = web.StreamResponse(status=200)
    response.content_type = "text/csv" if as_csv else "application/x-ndjson"
    response.charset = "utf-8"
    await response.prepare(request)
    if as_csv:
        await response.write(csv_header())
    exchanges = request.app[_EXCHANGES_KEY]
    while True:
        items = await service.items(batch, after=after, limit=_PAGE)
        for item in items:
            record = None
            if item.exchange_id is not None and item.status is not ItemStatus.PENDING:
                record = await exchanges.get(item.exchange_id)
            await response.write(csv_line(item, record) if as_csv else ndjson_line(item, record))
        if len(items) < _PAGE:
            break
        after = items[-1].index
    await response.write_eof()
    return response


# -- OpenAPI ---------------------------------------------------------------------------

_CODE: Final = {"type": "string", "maxLength": 128, "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:/+-]*$"}
_BATCH_REF: Final = {"$ref": "#/components/schemas/Batch"}
_ID_PARAM: Final = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}

OPENAPI_SCHEMAS: Final[dict[str, Any]] = {
    "BatchRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["service", "version", "purpose", "official", "items"],
        "description": "The envelope fields are those of ExchangeRequest, shared by every item",
        "properties": {
            "service": {"type": "string"},
            "version": {"type": "string"},
            "provider": {"type": "string"},
            "purpose": _CODE,
            "procedure": _CODE,
            "case_file": {"type": "string", "minLength": 1, "maxLength": 256},
            "official": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "pattern": "^[A-Za-z0-9][A-Za-z0-9._:@-]*$",
            },
            "legal_basis": {"type": "string", "minLength": 1, "maxLength": 256},
            "items": {
                "type": "array",
                "minItems": 1,
                "description": "At most batches.max_items (default 10,000)",
                "items": {"$ref": "#/components/schemas/BatchItem"},
            },
        },
    },
    "BatchItem": {
        "type": "object",
        "additionalProperties": False,
        "required": ["subject", "data"],
        "properties": {
            "subject": {"type": "string", "minLength": 1, "maxLength": 256},
            "data": {"type": "object"},
            "consent_ref": _CODE,
            "item_ref": {**_CODE, "description": "The caller's own reference of the item"},
        },
    },
    "Batch": {
        "type": "object",
        "required": ["id", "state", "item_count", "counts", "progress", "created_at"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "state": {"type": "string", "enum": ["running", "cancelling", "finished"]},
            "service": {"type": "string"},
            "version": {"type": "string"},
            "provider": {"type": "string"},
            "purpose": {"type": "string"},
            "item_count": {"type": "integer", "minimum": 1},
            "counts": {
                "type": "object",
                "properties": {s.value: {"type": "integer"} for s in ItemStatus},
            },
            "progress": {"type": "number", "minimum": 0, "maximum": 1},
            "created_at": {"type": "string", "format": "date-time"},
            "cancelled_at": {"type": ["string", "null"], "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "results": {"type": "string"},
            "cancelled_now": {"type": "integer"},
        },
    },
    "BatchResult": {
        "type": "object",
        "description": "One NDJSON line of the results",
        "required": ["index", "status", "cursor"],
        "properties": {
            "index": {"type": "integer"},
            "item_ref": {"type": ["string", "null"]},
            "exchange_id": {"type": ["string", "null"]},
            "status": {"type": "string", "enum": [s.value for s in ItemStatus]},
            "error_code": {"type": ["string", "null"]},
            "exchange": {"oneOf": [{"$ref": "#/components/schemas/Exchange"}, {"type": "null"}]},
            "cursor": {"type": "string"},
        },
    },
}

OPENAPI_PATHS: Final[dict[str, Any]] = {
    BATCHES_PATH: {
        "post": {
            "tags": ["batches"],
            "summary": "Ask one service about many subjects; each item is its own exchange",
            "operationId": "createBatch",
            "security": SECURED,
            "parameters": [
                *CALLER_HEADERS,
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}}
                },
            },
            "responses": {
                "202": {
                    "description": "Accepted whole: GET the Location for progress",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                    "content": {"application/json": {"schema": _BATCH_REF}},
                },
                "400": problem("Invalid batch: every bad item listed by pointer (capped)"),
                "401": problem("No valid credentials"),
                "403": problem("No access right for this service and purpose"),
                "404": problem("Unknown service, version or provider"),
                "409": problem("Idempotency-Key reused with another body"),
                "413": problem("Body too large"),
                "415": problem("Not application/json"),
                "429": problem("Rate limited (see Retry-After)"),
                "503": problem("The store is unavailable"),
            },
        }
    },
    BATCHES_PATH + "/{id}": {
        "get": {
            "tags": ["batches"],
            "summary": "Counts by status and progress of a batch this member submitted",
            "operationId": "getBatch",
            "security": SECURED,
            "parameters": [_ID_PARAM],
            "responses": {
                "200": {
                    "description": "The batch",
                    "content": {"application/json": {"schema": _BATCH_REF}},
                },
                "401": problem("No valid credentials"),
                "404": problem("No such batch for this member"),
                "429": problem("Rate limited (see Retry-After)"),
                "503": problem("The store is unavailable"),
            },
        },
        "delete": {
            "tags": ["batches"],
            "summary": "Cancel the items not sent yet (sent ones finish)",
            "operationId": "cancelBatch",
            "security": SECURED,
            "parameters": [_ID_PARAM],
            "responses": {
                "200": {
                    "description": "The batch after the cancel; cancelled_now says how many",
                    "content": {"application/json": {"schema": _BATCH_REF}},
                },
                "401": problem("No valid credentials"),
                "404": problem("No such batch for this member"),
                "429": problem("Rate limited (see Retry-After)"),
                "503": problem("The store is unavailable"),
            },
        },
    },
    BATCHES_PATH + "/{id}/results": {
        "get": {
            "tags": ["batches"],
            "summary": "One line per item (NDJSON, or CSV by Accept), resumable by cursor",
            "operationId": "getBatchResults",
            "security": SECURED,
            "parameters": [
                _ID_PARAM,
                {
                    "name": "cursor",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 40},
                    "description": "The cursor of the last line read: resume after it",
                },
            ],
            "responses": {
                "200": {
                    "description": "The items in index order",
                    "content": {
                        "application/x-ndjson": {
                            "schema": {"$ref": "#/components/schemas/BatchResult"}
                        },
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                "400": problem("A cursor this API did not give out"),
                "401": problem("No valid credentials"),
                "404": problem("No such batch for this member"),
                "406": problem("The Accept header allows neither NDJSON nor CSV"),
                "429": problem("Rate limited (see Retry-After)"),
                "503": problem("The store is unavailable"),
            },
        }
    },
}
