"""Which topics a catalogue needs: the layout of DESIGN.md, as ``TopicSpec``s.

One request topic and one dead-letter topic per service major version, one reply topic
per gateway group, and the single-partition audit topic (its one partition is the total
order the Merkle log is built over, so it is never partitioned further).

``catalogue_topic_specs`` is the development layout (``interop dev``); a deployment
describes its own in a ``TopicsConfig`` file (``deploy/topics.yaml``: partitions,
replication, ``min.insync.replicas`` and retention per kind of topic), which
``deployment_topic_specs`` turns into specs for ``interop topics apply``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Final, Self

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from bus.admin import TopicSpec
from bus.errors import BusError, InvalidIdentifierError
from bus.ids import GatewayGroupId, parse_gateway_group_id, parse_service_id
from bus.topics import AUDIT_QUARANTINE_TOPIC, AUDIT_TOPIC, ReplyTopic, RequestTopic, Topic
from contracts.catalogue import Catalogue

__all__ = [
    "AUDIT_TOPIC_CONFIGS",
    "AuditTopicConfig",
    "KindTopicsConfig",
    "ServiceTopicsOverride",
    "TopicsConfig",
    "TopicsConfigError",
    "catalogue_topic_specs",
    "deployment_topic_specs",
    "load_topics_config",
]


def catalogue_topic_specs(
    catalogue: Catalogue,
    *,
    gateway_groups: Sequence[GatewayGroupId],
    request_partitions: int,
    reply_partitions: int,
    replication_factor: int,
) -> list[TopicSpec]:
    """The topics ``catalogue`` and ``gateway_groups`` need, in a stable order."""
    specs: list[TopicSpec] = [
        TopicSpec(
            AUDIT_TOPIC,
            partitions=1,
            replication_factor=replication_factor,
            configs=dict(AUDIT_TOPIC_CONFIGS),
            fixed_partitions=True,
        ),
        TopicSpec(AUDIT_QUARANTINE_TOPIC, partitions=1, replication_factor=replication_factor),
    ]
    for group in gateway_groups:
        specs.append(
            TopicSpec(
                ReplyTopic(group),
                partitions=reply_partitions,
                replication_factor=replication_factor,
            )
        )
    for service_id in sorted(catalogue.services):
        service = catalogue.services[service_id]
        for major in sorted(service.majors()):
            request = RequestTopic(parse_service_id(service_id), major)
            specs.append(
                TopicSpec(
                    request, partitions=request_partitions, replication_factor=replication_factor
                )
            )
            specs.append(
                TopicSpec(request.dead_letter, partitions=1, replication_factor=replication_factor)
            )
    return specs


# -- the deployment's topic config (deploy/topics.yaml, `interop topics apply`) -----------

_RETENTION_MS: Final = "retention.ms"
_MIN_INSYNC: Final = "min.insync.replicas"
_TIMESTAMP_TYPE: Final = "message.timestamp.type"
_MANAGED_KEYS: Final = (_RETENTION_MS, _MIN_INSYNC)
AUDIT_TOPIC_CONFIGS: Final = {_TIMESTAMP_TYPE: "LogAppendTime"}
"""Every audit record carries the time the broker appended it, which no producer can
choose: the indexer checks signing keys against it (``bus.signed_time``)."""
_MIN_RETENTION_MS: Final = 60_000


class TopicsConfigError(BusError):
    """The topics config file is missing, not YAML, or does not make a valid config."""

    code = "BUS_TOPICS_CONFIG_INVALID"


def _gateway_group(text: str) -> str:
    try:
        return parse_gateway_group_id(text)
    except InvalidIdentifierError as exc:
        raise ValueError(exc.message) from exc


def _service(text: str) -> str:
    try:
        return parse_service_id(text)
    except InvalidIdentifierError as exc:
        raise ValueError(exc.message) from exc


def _retention(value: int) -> int:
    if value != -1 and value < _MIN_RETENTION_MS:
        raise ValueError(f"must be -1 (keep forever) or at least {_MIN_RETENTION_MS} ms")
    return value


RetentionMs = Annotated[int, AfterValidator(_retention)]


class _Durability(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    replication_factor: Annotated[int, Field(ge=1, le=32)] = 3
    """Copies of every partition; 3 in production, 1 only on a development broker."""
    min_insync_replicas: Annotated[int, Field(ge=1, le=32)] = 2
    """Replicas that must have a record before an ``acks=all`` write succeeds."""
    retention_ms: RetentionMs = 604_800_000
    """How long records are kept (``retention.ms``); -1 keeps them forever."""
    configs: dict[str, str] = {}
    """Further Kafka topic configs (e.g. ``max.message.bytes``), applied as given."""

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"min_insync_replicas ({self.min_insync_replicas}) cannot exceed "
                f"replication_factor ({self.replication_factor}): no write would succeed"
            )
        clash = sorted(set(self.configs) & set(_MANAGED_KEYS))
        if clash:
            raise ValueError(f"set {', '.join(clash)} with its own field, not in configs")
        return self

    def topic_configs(self) -> dict[str, str]:
        return {
            **self.configs,
            _RETENTION_MS: str(self.retention_ms),
            _MIN_INSYNC: str(self.min_insync_replicas),
        }


class KindTopicsConfig(_Durability):
    """Partitions, durability and retention of one kind of topic."""

    partitions: Annotated[int, Field(ge=1, le=10_000)] = 6
    """Partitions per topic; they can grow later (``topics apply``), never shrink."""


class AuditTopicConfig(_Durability):
    """The audit topic: durability and retention only; it always has one partition and
    keeps the broker's append time (``message.timestamp.type=LogAppendTime``)."""

    retention_ms: RetentionMs = -1
    """Audit events are evidence: kept forever by default."""
    partitions: int = 1
    """Always 1: the Merkle log is built over the topic's single total order."""

    @model_validator(mode="after")
    def _one_partition(self) -> Self:
        if self.partitions != 1:
            raise ValueError(
                "the audit topic has exactly one partition (the Merkle log needs one total "
                "order); it cannot be configured"
            )
        if _TIMESTAMP_TYPE in self.configs:
            raise ValueError(
                f"the audit topic's {_TIMESTAMP_TYPE} is always LogAppendTime (the indexer"
                " checks signing keys against the broker's time); it cannot be configured"
            )
        return self

    def topic_configs(self) -> dict[str, str]:
        return {**super().topic_configs(), **AUDIT_TOPIC_CONFIGS}


