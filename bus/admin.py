"""Cluster administration: is the broker there, and idempotent topic provisioning.

aiokafka's admin client is wrapped here and nowhere else; its errors become ``BusError``s.
``ensure_topics`` makes the cluster match a list of ``TopicSpec``s: missing topics are
created, topics with too few partitions grow, and a topic with *more* partitions than its
spec is refused (partitions cannot shrink, and silently accepting it would hide a wrong
spec). Configs of existing topics are left alone (changing retention is a deliberate act).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import KafkaError

from bus.errors import BrokerUnavailableError, BusError, TopicProvisioningError
from bus.kafka_errors import KAFKA_FAILURES, translate_kafka_error
from bus.kafka_security import connection_failure_reason, kafka_client_security
from bus.log_throttle import quiet_client_errors
from bus.settings import KafkaSettings
from bus.topics import Topic

__all__ = [
    "ClusterInfo",
    "TopicChange",
    "TopicSpec",
    "admin_client",
    "ensure_topics",
    "probe_cluster",
    "wait_for_cluster",
]

_UNKNOWN_TOPIC: Final = 3
_TOPIC_ALREADY_EXISTS: Final = 36


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """What a metadata request says about the cluster."""

    cluster_id: str | None
    controller_id: int | None
    broker_count: int


def admin_client(settings: KafkaSettings, *, client_id: str | None = None) -> AIOKafkaAdminClient:
    """An (unstarted) admin client with the settings' timeouts and security."""
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id or settings.client_id,
        request_timeout_ms=settings.request_timeout_ms,
        **kafka_client_security(settings),
    )


async def probe_cluster(target: KafkaSettings | str, *, timeout_s: float = 5.0) -> ClusterInfo:
    """Send one metadata request; raise ``BrokerUnavailableError`` if it is not answered.

    ``target`` is the client settings (TLS/SASL included) or, for a plaintext development
    broker, just its bootstrap address.
    """
    settings = (
        target if isinstance(target, KafkaSettings) else KafkaSettings(bootstrap_servers=target)
    )
    request_timeout_ms = max(1000, int(timeout_s * 1000))
    # A refused connection is the expected answer of a probe, which aiokafka logs as an
    # ERROR; the raised BrokerUnavailableError reports it instead.
    with quiet_client_errors():
        return await _describe(settings, request_timeout_ms, timeout_s)


async def _describe(
    settings: KafkaSettings, request_timeout_ms: int, timeout_s: float
) -> ClusterInfo:
    bootstrap_servers = settings.bootstrap_servers
    client = admin_client(
        settings.model_copy(update={"request_timeout_ms": request_timeout_ms}),
        client_id="interop-probe",
    )
    try:
        async with asyncio.timeout(timeout_s):
            await client.start()
            described = await client.describe_cluster()
    except (KafkaError, OSError, TimeoutError) as exc:
        reason = await connection_failure_reason(settings) or type(exc).__name__
        raise BrokerUnavailableError(
            f"no Kafka broker answered a metadata request at {bootstrap_servers}: {reason}"
        ) from exc
    finally:
        await client.close()
    brokers = described.get("brokers") or []
    if not brokers:
        raise BrokerUnavailableError(f"the broker at {bootstrap_servers} lists no brokers yet")
    return ClusterInfo(
        cluster_id=described.get("cluster_id"),
        controller_id=described.get("controller_id"),
        broker_count=len(brokers),
    )


