"""The parts of one gateway replica and how they are wired: ``build_gateway``.

``gateway.app`` serves them (routes, middleware, lifecycle); this module only builds them,
in dependency order: catalogue and members, codec and metrics, stores, the producer and
the audit trail, consent, the exchange states and the reply side, the exchange service,
batches, and the loops that run beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from bus import (
    BrokerHealth,
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
    public_key_text,
    uuid7,
)
from bus.audit import AuditTrail, KafkaAuditTrail
from contracts import Catalogue, Codec, LockFile, load_catalogue
from gateway.audit_api import audit_parts
from gateway.audit_outbox import AuditOutbox
from gateway.audit_parts import AuditParts
from gateway.batches import BatchMetrics, BatchService, BatchStore, BatchWorker, open_batch_store
from gateway.bus_startup import BusStartup
from gateway.bus_write_gate import BusWriteGate
from gateway.consent import ConsentRegistry, ConsentStore, open_consent_store
from gateway.exchange_states import ExchangeStates, exchange_owner, utc_now
from gateway.exchanges import ExchangeKeys, ExchangeService, response_schemas
from gateway.members import MemberDirectory, load_members_file
from gateway.metrics import GatewayMetrics
from gateway.replies import ExpiryLoop, ReplySink, ReplyWaiters, audit_digest_key
from gateway.reply_verification import ReplyGate, ReplyVerifier
from gateway.request_sealing import RequestEncoder
from gateway.retention import RetentionSweep
from gateway.settings import GatewaySettings, SigningSettings
from gateway.store import open_store
from gateway.store.base import ExchangeRecord, ExchangeStore

__all__ = ["Gateway", "build_gateway", "request_signer"]

_REPLICATION_TTL_S: Final = 2.0
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
    broker_health: BrokerHealth
    """Whether the cluster answers, for /readyz: asked at most every 2 s, however often
    /readyz is called."""
    batch_store: BatchStore
    batches: BatchService
    batch_worker: BatchWorker | None
    """Sends batch items (None when ``batches.enabled`` is false)."""
    startup: BusStartup = field(default_factory=BusStartup)
    """Whether the Kafka side has started (it waits for a broker that was not up)."""


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


def build_gateway(
    kafka: KafkaSettings,
    settings: GatewaySettings,
    *,
    store: ExchangeStore | None,
    registry: CollectorRegistry | None,
    trail: AuditTrail | None,
) -> Gateway:
    """Every part of one replica, wired; nothing started (``create_app``'s lifecycle starts
    and stops them)."""
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

    reply_topic = ReplyTopic(parse_gateway_group_id(settings.gateway_group))
    # The one owner of every move out of PENDING, with its audit event. This replica owns
    # the exchanges whose replies come back to its reply partitions.
    states = ExchangeStates(
        store=store,
        trail=trail,
        metrics=metrics,
        actor=settings.member_id,
        owner=exchange_owner(reply_topic.name, settings.reply_partitions),
        on_owed=outbox.wake,
        on_final=on_final,
    )
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
        on_unreadable=gate.audit_unreadable if gate is not None else None,
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
        writes=BusWriteGate(
            replication, audit_topic=settings.audit.topic, produce_health=producer.health
        ),
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
        batches=batch_store,
    )
    return Gateway(
        audit=audit_parts(
            kafka,
            settings,
            member_keys=directory.member_keys,
            subject_key=subject_key,
            catalogue=catalogue,
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
        broker_health=BrokerHealth(kafka),
        batch_store=batch_store,
        batches=batches,
        batch_worker=batch_worker,
    )
