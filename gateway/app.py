"""The composition of one gateway replica: ``create_app(kafka, settings)``.

Middleware, outermost first: metrics (counts every answer, errors included) → the one
error middleware (every failure becomes an RFC 9457 problem) → the edge's own defences
(``gateway/http_hardening.py``: repeated headers or parameters, an announced body over
the limit, throttled failed authentications) → authentication (public paths pass) →
per-member rate limit. ``client_max_size`` makes aiohttp refuse larger bodies, which the
error middleware answers 413. aiohttp's parser errors reach the logs only through
``ParserLogFilter`` (never the quoted header line: it can hold an API key).

Lifecycle (``cleanup_ctx``): open the store, start the producer, start the reply router
(its partitions assigned and positioned before the first request can be sent), start the
expiry loop. Shutdown: the runner stops accepting connections; ``on_shutdown`` releases
waiting callers (they answer 202 with the exchange as it stands); in-flight handlers get
the runner's shutdown timeout; then the router, the producer and the store are closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from bus import (
    BusProducer,
    KafkaSettings,
    ReplicationHealth,
    ReplyTopic,
    Requester,
    RequestSigner,
    load_private_key,
    load_private_key_file,
    parse_gateway_group_id,
    parse_member_id,
    probe_cluster,
    public_key_text,
    uuid7,
)
from bus.audit import AuditTrail, KafkaAuditTrail
from contracts import Catalogue, Codec, LockFile, load_catalogue
from gateway.audit_api import add_audit, audit_parts
from gateway.audit_outbox import AuditOutbox
from gateway.audit_parts import AuditParts
from gateway.auth import auth_middleware
from gateway.batches import (
    BatchMetrics,
    BatchService,
    BatchStore,
    BatchWorker,
    add_batch_routes,
    open_batch_store,
)
from gateway.batches.api import BATCHES_PATH
from gateway.bus_write_gate import BusWriteGate
from gateway.catalogue_api import add_catalogue_routes
from gateway.consent import ConsentRegistry, ConsentStore, add_consent_routes, open_consent_store
from gateway.console.mount import CONSOLE_PREFIX, mount_console
from gateway.errors import ServiceUnavailableError
from gateway.exchange_states import ExchangeStates, utc_now
from gateway.exchanges import ExchangeKeys, ExchangeService, response_schemas
from gateway.exchanges_api import add_exchange_routes
from gateway.http_hardening import FailedAuthThrottle, edge_middleware, harden_responses
from gateway.members import MemberDirectory, load_members_file
from gateway.metrics import GatewayMetrics
from gateway.openapi import OPENAPI_PATH, openapi_document
from gateway.ops_api import OPS_PATHS, add_ops_routes, metrics_middleware
from gateway.problems import error_middleware
from gateway.rate_limit import RateLimiter, rate_limit_middleware
from gateway.redaction import install_log_filters
from gateway.registry_api import add_registry_routes, is_registry_path
from gateway.replies import ExpiryLoop, ReplySink, ReplyWaiters, audit_digest_key
from gateway.reply_verification import ReplyGate, ReplyVerifier
from gateway.request_sealing import RequestEncoder
from gateway.retention import RetentionSweep
from gateway.settings import GatewaySettings, SigningSettings
from gateway.store import open_store
from gateway.store.base import ExchangeRecord, ExchangeStore

__all__ = ["GATEWAY_KEY", "Gateway", "create_app", "is_public", "request_signer"]

_PROBE_TIMEOUT_S: Final = 2.0
_REPLICATION_TTL_S: Final = 2.0
_CONSOLE_PATH: Final = CONSOLE_PREFIX + "/"
_AUDIT_GRACE_S: Final = 3.0
"""Audit writes failing this long, the last this recently: /readyz says not ready."""
_log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Gateway:
    """The parts of one replica (tests and the entry point reach them via ``GATEWAY_KEY``)."""

    kafka: KafkaSettings
    settings: GatewaySettings
    catalogue: Catalogue
    lock: LockFile
    directory: MemberDirectory
    metrics: GatewayMetrics
    store: ExchangeStore
    producer: BusProducer
    requester: Requester
    waiters: ReplyWaiters
    service: ExchangeService
    expiry: ExpiryLoop
    consent_store: ConsentStore
    retention: RetentionSweep
    outbox: AuditOutbox
    audit: AuditParts
    consents: ConsentRegistry
    trail: AuditTrail
    replication: ReplicationHealth
    """The cluster's replication, for /readyz and the exchanges' write gate."""
    batch_store: BatchStore
    batches: BatchService
    batch_worker: BatchWorker | None
    """Sends batch items (None when ``batches.enabled`` is false)."""


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


def request_signer(settings: SigningSettings) -> RequestSigner:
    """The signer of every request this replica produces (``SigningKeyError`` if the key
    cannot be loaded: the gateway does not start)."""
    if settings.private_key is not None:
        key = load_private_key(settings.private_key.get_secret_value())
    elif settings.private_key_file is not None:
        key = load_private_key_file(settings.private_key_file)
    else:
        key = Ed25519PrivateKey.generate()
        # Only connectors told this public key will accept this run's requests.
        _log.warning(
            "request_signing_key_ephemeral",
            key_id=settings.key_id,
            public_key=public_key_text(key.public_key()),
        )
    return RequestSigner(settings.key_id, key)


def _build(
    kafka: KafkaSettings,
    settings: GatewaySettings,
    *,
    store: ExchangeStore | None,
    registry: CollectorRegistry | None,
    trail: AuditTrail | None,
) -> Gateway:
    catalogue = load_catalogue(settings.catalogue_dir)
    lock = LockFile.load(catalogue.lock_path())
    schemas = {int(k): v for k, v in catalogue.schemas_by_id(lock).items()}
    directory = MemberDirectory.from_config(load_members_file(settings.members_file), catalogue)
    codec = Codec(schemas)  # one codec for requests and replies
    metrics = GatewayMetrics(registry if registry is not None else CollectorRegistry())
    store = store if store is not None else open_store(settings.store_url.get_secret_value())
    # The consent registry lives in the exchange store's database, in its own tables.
    consent_store = open_consent_store(settings.store_url.get_secret_value())
    producer = BusProducer(kafka)
    # Every step is written to the audit topic and acknowledged before it takes effect.
    # One member key: the gateway signs its requests and its audit events with it.
    signer = request_signer(settings.signing)
    if trail is None:
        trail = KafkaAuditTrail(
            producer,
            topic=settings.audit.topic,
            timeout_s=settings.audit.write_timeout_s,
            signer=signer,
        )
    subject_key = settings.subject_hmac_key.get_secret_value().encode("utf-8")
    configured = settings.audit.digest_key
    digest_key = (
        configured.get_secret_value().encode("utf-8")
        if configured is not None
        else audit_digest_key(subject_key)
    )
    consents = ConsentRegistry(
        store=consent_store,
        trail=trail,
        catalogue=catalogue,
        subject_key=subject_key,
        member_ids=[m.id for m in directory.members],
    )
    waiters = ReplyWaiters(settings.exchanges.max_waiting)
    outbox = AuditOutbox(store=store, trail=trail, metrics=metrics, actor=settings.member_id)
    # Who hears that an exchange ended: waiting callers, and the batch worker.
    final_listeners: list[Callable[[ExchangeRecord], None]] = [waiters.resolve]

    def on_final(record: ExchangeRecord) -> None:
        for listener in final_listeners:
            listener(record)

    # The one owner of every move out of PENDING, with its audit event.
    states = ExchangeStates(
        store=store,
        trail=trail,
        metrics=metrics,
        actor=settings.member_id,
        on_owed=outbox.wake,
        on_final=on_final,
    )
    reply_topic = ReplyTopic(parse_gateway_group_id(settings.gateway_group))
    gate = None
    if settings.verify_replies:
        gate = ReplyGate(
            ReplyVerifier(directory.member_keys),
            producer=producer,
            trail=trail,
            metrics=metrics,
            reply_topic=reply_topic.name,
            actor=settings.member_id,
            dead_letter_services={
                (service.id, major)
                for service in catalogue.services.values()
                for major in service.majors()
            },
        )
    sink = ReplySink(
        store=store,
        states=states,
        codec=codec,
        responses=response_schemas(catalogue, lock),
        waiters=waiters,
        metrics=metrics,
        digest_key=digest_key,
        gate=gate,
    )
    requester = Requester(
        kafka,
        member=parse_member_id(settings.member_id),
        producer=producer,
        reply_topic=reply_topic,
        reply_partitions=settings.reply_partitions,
        on_reply=sink,
        offsets_group=settings.reply_offsets_group,
        signer=signer,
    )
    # Looked at every 2 s at most: the write gate acts on it for every new exchange.
    replication = ReplicationHealth(kafka, registry=metrics.registry, ttl_s=_REPLICATION_TTL_S)
    encoder = RequestEncoder(
        codec=codec,
        lock=lock,
        recipients=directory.encryption_key_for,
        mode=settings.field_encryption,
    )
    service = ExchangeService(
        catalogue=catalogue,
        encoder=encoder,
        store=store,
        requester=requester,
        waiters=waiters,
        metrics=metrics,
        settings=settings.exchanges,
        keys=ExchangeKeys(subject=subject_key, digest=digest_key),
        consents=consents,
        states=states,
        writes=BusWriteGate(replication, audit_topic=settings.audit.topic),
    )
    # Batches live in the exchange store's database, in their own tables.
    batch_store = open_batch_store(settings.store_url.get_secret_value())
    batch_worker = None
    if settings.batches.enabled:
        batch_worker = BatchWorker(
            store=batch_store,
            exchanges=service,
            exchange_store=store,
            directory=directory,
            settings=settings.batches,
            metrics=BatchMetrics(metrics.registry),
            # One owner per process: a restarted replica takes its batches over like any
            # other once their leases run out.
            owner=f"{settings.member_id}/{settings.gateway_group}/{uuid7()}",
        )
        final_listeners.append(batch_worker.on_final)
    batches = BatchService(
        exchanges=service, encoder=encoder, store=batch_store, worker=batch_worker
    )
    expiry = ExpiryLoop(
        states=states,
        interval_s=settings.exchanges.expiry_interval_s,
        ready=requester.router.caught_up,
    )
    retention = RetentionSweep(
        store=store,
        retention=timedelta(days=settings.exchanges.result_retention_days),
        interval_s=settings.exchanges.retention_interval_s,
        clock=utc_now,
    )
    return Gateway(
        audit=audit_parts(
            kafka, settings, member_keys=directory.member_keys, subject_key=subject_key
        ),
        outbox=outbox,
        retention=retention,
        kafka=kafka,
        settings=settings,
        catalogue=catalogue,
        lock=lock,
        directory=directory,
        metrics=metrics,
        store=store,
        producer=producer,
        requester=requester,
        waiters=waiters,
        service=service,
        expiry=expiry,
        consent_store=consent_store,
        consents=consents,
        trail=trail,
        replication=replication,
        batch_store=batch_store,
        batches=batches,
        batch_worker=batch_worker,
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
    gateway = _build(kafka, settings, store=store, registry=registry, trail=trail)
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
        await probe_cluster(kafka, timeout_s=_PROBE_TIMEOUT_S)

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
        await gateway.producer.start()
        try:
            await gateway.requester.start()
            gateway.outbox.start()  # first what an earlier run still owed
            gateway.expiry.start()
            gateway.retention.start()
            if gateway.batch_worker is not None:
                gateway.batch_worker.start()  # once requests can be sent
            try:
                yield
            finally:
                if gateway.batch_worker is not None:
                    await gateway.batch_worker.stop()  # leases released for the others
                await gateway.replication.close()
                await gateway.expiry.stop()
                await gateway.retention.stop()
                await gateway.requester.stop()
                await gateway.outbox.stop()  # before the producer: it writes with it
        finally:
            await gateway.producer.stop()
    finally:
        await gateway.batch_store.close()
        await gateway.consent_store.close()
        await gateway.store.close()


async def _release_waiters(app: web.Application) -> None:
    app[GATEWAY_KEY].waiters.release_all()
