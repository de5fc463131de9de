"""The connector runtime: from validated settings to consumers answering requests.

``ConnectorRuntime.start()`` does every check that can fail before the first request is
read, so a misconfigured connector stops at once with a message naming the field:

* each service version is in the catalogue, locked, and provided by ``member_id``;
* each Python handler imports; each adapter builds and opens; each mapping fits the
  provider's response schema;
* the gateway keys load; the reply store opens and migrates.

Then, per service, a ``BusConsumer`` in the service's consumer group hands records to
its ``RequestPipeline``; one idempotent producer writes replies and dead letters. A
consumer that fails for good (another running connector shares ``instance_id``) ends the
runtime's life: ``wait_failed()`` returns the error to exit with. The
reply store is purged of replies older than the retention once an hour. ``stop()``
stops fetching, lets in-flight requests finish (bounded by ``shutdown_timeout_s``),
commits, then closes adapters, the producer and the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from prometheus_client import CollectorRegistry

from bus import (
    BrokerHealth,
    BrokerWait,
    BusConsumer,
    BusError,
    BusProducer,
    DeadLetterPublisher,
    FieldEncryptionError,
    FieldOpener,
    InstanceFencedError,
    MemberKeys,
    MemberKeysError,
    RecordSigner,
    ReplicationHealth,
    ReplicationState,
    RequestTopic,
    RequestVerifier,
    SigningKeyError,
    load_encryption_private_key,
    load_member_keys,
    load_private_key,
    load_private_key_file,
    load_public_key,
    parse_member_id,
    parse_service_id,
    start_when_broker_answers,
)
from bus.audit import AuditTrail
from connectors.adapters.base import Adapter, Found, LegacyError, NotFound
from connectors.adapters.registry import adapter_factory
from connectors.answering import Answerer, CallLimits, RecordMapper
from connectors.config import ConnectorSettings, ServiceConfig
from connectors.errors import ConnectorConfigError, ReplyStoreError
from connectors.health import HealthServer
from connectors.lag import LagMonitor, LagTarget
from connectors.mapping import MappingError, compile_mapping
from connectors.metrics import ConnectorMetrics
from connectors.pipeline import (
    EnvelopeVerifier,
    RequestPipeline,
    ServedContract,
    UnsignedEnvelopeCheck,
)
from connectors.reply_store import ReplyStore
from connectors.reply_store_postgres import PostgresReplyStore
from connectors.reply_store_sqlite import SqliteReplyStore
from connectors.sdk import Handler, HandlerContext, ServiceKey
from contracts import (
    Catalogue,
    Codec,
    ContractError,
    ContractVersion,
    LockFile,
    SchemaId,
    load_catalogue,
)
from contracts.errors import InteropError
from storage import parse_store_url

__all__ = ["ConnectorRuntime", "ServedVersion", "connector_signer", "open_reply_store"]

_log = structlog.get_logger(__name__)
_PURGE_INTERVAL_S: Final = 3600.0

AuditTrailFactory = Callable[[BusProducer], AuditTrail]


def open_reply_store(url: str) -> ReplyStore:
    """The (unopened) store for ``url`` (``sqlite:///...`` or ``postgresql://...``)."""
    parsed = parse_store_url(url)
    if parsed.backend == "sqlite":
        assert parsed.path is not None  # noqa: S101 - parse_store_url sets it
        return SqliteReplyStore(parsed.path)
    assert parsed.dsn is not None  # noqa: S101
    return PostgresReplyStore(parsed.dsn)


def connector_signer(settings: ConnectorSettings) -> RecordSigner | None:
    """The signer of the connector's replies and audit events, or None when no key is
    configured (``ConnectorConfigError`` if the key cannot be loaded)."""
    signing = settings.signing
    if signing is None:
        _log.warning("replies_not_signed", member=settings.member_id)
        return None
    try:
        if signing.private_key is not None:
            key = load_private_key(signing.private_key.get_secret_value())
        else:
            assert signing.private_key_file is not None  # noqa: S101 - the model checks it
            key = load_private_key_file(signing.private_key_file)
        return RecordSigner(signing.key_id, key)
    except SigningKeyError as exc:
        raise ConnectorConfigError(f"signing: {exc.message}") from None


def field_opener(settings: ConnectorSettings) -> FieldOpener | None:
    """The opener of the personal fields sealed for this provider, or None without field
    keys (``ConnectorConfigError`` if a key cannot be loaded)."""
    if not settings.field_keys:
        return None
    try:
        return FieldOpener(
            {
                key_id: load_encryption_private_key(secret.get_secret_value())
                for key_id, secret in settings.field_keys.items()
            }
        )
    except FieldEncryptionError as exc:
        raise ConnectorConfigError(f"field_keys: {exc.message}") from None


@dataclass(frozen=True, slots=True)
class ServedVersion:
    """What one configured service resolves to in the catalogue."""

    key: ServiceKey
    version: ContractVersion
    request_id: SchemaId
    response_id: SchemaId
    topic: RequestTopic
    group_id: str


class ConnectorRuntime:
    """Every service of one ``connector.yaml``, in one process."""

    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        audit: AuditTrailFactory,
        registry: CollectorRegistry | None = None,
        handlers: Mapping[ServiceKey, Handler] | None = None,
    ) -> None:
        self._settings = settings
        self._audit_factory = audit
        self.registry = registry or CollectorRegistry()
        self.metrics = ConnectorMetrics(self.registry)
        self._given_handlers = dict(handlers or {})
        self._member = parse_member_id(settings.member_id)
        self.signer = connector_signer(settings)
        self._opener = field_opener(settings)
        self._members: MemberKeys | None = None
        """Signs this connector's replies and audit events (None: unsigned, development)."""
        self._store = open_reply_store(settings.reply_store_url.get_secret_value())
        self._producer = BusProducer(settings.kafka)
        self._adapters: list[Adapter] = []
        self._consumers: list[BusConsumer] = []
        self._broker = BrokerHealth(settings.kafka)
        self._replication = ReplicationHealth(settings.kafka, registry=self.registry)
        self.served: list[ServedVersion] = []
        self.health: HealthServer | None = None
        self._lag: LagMonitor | None = None
        self._purge_task: asyncio.Task[None] | None = None
        self._started = False
        self._failure: InteropError | None = None
        self._failed = asyncio.Event()
        self._broker_wait = BrokerWait()

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Check everything, then start consuming (returns before partitions arrive)."""
        settings = self._settings
        catalogue, lock = self._catalogue()
        codec = Codec({int(k): v for k, v in catalogue.schemas_by_id(lock).items()})
        keys = self._gateway_keys()
        plans = [self._resolve(i, svc, catalogue, lock) for i, svc in enumerate(settings.services)]
        try:
            await self._store.open()
            # Health first: while the broker is not up yet, /readyz says so and /healthz
            # keeps the process from being restarted for it (bus/broker_wait.py).
            await self._start_health()
            await start_when_broker_answers(
                self._producer.start, component="connector", wait=self._broker_wait
            )
            audit = self._audit_factory(self._producer)
            digest_key = settings.audit_digest_key.get_secret_value().encode()
            for index, (config, served) in enumerate(zip(settings.services, plans, strict=True)):
                handler, mapping = await self._answerer_parts(index, config, served)
                answerer = Answerer(
                    service=str(served.key),
                    handler=handler,
                    codec=codec,
                    response_schema_id=served.response_id,
                    metrics=self.metrics,
                    limits=CallLimits(
                        concurrency=config.concurrency,
                        call_timeout_s=config.timeouts.call_s,
                        retry=config.retry,
                        circuit=config.circuit,
                    ),
                    mapping=mapping,
                )
                verifier: EnvelopeVerifier
                if keys:
                    verifier = RequestVerifier.from_catalogue(
                        keys, catalogue, key_windows=self._key_windows
                    )
                else:
                    _log.warning("requests_not_verified", service=str(served.key))
                    verifier = UnsignedEnvelopeCheck(served.topic)
                pipeline = RequestPipeline(
                    member=self._member,
                    served=ServedContract(
                        service=served.key.service,
                        version=str(served.version.version),
                        request_schema_id=served.request_id,
                        subject_fields=served.version.meta.subject_fields,
                        sealed_fields=served.version.meta.sealed_fields,
                    ),
                    codec=codec,
                    verifier=verifier,
                    answerer=answerer,
                    store=self._store,
                    sender=self._producer,
                    audit=audit,
                    metrics=self.metrics,
                    digest_key=digest_key,
                    reply_margin_s=config.timeouts.reply_margin_s,
                    signer=self.signer,
                    opener=self._opener,
                )
                consumer = BusConsumer(
                    settings.kafka,
                    topics=[served.topic],
                    group_id=served.group_id,
                    handler=pipeline,
                    dead_letters=DeadLetterPublisher(self._producer),
                    max_in_flight=config.max_in_flight or 2 * config.concurrency,
                    drain_timeout_s=settings.shutdown_timeout_s,
                    group_instance_id=(
                        f"{settings.instance_id}.{served.key}"
                        if settings.instance_id is not None
                        else None
                    ),
                    on_fatal=functools.partial(self._consumer_failed, served),
                )
                self._consumers.append(consumer)
            for consumer in self._consumers:
                await consumer.start()
            self.served = plans
            await self._start_ops()
        except BaseException:
            await self.stop()
            raise
        self._started = True
        _log.info(
            "connector_started",
            member=self._member,
            services=[f"{p.key.service} {p.version.version}" for p in plans],
            reply_store=parse_store_url(settings.reply_store_url.get_secret_value()).display,
        )

    async def wait_assigned(self, timeout_s: float) -> None:
        """Until every service's consumer holds at least one partition (tests, readiness)."""
        for consumer in self._consumers:
            await consumer.wait_assigned(timeout_s)

    async def wait_failed(self) -> InteropError:
        """Until a service's consumer fails for good; the error the process should end with."""
        await self._failed.wait()
        assert self._failure is not None  # noqa: S101 - set before the event
        return self._failure

    def _consumer_failed(self, served: ServedVersion, error: BusError) -> None:
        if self._failure is not None:
            return  # the first failure is the one reported
        self._failure = error
        if isinstance(error, InstanceFencedError) and self._settings.instance_id is not None:
            # The only way to get fenced: name the setting the operator has to change.
            self._failure = ConnectorConfigError(
                f"instance_id: another running connector uses {self._settings.instance_id!r}: "
                f"the broker fenced this one from the {served.key} group {served.group_id} "
                "(FENCED_INSTANCE_ID); give every replica its own instance_id"
            )
        _log.error("connector_failed", service=str(served.key), error_code=self._failure.code)
        self._failed.set()

    async def stop(self) -> None:
        """Finish in-flight requests, commit, close everything (safe to call twice)."""
        self._started = False
        if self._purge_task is not None:
            self._purge_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purge_task
            self._purge_task = None
        if self._lag is not None:
            await self._lag.stop()
            self._lag = None
        consumers, self._consumers = self._consumers, []
        await asyncio.gather(*(c.stop() for c in consumers), return_exceptions=True)
        adapters, self._adapters = self._adapters, []
        for adapter in adapters:
            try:
                await adapter.close()
            except Exception as exc:  # one adapter's close must not keep the others open
                _log.warning("adapter_close_failed", exception_type=type(exc).__name__)
        await self._producer.stop()
        with contextlib.suppress(ReplyStoreError):
            await self._store.close()
        if self.health is not None:
            await self.health.stop()
            self.health = None
        _log.info("connector_stopped")

    async def readiness(self) -> str | None:
        """None when ready; else why not: the runtime is started, every service holds
        partitions, the broker answers (checked at most every few seconds) and the reply
        store answers. A connector that cannot take requests is not ready."""
        if (why := self._not_running()) is not None:
            return why
        idle = [c for c in self._consumers if not c.assignment]
        if idle:
            return f"{len(idle)} service consumer(s) hold no partition yet"
        if not await self._broker.reachable():
            return "the Kafka broker does not answer"
        replication = await self._replication.status()
        if replication.state is ReplicationState.REFUSING:
            return f"Kafka partitions refuse writes: {replication.detail()}"
        try:
            await self._store.ping()
        except ReplyStoreError as exc:
            return f"reply store: {exc.code}"
        return None

    def _not_running(self) -> str | None:
        if self._failure is not None:
            return f"failed, stopping: {self._failure.code}"
        if self._broker_wait.waiting:
            return self._broker_wait.describe()
        return None if self._started else "starting or stopping"

    async def _start_ops(self) -> None:
        settings = self._settings
        targets = [LagTarget(str(p.key), p.topic.name, p.group_id) for p in self.served]
        self._lag = LagMonitor(settings.kafka, targets, self.metrics)
        self._lag.start()
        self._purge_task = asyncio.create_task(self._purge_loop(), name="connector-purge")

    async def _start_health(self) -> None:
        settings = self._settings
        if settings.health.enabled:
            self.health = HealthServer(
                host=settings.health.host,
                port=settings.health.port,
                registry=self.registry,
                readiness=self.readiness,
            )
            await self.health.start()
            _log.info("health_listening", host=settings.health.host, port=self.health.port)

    async def _purge_loop(self) -> None:
        retention = timedelta(days=self._settings.reply_retention_days)
        while True:
            try:
                purged = await self._store.purge(datetime.now(UTC) - retention)
                if purged:
                    _log.info("replies_purged", count=purged)
            except ReplyStoreError as exc:
                _log.warning("reply_purge_failed", error_code=exc.code)
            await asyncio.sleep(_PURGE_INTERVAL_S)

    # -- building ----------------------------------------------------------------------
    def _catalogue(self) -> tuple[Catalogue, LockFile]:
        root = self._settings.catalogue_dir
        try:
            catalogue = load_catalogue(root)
            lock = LockFile.load(catalogue.lock_path())
        except ContractError as exc:
            raise ConnectorConfigError(f"catalogue_dir: {exc.message}") from None
        return catalogue, lock

    def _gateway_keys(self) -> dict[str, Ed25519PublicKey]:
        keys: dict[str, Ed25519PublicKey] = {}
        if self._settings.members_file is not None:
            try:
                members = load_member_keys(self._settings.members_file)
            except MemberKeysError as exc:
                raise ConnectorConfigError(f"members_file: {exc.message}") from None
            keys.update(members.public_keys_of_role("gateway"))
            self._members = members
        for key_id, text in self._settings.gateway_keys.items():
            try:
                keys[key_id] = load_public_key(text.get_secret_value())
            except SigningKeyError as exc:
                raise ConnectorConfigError(f"gateway_keys.{key_id}: {exc.message}") from None
        return keys

    def _key_windows(self, key_id: str, moment: datetime) -> bool:
        # Keys from the members file sign only within their window; gateway_keys have none.
        members = self._members
        if members is None or not members.knows(key_id):
            return True
        return members.valid_at(key_id, moment)

    def _resolve(
        self, index: int, config: ServiceConfig, catalogue: Catalogue, lock: LockFile
    ) -> ServedVersion:
        where = f"services.{index}"
        service = catalogue.services.get(config.service)
        if service is None:
            raise ConnectorConfigError(
                f"{where}.service: {config.service!r} is not in the catalogue"
            )
        if self._member not in service.meta.providers:
            raise ConnectorConfigError(
                f"{where}.service: {self._member} is not a provider of {service.id} "
                f"(providers: {', '.join(service.meta.providers)})"
            )
        if "." in config.version:
            version = service.version(config.version)
        else:
            locked = [
                v
                for v in service.majors().get(config.major, [])
                if lock.entry(service.id, str(v.version), "response") is not None
            ]
            version = locked[-1] if locked else None
        if version is None:
            raise ConnectorConfigError(
                f"{where}.version: {service.id} has no version {config.version} "
                f"(versions: {', '.join(str(v.version) for v in service.versions)})"
            )
        request = lock.entry(service.id, str(version.version), "request")
        response = lock.entry(service.id, str(version.version), "response")
        if request is None or response is None:
            raise ConnectorConfigError(
                f"{where}.version: {service.id} {version.version} is not locked: "
                "run interop contracts check --lock"
            )
        topic = RequestTopic(parse_service_id(service.id), config.major)
        group = config.group_id or f"interop.connector.{self._member}.{service.id}.v{config.major}"
        return ServedVersion(
            key=ServiceKey(service.id, config.major),
            version=version,
            request_id=request.schema_id,
            response_id=response.schema_id,
            topic=topic,
            group_id=group,
        )

    async def _answerer_parts(
        self, index: int, config: ServiceConfig, served: ServedVersion
    ) -> tuple[Handler, RecordMapper | None]:
        where = f"services.{index}"
        mapping: RecordMapper | None = None
        if config.mapping is not None:
            try:
                mapping = compile_mapping(config.mapping, served.version.response)
            except MappingError as exc:
                raise ConnectorConfigError(f"{where}.mapping: {exc.detail}") from None
            except ValueError as exc:  # the mapping block's own shape (pydantic)
                raise ConnectorConfigError(f"{where}.mapping: {exc}") from None
        given = self._given_handlers.get(served.key)
        if given is not None:
            return given, mapping
        if config.handler is not None:
            return _import_handler(f"{where}.handler", config.handler), mapping
        assert config.adapter is not None  # noqa: S101 - the settings validator ensures one
        factory = adapter_factory(config.adapter.kind)
        adapter_settings = factory.settings_model.model_validate(config.adapter.settings)
        adapter = factory.build(adapter_settings)
        try:
            await adapter.open()
        except LegacyError as exc:
            raise ConnectorConfigError(
                f"{where}.adapter: the {config.adapter.kind} adapter cannot open: {exc.detail}"
            ) from None
        self._adapters.append(adapter)
        return _adapter_handler(adapter), mapping


def _adapter_handler(adapter: Adapter) -> Handler:
    async def lookup(request: Mapping[str, Any], _ctx: HandlerContext) -> Found | NotFound:
        return await adapter.lookup(request)

    return lookup


def _import_handler(where: str, spec: str) -> Handler:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConnectorConfigError(f"{where}: cannot import {module_name!r}: {exc}") from None
    function = getattr(module, attribute, None)
    if function is None or not inspect.iscoroutinefunction(function):
        raise ConnectorConfigError(
            f"{where}: {spec!r} is not an async function (async def handler(request, ctx))"
        )
    handler: Handler = function
    return handler
