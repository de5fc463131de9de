"""Operations: ``/healthz`` (the process runs), ``/readyz`` (it can do its work: broker,
audit trail and store) and ``/metrics`` (Prometheus text format), plus the middleware that
counts and times requests.

A probe calls ``/readyz`` every few seconds: a change of readiness is logged once
(``not_ready`` with what fails, ``ready_again``), not every probe.

All three are public: a load balancer and a Prometheus scraper carry no member credential.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.errors import ServiceUnavailableError
from gateway.metrics import GatewayMetrics
from gateway.openapi_parts import problem

__all__ = [
    "OPENAPI_PATHS",
    "OPENAPI_SCHEMAS",
    "OPS_PATHS",
    "ReadinessCheck",
    "add_ops_routes",
    "metrics_middleware",
]

OPS_PATHS: Final = frozenset({"/healthz", "/readyz", "/metrics"})
ReadinessCheck = Callable[[], Awaitable[str | None]]
"""Raises when its dependency does not answer (any exception: not ready); may return a
detail for ``/readyz`` (e.g. "degraded: ...") while ready."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_METRICS_KEY: Final = web.AppKey("interop.ops_metrics", GatewayMetrics)
_CHECKS_KEY: Final = web.AppKey("interop.ops_checks", dict[str, ReadinessCheck])
_LAST_FAILING_KEY: Final = web.AppKey("interop.ops_last_failing", list[tuple[str, ...]])
_CHECK_TIMEOUT_S: Final = 3.0
_log = structlog.get_logger(__name__)


def add_ops_routes(
    app: web.Application, *, metrics: GatewayMetrics, checks: Mapping[str, ReadinessCheck]
) -> None:
    """Mount the operations endpoints; ``checks`` name what ``/readyz`` asks."""
    app[_METRICS_KEY] = metrics
    app[_CHECKS_KEY] = dict(checks)
    no_failures: list[tuple[str, ...]] = [()]
    app[_LAST_FAILING_KEY] = no_failures
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)


async def _healthz(_request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


async def _run_check(check: ReadinessCheck) -> tuple[bool, str]:
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT_S):
            detail = await check()
    except Exception as exc:  # whatever went wrong, the answer is "not ready"
        return False, f"unavailable ({type(exc).__name__})"
    return True, detail or "ok"


async def _readyz(request: web.Request) -> web.StreamResponse:
    checks = request.app[_CHECKS_KEY]
    results = await asyncio.gather(*(_run_check(check) for check in checks.values()))
    status = {name: detail for name, (_, detail) in zip(checks, results, strict=True)}
    failing = tuple(sorted(name for name, (ok, _) in zip(checks, results, strict=True) if not ok))
    last = request.app[_LAST_FAILING_KEY]
    if failing != last[0]:
        if failing:
            _log.warning("not_ready", failing=list(failing))
        else:
            _log.info("ready_again", was_failing=list(last[0]))
        last[0] = failing
    if failing:
        raise ServiceUnavailableError(f"not ready: {', '.join(failing)} unavailable")
    return web.json_response({"status": "ready", "checks": status})


async def _metrics(request: web.Request) -> web.StreamResponse:
    body = generate_latest(request.app[_METRICS_KEY].registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def _route_label(request: web.Request) -> str:
    # The route template, never the raw path: exchange ids would make a series per id.
    info = request.match_info
    resource = info.route.resource if info.http_exception is None else None
    return resource.canonical if resource is not None else "unmatched"


def metrics_middleware(metrics: GatewayMetrics) -> Middleware:
    """Count and time every request by route template, method and status (outermost)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        metrics.in_flight.inc()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.in_flight.dec()
            route = _route_label(request)
            metrics.http_requests.labels(route, request.method, str(status)).inc()
            metrics.http_latency.labels(route, request.method).observe(
                time.perf_counter() - started
            )

    return middleware


def _text_response(description: str, media: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


OPENAPI_SCHEMAS: Final[dict[str, Any]] = {
    "Readiness": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string"},
            "checks": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
}

_PROBLEM_503: Final = problem("Not ready: the broker or the store does not answer")

OPENAPI_PATHS: Final[dict[str, Any]] = {
    "/healthz": {
        "get": {
            "tags": ["operations"],
            "summary": "Liveness: the process answers",
            "operationId": "healthz",
            "security": [],
            "responses": {
                "200": _text_response(
                    "Alive", "application/json", {"$ref": "#/components/schemas/Readiness"}
                )
            },
        }
    },
    "/readyz": {
        "get": {
            "tags": ["operations"],
            "summary": "Readiness: the broker and the store answer",
            "operationId": "readyz",
            "security": [],
            "responses": {
                "200": _text_response(
                    "Ready", "application/json", {"$ref": "#/components/schemas/Readiness"}
                ),
                "503": _PROBLEM_503,
            },
        }
    },
    "/metrics": {
        "get": {
            "tags": ["operations"],
            "summary": "Prometheus metrics (text exposition format)",
            "operationId": "metrics",
            "security": [],
            "responses": {
                "200": _text_response("Metrics", "text/plain", {"type": "string"}),
            },
        }
    },
}
