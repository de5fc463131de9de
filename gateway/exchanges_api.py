"""``POST /v1/exchanges`` and ``GET /v1/exchanges/{id}``: the HTTP face of the exchange service.

POST answers by the exchange's state once the wait is over: 200 with the provider's data
(``completed``), 202 with ``Location`` (still ``pending``), 502 (``failed``: the provider
answered with an error), 504 (``timed_out``: the deadline passed while the caller
waited). ``Prefer: wait=N`` (RFC 7240) is honoured up to the configured cap and echoed in
``Preference-Applied``. A deprecated version adds ``Deprecation`` and ``Sunset``
(RFC 8594). Errors are raised, never rendered here (``gateway.problems``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from typing import Any, Final

import structlog
from aiohttp import web

from gateway.auth import current_member
from gateway.errors import DeadlineExceededError, ProviderError, ServiceUnavailableError
from gateway.exchange_request import (
    check_content_type,
    parse_exchange_request,
    parse_idempotency_key,
    parse_prefer_wait,
)
from gateway.exchange_states import GATEWAY_FAILURES
from gateway.exchanges import ExchangeService, Resolved, Submitted
from gateway.http_server import read_body
from gateway.metrics import GatewayMetrics
from gateway.openapi_parts import SECURED, problem
from gateway.settings import ExchangeSettings
from gateway.store.base import ExchangeRecord, ExchangeStatus

__all__ = [
    "CALLER_HEADERS",
    "EXCHANGES_PATH",
    "OPENAPI_PATHS",
    "OPENAPI_SCHEMAS",
    "add_exchange_routes",
    "exchange_json",
    "iso_time",
]

EXCHANGES_PATH: Final = "/v1/exchanges"
_SERVICE_KEY: Final = web.AppKey("interop.exchange_service", ExchangeService)
_SETTINGS_KEY: Final = web.AppKey("interop.exchange_settings", ExchangeSettings)
_METRICS_KEY: Final = web.AppKey("interop.exchange_metrics", GatewayMetrics)
_log = structlog.get_logger(__name__)

CALLER_HEADERS: Final[tuple[dict[str, Any], ...]] = (
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    },
    {"name": "traceparent", "in": "header", "required": False, "schema": {"type": "string"}},
)
"""The OpenAPI parameters of the caller's headers every creating POST reads."""


def add_exchange_routes(
    app: web.Application,
    *,
    service: ExchangeService,
    settings: ExchangeSettings,
    metrics: GatewayMetrics,
) -> None:
    """Mount the exchange endpoints (they need an authenticated member)."""
    app[_SERVICE_KEY] = service
    app[_SETTINGS_KEY] = settings
    app[_METRICS_KEY] = metrics
    app.router.add_post(EXCHANGES_PATH, _post_exchange)
    app.router.add_get(EXCHANGES_PATH + "/{id}", _get_exchange)