async def wait_for_cluster(
    target: KafkaSettings | str, *, timeout_s: float, interval_s: float = 0.25
) -> ClusterInfo:
    """Probe until the broker answers or ``timeout_s`` passes (then re-raise the last error)."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        try:
            return await probe_cluster(target, timeout_s=max(1.0, min(5.0, remaining)))
        except BrokerUnavailableError:
            if time.monotonic() + interval_s >= deadline:
                raise
        await asyncio.sleep(interval_s)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """What one topic must look like. ``replication_factor`` is explicit: 1 fits only a
    development broker, production clusters use 3."""

    topic: Topic
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] | None = None
    fixed_partitions: bool = False
    """The partition count may never change (the audit topic: one partition, one order)."""

    def __post_init__(self) -> None:
        if not 1 <= self.partitions <= 10_000:
            raise ValueError(f"{self.topic}: partitions must be in 1..10000")
        if not 1 <= self.replication_factor <= 32:
            raise ValueError(f"{self.topic}: replication factor must be in 1..32")


class TopicChange(StrEnum):
    """What ``ensure_topics`` did to one topic."""

    CREATED = "created"
    GROWN = "grown"
    UNCHANGED = "unchanged"


async def ensure_topics(
    settings: KafkaSettings, specs: Sequence[TopicSpec], *, timeout_s: float = 30.0
) -> dict[str, TopicChange]:
    """Make every topic in ``specs`` exist with at least its partitions; idempotent.

    Returns what happened per topic name, once every partition of every topic has a
    leader (so producers can write right away). Raises ``TopicProvisioningError`` for a
    topic with more partitions than its spec or a refused creation.
    """
    by_name: dict[str, TopicSpec] = {spec.topic.name: spec for spec in specs}
    if len(by_name) != len(specs):
        raise ValueError("ensure_topics: a topic is listed twice")
    client = admin_client(settings)
    try:
        async with asyncio.timeout(timeout_s):
            await client.start()
            changes = await _provision(client, by_name)
            await _wait_for_leaders(client, list(by_name))
    except BusError:
        raise
    except KAFKA_FAILURES as exc:
        raise translate_kafka_error(exc, operation="provisioning topics") from exc
    finally:
        await client.close()
    return changes


async def _provision(
    client: AIOKafkaAdminClient, by_name: Mapping[str, TopicSpec]
) -> dict[str, TopicChange]:
    changes: dict[str, TopicChange] = {}
    existing = await _partition_counts(client, list(by_name))
    missing = [name for name in by_name if name not in existing]
    if missing:
        response = await client.create_topics(
            [
                NewTopic(
                    name,
                    by_name[name].partitions,
                    by_name[name].replication_factor,
                    topic_configs=dict(by_name[name].configs or {}),
                )
                for name in missing
            ]
        )
        for error in response.to_object()["topic_errors"]:
            name, code = error["topic"], error["error_code"]
            if code == 0:
                changes[name] = TopicChange.CREATED
            elif code != _TOPIC_ALREADY_EXISTS:  # a concurrent creator won the race: fine
                raise TopicProvisioningError(
                    f"creating {name} failed: {error['error_message'] or f'error {code}'}"
                )
        existing = await _partition_counts(client, list(by_name))
    grow: dict[str, NewPartitions] = {}
    for name, spec in by_name.items():
        if name in changes:
            continue
        count = existing.get(name)
        if count is None:
            raise TopicProvisioningError(f"{name} does not exist after creating it")
        if count > spec.partitions:
            raise TopicProvisioningError(
                f"{name} has {count} partitions and its spec says {spec.partitions}: "
                "partitions cannot shrink; fix the spec or recreate the topic"
            )
        if count < spec.partitions:
            grow[name] = NewPartitions(spec.partitions)
            changes[name] = TopicChange.GROWN
        else:
            changes[name] = TopicChange.UNCHANGED
    if grow:
        await client.create_partitions(grow)
    return changes


async def _partition_counts(client: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for topic in await client.describe_topics(names):
        if topic["error_code"] == _UNKNOWN_TOPIC:
            continue
        if topic["error_code"] != 0:
            raise TopicProvisioningError(
                f"describing {topic['topic']} failed with error {topic['error_code']}"
            )
        counts[topic["topic"]] = len(topic["partitions"])
    return counts


async def _wait_for_leaders(client: AIOKafkaAdminClient, names: list[str]) -> None:
    # The controller answers CreateTopics before every broker serves the new partitions.
    while True:
        if _all_led(await client.describe_topics(names)):
            return
        await asyncio.sleep(0.05)


def _all_led(described: list[dict[str, Any]]) -> bool:
    return all(
        topic["error_code"] == 0
        and topic["partitions"]
        and all(p["error_code"] == 0 and p["leader"] >= 0 for p in topic["partitions"])
        for topic in described
    )
