"""The composition of one gateway replica: ``create_app(kafka, settings)`` serves the parts
``gateway.assembly`` builds.

Middleware, outermost first: metrics (counts every answer, errors included) → the one
error middleware (every failure becomes an RFC 9457 problem) → the edge's own defences
(``gateway/http_hardening.py``: repeated headers or parameters, an announced body over
the limit, throttled failed authentications) → authentication (public paths pass) →
per-member rate limit. ``client_max_size`` makes aiohttp refuse larger bodies, which the
error middleware answers 413. aiohttp's parser errors reach the logs only through
``ParserLogFilter`` (never the quoted header line: it can hold an API key).

Lifecycle (``cleanup_ctx``): open the store, start the producer, start the reply router
(its partitions assigned and positioned before the first request can be sent), start the
expiry loop. With no broker at start, the Kafka side starts in the background while only
health is served (``gateway/bus_startup.py``). Shutdown: the runner stops accepting
connections; ``on_shutdown`` releases waiting callers (they answer 202 with the exchange
as it stands); in-flight handlers get the runner's shutdown timeout; then the router, the
producer and the store are closed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Final

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry

from bus import KafkaSettings
from bus.audit import AuditTrail
from gateway.assembly import Gateway, build_gateway, request_signer
from gateway.audit_api import add_audit
from gateway.auth import auth_middleware
from gateway.batches import add_batch_routes
from gateway.batches.api import BATCHES_PATH
from gateway.bus_startup import StartStep, startup_gate_middleware
from gateway.catalogue_api import add_catalogue_routes
from gateway.consent import add_consent_routes
from gateway.console.mount import CONSOLE_PREFIX, mount_console
from gateway.errors import ServiceUnavailableError
from gateway.exchanges_api import add_exchange_routes
from gateway.http_hardening import FailedAuthThrottle, edge_middleware, harden_responses
from gateway.openapi import OPENAPI_PATH, openapi_document
from gateway.ops_api import OPS_PATHS, add_ops_routes, metrics_middleware
from gateway.problems import error_middleware
from gateway.rate_limit import RateLimiter, rate_limit_middleware
from gateway.redaction import install_log_filters
from gateway.registry_api import add_registry_routes, is_registry_path
from gateway.settings import GatewaySettings
from gateway.store.base import ExchangeStore

__all__ = ["GATEWAY_KEY", "Gateway", "create_app", "is_public", "request_signer"]

_CONSOLE_PATH: Final = CONSOLE_PREFIX + "/"
_AUDIT_GRACE_S: Final = 3.0
"""Audit writes failing this long, the last this recently: /readyz says not ready."""
_log = structlog.get_logger(__name__)


GATEWAY_KEY: Final = web.AppKey("interop.gateway", Gateway)


def is_public(request: web.Request) -> bool:
    """Paths that need no member credential: operations, the OpenAPI document, the registry,
    and the console (its pages authenticate by session cookie: ``gateway/console``)."""
    path = request.path
    return (
        path in OPS_PATHS
        or path in (OPENAPI_PATH, CONSOLE_PREFIX)
        or is_registry_path(path)
        or path.startswith(_CONSOLE_PATH)
    )


def create_app(
    kafka: KafkaSettings,
    settings: GatewaySettings,
    *,
    store: ExchangeStore | None = None,
    registry: CollectorRegistry | None = None,
    trail: AuditTrail | None = None,
) -> web.Application:
    """The gateway's aiohttp application; start it with ``web.AppRunner`` or ``run_app``.

    Start-up errors (catalogue, lock, members file, store URL) raise here, before any
    socket is opened. ``store`` and ``registry`` are seams for tests.
    """
    gateway = build_gateway(kafka, settings, store=store, registry=registry, trail=trail)
    middlewares: list[Middleware] = [
        metrics_middleware(gateway.metrics),
        error_middleware,
        edge_middleware(
            max_body_bytes=settings.http.max_body_bytes,
            auth_failures=FailedAuthThrottle(
                limit=settings.http.auth_failures_per_minute, window_s=60.0
            ),
            body_limits={BATCHES_PATH: settings.batches.max_body_bytes},
        ),
        # Before authentication: while no broker has answered since start-up, nothing
        # but health is served, and a member's key is not checked for nothing.
        startup_gate_middleware(gateway.startup, open_paths=OPS_PATHS),
        auth_middleware(gateway.directory, is_public=is_public),
    ]
    limits = settings.rate_limit
    if limits.enabled:
        middlewares.append(rate_limit_middleware(RateLimiter(limits.rate_per_s, limits.burst)))
    app = web.Application(client_max_size=settings.http.max_body_bytes, middlewares=middlewares)
    app[GATEWAY_KEY] = gateway
    app.on_response_prepare.append(harden_responses)
    install_log_filters()
    add_exchange_routes(
        app, service=gateway.service, settings=settings.exchanges, metrics=gateway.metrics
    )
    if settings.batches.enabled:
        add_batch_routes(
            app,
            service=gateway.batches,
            settings=settings.batches,
            exchange_store=gateway.store,
        )
    add_catalogue_routes(app, catalogue=gateway.catalogue, lock=gateway.lock)
    add_consent_routes(app, registry=gateway.consents)
    add_registry_routes(app, catalogue=gateway.catalogue, lock=gateway.lock)

    async def broker() -> None:
        gateway.startup.check()
        # Cached: /readyz answers anyone, and each uncached call opened a Kafka connection.
        if not await gateway.broker_health.reachable():
            raise ServiceUnavailableError("the Kafka broker does not answer")

    async def store_ping() -> None:
        # One database holds exchanges and consents: "store" covers both connections.
        await gateway.store.ping()
        await gateway.consent_store.ping()
        await gateway.batch_store.ping()

    async def audit_trail() -> None:
        # Not ready while audit writes keep failing (the broker may answer metadata and
        # still refuse them: no leader, too few in-sync replicas, no right to write). A
        # blip is tolerated; with no failure for a while, ready again (the next write
        # tells), so an idle gateway is never stuck out of the load balancer.
        health = gateway.producer.health
        failing_s, last_s = health.failing_for_s(), health.last_failure_age_s()
        if (
            failing_s is not None
            and last_s is not None
            and failing_s >= _AUDIT_GRACE_S
            and last_s < _AUDIT_GRACE_S
        ):
            raise ServiceUnavailableError(f"audit writes have failed for {failing_s:.0f}s")

    async def kafka_replication() -> str:
        # Degraded (a replica missing) is still ready. The audit partition refusing writes
        # is not: every exchange needs it. Some request partitions refusing is still ready
        # (the others' exchanges go on; the write gate refuses the affected ones at once).
        status = await gateway.replication.status()
        if status.refuses(settings.audit.topic):
            raise ServiceUnavailableError(status.detail())
        return status.detail()

    add_ops_routes(
        app,
        metrics=gateway.metrics,
        checks={
            "broker": broker,
            "audit_trail": audit_trail,
            "store": store_ping,
            "kafka_replication": kafka_replication,
        },
    )
    app.router.add_get(OPENAPI_PATH, _openapi)
    app.cleanup_ctx.append(_lifecycle)
    # After _lifecycle: the audit index and indexer start once the producer runs.
    add_audit(app, gateway.audit)
    app.on_shutdown.append(_release_waiters)
    if settings.console.enabled:
        mount_console(
            app,
            settings=settings,
            directory=gateway.directory,
            consents=gateway.consents,
            audit=gateway.audit,
            catalogue=gateway.catalogue,
        )
    return app


async def _openapi(request: web.Request) -> web.StreamResponse:
    return web.json_response(openapi_document(request.app[GATEWAY_KEY].catalogue))


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    gateway = app[GATEWAY_KEY]
    await gateway.store.open()
    try:
        await gateway.consent_store.open()
        await gateway.batch_store.open()
        async with contextlib.AsyncExitStack() as running:
            running.push_async_callback(gateway.replication.close)  # /readyz may open it
            # With no broker yet, this returns and the rest starts in the background
            # (gateway/bus_startup.py); what did start is stopped in reverse order.
            await gateway.startup.start(_bus_steps(gateway), running)
            try:
                yield
            finally:
                await gateway.startup.stop()
    finally:
        await gateway.batch_store.close()
        await gateway.consent_store.close()
        await gateway.store.close()


def _bus_steps(gateway: Gateway) -> list[StartStep]:
    """The replica's Kafka side in two steps, each resumable after "no broker"."""

    async def producer(running: contextlib.AsyncExitStack) -> None:
        await gateway.producer.start()
        running.push_async_callback(gateway.producer.stop)

    async def services(running: contextlib.AsyncExitStack) -> None:
        await gateway.requester.start()
        gateway.outbox.start()  # first what an earlier run still owed
        gateway.expiry.start()
        gateway.retention.start()
        if gateway.batch_worker is not None:
            gateway.batch_worker.start()  # once requests can be sent
        running.push_async_callback(_stop_services, gateway)

    return [producer, services]


async def _stop_services(gateway: Gateway) -> None:
    if gateway.batch_worker is not None:
        await gateway.batch_worker.stop()  # leases released for the others
    await gateway.expiry.stop()
    await gateway.retention.stop()
    await gateway.requester.stop()
    await gateway.outbox.stop()  # before the producer: it writes with it


async def _release_waiters(app: web.Application) -> None:
    app[GATEWAY_KEY].waiters.release_all()