class ServiceTopicsOverride(BaseModel):
    """Per-service changes to the request topics' defaults (a busy service, a longer log)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    partitions: Annotated[int, Field(ge=1, le=10_000)] | None = None
    retention_ms: RetentionMs | None = None


class TopicsConfig(BaseModel):
    """``deploy/topics.yaml``: the deployment's side of the topic layout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gateway_groups: Annotated[
        list[Annotated[str, AfterValidator(_gateway_group)]], Field(min_length=1)
    ]
    """One reply topic ``interop.rep.<group>`` per gateway group."""
    request: KindTopicsConfig = KindTopicsConfig()
    reply: KindTopicsConfig = KindTopicsConfig(partitions=12, retention_ms=86_400_000)
    dead_letter: KindTopicsConfig = KindTopicsConfig(partitions=1, retention_ms=2_592_000_000)
    audit: AuditTopicConfig = AuditTopicConfig()
    services: dict[Annotated[str, AfterValidator(_service)], ServiceTopicsOverride] = {}
    """Request-topic overrides by service id (``tax.income-band``)."""


def load_topics_config(path: Path) -> TopicsConfig:
    """Read and validate a topics config file; ``TopicsConfigError`` lists every problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TopicsConfigError(f"{path}: cannot be read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise TopicsConfigError(f"{path}: not valid YAML ({exc})") from exc
    try:
        return TopicsConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'top level'}: {err['msg']}"
            for err in exc.errors()
        )
        raise TopicsConfigError(f"{path}: {problems}") from exc


def deployment_topic_specs(catalogue: Catalogue, config: TopicsConfig) -> list[TopicSpec]:
    """Every topic of ``catalogue`` as ``config`` wants it, in a stable order.

    Raises ``TopicsConfigError`` for an override of a service the catalogue lacks (a typo
    there would otherwise be silently ignored).
    """
    unknown = sorted(set(config.services) - set(catalogue.services))
    if unknown:
        raise TopicsConfigError(
            f"services overrides name services the catalogue lacks: {', '.join(unknown)}"
        )
    audit = config.audit
    specs: list[TopicSpec] = [
        TopicSpec(
            AUDIT_TOPIC,
            partitions=1,
            replication_factor=audit.replication_factor,
            configs=audit.topic_configs(),
            fixed_partitions=True,
        ),
        # Refused audit records: kept like dead letters, for whoever investigates them.
        _spec(AUDIT_QUARANTINE_TOPIC, config.dead_letter.model_copy(update={"partitions": 1})),
    ]
    for group in config.gateway_groups:
        specs.append(_spec(ReplyTopic(parse_gateway_group_id(group)), config.reply))
    for service_id in sorted(catalogue.services):
        override = config.services.get(service_id, ServiceTopicsOverride())
        request_kind = config.request.model_copy(
            update={key: value for key, value in override.model_dump().items() if value is not None}
        )
        for major in sorted(catalogue.services[service_id].majors()):
            request = RequestTopic(parse_service_id(service_id), major)
            specs.append(_spec(request, request_kind))
            specs.append(_spec(request.dead_letter, config.dead_letter))
    return specs


def _spec(topic: Topic, kind: KindTopicsConfig) -> TopicSpec:
    return TopicSpec(
        topic,
        partitions=kind.partitions,
        replication_factor=kind.replication_factor,
        configs=kind.topic_configs(),
    )