def iso_time(moment: datetime | None) -> str | None:
    """A time as the API writes it: UTC, milliseconds, ``Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def exchange_json(record: ExchangeRecord) -> dict[str, Any]:
    """The exchange as the API shows it (no subject, no official: those stay in the store)."""
    completed = record.status is ExchangeStatus.COMPLETED
    body: dict[str, Any] = {
        "id": record.id,
        "status": record.status.value,
        "service": record.service,
        "version": record.version,
        "provider": record.provider,
        "purpose": record.purpose,
        "found": (record.reply_status == "ok") if completed else None,
        "data": dict(record.result) if completed and record.result is not None else None,
        # Past exchanges.result_retention_days the provider's data is erased (the record
        # stays): say so, rather than look like an answer without data.
        "result_erased": completed and record.reply_status == "ok" and record.result is None,
        "created_at": iso_time(record.created_at),
        "deadline": iso_time(record.deadline),
        "completed_at": iso_time(record.completed_at),
    }
    if record.status is ExchangeStatus.TIMED_OUT:
        body["error"] = {
            "code": record.error_code or DeadlineExceededError.code,
            "detail": record.error_detail or "the deadline passed before the provider answered",
        }
    elif record.status is ExchangeStatus.FAILED:
        body["error"] = {
            "code": record.error_code or ProviderError.code,
            "detail": record.error_detail or "the provider answered with an error",
        }
    return body


def _outcome(record: ExchangeRecord) -> str:
    if record.status is ExchangeStatus.COMPLETED:
        return "found" if record.reply_status == "ok" else "not_found"
    return record.status.value


async def _post_exchange(request: web.Request) -> web.StreamResponse:
    check_content_type(request.content_type)
    member = current_member(request)
    body = await read_body(request)  # bounded by client_max_size: 413 past it
    parsed, document = parse_exchange_request(body)
    settings = request.app[_SETTINGS_KEY]
    prefer = ",".join(request.headers.getall("Prefer", [])) or None
    asked = parse_prefer_wait(prefer, cap_s=settings.max_wait_s)
    wait_s = asked if asked is not None else settings.default_wait_s
    submitted = await request.app[_SERVICE_KEY].submit(
        member,
        parsed,
        document,
        idempotency_key=parse_idempotency_key(request.headers.get("Idempotency-Key")),
        traceparent=request.headers.get("traceparent"),
        wait_s=wait_s,
    )
    record = submitted.record
    major = record.version.split(".")[0]
    request.app[_METRICS_KEY].exchanges.labels(record.service, major, _outcome(record)).inc()
    return _answer(submitted, wait_s if asked is not None else None)


def _answer(submitted: Submitted, applied_wait_s: float | None) -> web.StreamResponse:
    record = submitted.record
    if record.status is ExchangeStatus.FAILED:
        if record.error_code in GATEWAY_FAILURES:
            # The gateway's failure, never the provider's: nothing reached a provider, and
            # the Idempotency-Key was released, so the same request may be retried.
            raise ServiceUnavailableError(
                f"exchange {record.id} could not be sent; retry later (the same "
                "Idempotency-Key starts a new exchange)"
            )
        raise ProviderError(
            f"exchange {record.id}: {record.error_detail or 'the provider answered with an error'}",
            provider_code=record.error_code,
        )
    if record.status is ExchangeStatus.TIMED_OUT:
        raise DeadlineExceededError(
            f"exchange {record.id}: the deadline passed before the provider answered"
        )
    pending = record.status is ExchangeStatus.PENDING
    response = web.json_response(exchange_json(record), status=202 if pending else 200)
    location = f"{EXCHANGES_PATH}/{record.id}"
    response.headers["Content-Location"] = location
    if pending:
        response.headers["Location"] = location
    if applied_wait_s is not None:
        response.headers["Preference-Applied"] = f"wait={int(applied_wait_s)}"
    if not submitted.created:
        response.headers["Idempotent-Replayed"] = "true"
    _deprecation_headers(response, submitted.resolved)
    return response


def _deprecation_headers(response: web.StreamResponse, resolved: Resolved) -> None:
    if not resolved.deprecated:
        return
    # The catalogue records no deprecation date, only that it is deprecated.
    response.headers["Deprecation"] = "true"
    sunset: date | None = resolved.version.meta.sunset_date
    if sunset is not None:
        moment = datetime.combine(sunset, time(0, 0), tzinfo=UTC)
        response.headers["Sunset"] = format_datetime(moment, usegmt=True)


async def _get_exchange(request: web.Request) -> web.StreamResponse:
    member = current_member(request)
    record = await request.app[_SERVICE_KEY].get(member, request.match_info["id"])
    return web.json_response(exchange_json(record))


# -- OpenAPI ---------------------------------------------------------------------------

_EXCHANGE_REF: Final = {"$ref": "#/components/schemas/Exchange"}
_CODE_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:/+-]*$"

OPENAPI_SCHEMAS: Final[dict[str, Any]] = {
    "ExchangeRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["service", "version", "subject", "purpose", "official", "data"],
        "properties": {
            "service": {"type": "string", "description": "Service id <domain>.<service>"},
            "version": {
                "type": "string",
                "description": "MAJOR (newest served minor) or MAJOR.MINOR",
                "examples": ["1", "1.1"],
            },
            "provider": {"type": "string", "description": "Needed when several provide it"},
            "subject": {
                "type": "string",
                "minLength": 1,
                "maxLength": 256,
                "description": "The subject's identifier; only a keyed pseudonym is kept",
            },
            "purpose": {"type": "string", "maxLength": 128, "pattern": _CODE_PATTERN},
            "procedure": {"type": "string", "maxLength": 128, "pattern": _CODE_PATTERN},
            "case_file": {"type": "string", "minLength": 1, "maxLength": 256},
            "official": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "pattern": "^[A-Za-z0-9][A-Za-z0-9._:@-]*$",
                "description": "The identifier code of the civil servant who asks (no run of "
                "7+ digits: never a national id)",
            },
            "legal_basis": {"type": "string", "minLength": 1, "maxLength": 256},
            "consent_ref": {"type": "string", "maxLength": 128, "pattern": _CODE_PATTERN},
            "data": {
                "type": "object",
                "description": "The request, as JSON for the version's request schema",
            },
        },
    },
    "Exchange": {
        "type": "object",
        "required": ["id", "status", "service", "version", "provider", "created_at"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": [s.value for s in ExchangeStatus]},
            "service": {"type": "string"},
            "version": {"type": "string"},
            "provider": {"type": "string"},
            "purpose": {"type": "string"},
            "found": {"type": ["boolean", "null"]},
            "data": {"type": ["object", "null"]},
            "result_erased": {
                "type": "boolean",
                "description": "The data was erased after the retention period",
            },
            "created_at": {"type": "string", "format": "date-time"},
            "deadline": {"type": "string", "format": "date-time"},
            "completed_at": {"type": ["string", "null"], "format": "date-time"},
            "error": {
                "type": "object",
                "required": ["code"],
                "properties": {"code": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
}


OPENAPI_PATHS: Final[dict[str, Any]] = {
    EXCHANGES_PATH: {
        "post": {
            "tags": ["exchanges"],
            "summary": "Ask a provider for data about a subject",
            "operationId": "createExchange",
            "security": SECURED,
            "parameters": [
                {
                    "name": "Prefer",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "examples": ["wait=10"]},
                    "description": "RFC 7240 wait=N: wait up to N seconds (capped) for the reply",
                },
                *CALLER_HEADERS,
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ExchangeRequest"}}
                },
            },
            "responses": {
                "200": {
                    "description": "The provider answered in time",
                    "content": {"application/json": {"schema": _EXCHANGE_REF}},
                },
                "202": {
                    "description": "Still pending: GET the Location later",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                    "content": {"application/json": {"schema": _EXCHANGE_REF}},
                },
                "400": problem("Malformed request or data (every problem with a pointer)"),
                "401": problem("No valid credentials"),
                "403": problem("No access right for this service and purpose"),
                "404": problem("Unknown service, version or provider"),
                "409": problem("Idempotency-Key reused with another body"),
                "413": problem("Body too large"),
                "415": problem("Not application/json"),
                "429": problem("Rate limited (see Retry-After)"),
                "502": problem("The provider answered with an error"),
                "503": problem("The bus or the store is unavailable"),
                "504": problem("The deadline passed while waiting"),
            },
        }
    },
    EXCHANGES_PATH + "/{id}": {
        "get": {
            "tags": ["exchanges"],
            "summary": "Status and result of an exchange this member started",
            "operationId": "getExchange",
            "security": SECURED,
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {
                    "description": "The exchange",
                    "content": {"application/json": {"schema": _EXCHANGE_REF}},
                },
                "401": problem("No valid credentials"),
                "404": problem("No such exchange for this member"),
                "429": problem("Rate limited (see Retry-After)"),
                "503": problem("The store is unavailable"),
            },
        }
    },
}
