"""Is the cluster degraded? Replication of the bus's topics, for readiness and metrics.

On a replicated cluster (``deploy/topics.cluster.yaml``: three replicas, min.insync.replicas
2) a lost broker leaves partitions *under-replicated*: fewer in-sync replicas than replicas.
Writes still succeed (acks=all waits for the in-sync ones) and nothing is lost, but one more
lost broker would stop them: the cluster is *degraded*, which operators must see, and a
process stays ready. With *fewer in-sync replicas than min.insync.replicas* (or no leader)
the broker refuses writes to that partition (``NotEnoughReplicas``): a process that writes
there cannot do its work, so readiness refuses.

``ReplicationHealth`` asks the cluster (one metadata and one config request for the
``interop.`` topics) at most every ``ttl_s`` and caches the answer, so a probe loop cannot
load the broker; it updates three gauges on every refresh. A change of state is logged once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from prometheus_client import CollectorRegistry, Gauge

from bus.admin import admin_client
from bus.kafka_errors import KAFKA_FAILURES
from bus.settings import KafkaSettings

__all__ = ["BUS_TOPIC_PREFIX", "ReplicationHealth", "ReplicationState", "ReplicationStatus"]

BUS_TOPIC_PREFIX: Final = "interop."
_TTL_S: Final = 5.0
_TIMEOUT_S: Final = 2.5
_DEFAULT_MIN_ISR: Final = 1
_log = structlog.get_logger(__name__)
_ASK_FAILURES: Final[tuple[type[Exception], ...]] = (*KAFKA_FAILURES, OSError, TimeoutError)


class ReplicationState(StrEnum):
    """How the bus's partitions are replicated right now."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    """Some partitions lack a replica, every one still accepts writes."""
    REFUSING = "refusing"
    """Some partitions refuse writes: in-sync replicas below the minimum, or no leader."""
    UNKNOWN = "unknown"
    """The cluster did not answer (``BrokerHealth`` / the broker check says why)."""


@dataclass(frozen=True, slots=True)
class ReplicationStatus:
    """Counts over the partitions of the bus's topics (no topic names: it is served)."""

    state: ReplicationState
    partitions: int = 0
    under_replicated: int = 0
    below_min_isr: int = 0
    offline: int = 0

    def detail(self) -> str:
        """A one-line summary for ``/readyz``."""
        if self.state is ReplicationState.UNKNOWN:
            return "unknown (cluster did not answer)"
        if self.state is ReplicationState.HEALTHY:
            return f"healthy ({self.partitions} partitions fully replicated)"
        return (
            f"{self.state.value}: {self.under_replicated} of {self.partitions} partitions "
            f"under-replicated, {self.below_min_isr} below min.insync.replicas, "
            f"{self.offline} without a leader"
        )


class ReplicationHealth:
    """Cached replication state of the ``interop.`` topics of the cluster ``settings`` name."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        registry: CollectorRegistry | None = None,
        ttl_s: float = _TTL_S,
        timeout_s: float = _TIMEOUT_S,
    ) -> None:
        self._settings = settings
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._checked_at = float("-inf")
        self._status = ReplicationStatus(ReplicationState.UNKNOWN)
        self._lock = asyncio.Lock()
        self._under_replicated = Gauge(
            "interop_kafka_under_replicated_partitions",
            "Partitions of the bus's topics with fewer in-sync replicas than replicas",
            registry=registry,
        )
        self._below_min_isr = Gauge(
            "interop_kafka_below_min_isr_partitions",
            "Partitions of the bus's topics that refuse writes "
            "(in-sync replicas below min.insync.replicas, or no leader)",
            registry=registry,
        )
        self._degraded = Gauge(
            "interop_kafka_cluster_degraded",
            "1 while any partition of the bus's topics is under-replicated or refuses writes",
            registry=registry,
        )

    async def status(self) -> ReplicationStatus:
        """The replication state, asked of the cluster at most ``ttl_s`` ago."""
        async with self._lock:
            if time.monotonic() - self._checked_at < self._ttl_s:
                return self._status
            try:
                async with asyncio.timeout(self._timeout_s):
                    status = await self._ask()
            except _ASK_FAILURES:
                status = ReplicationStatus(ReplicationState.UNKNOWN)
            if status.state is not self._status.state:
                _log.info(
                    "kafka_replication_changed",
                    state=status.state.value,
                    was=self._status.state.value,
                    under_replicated=status.under_replicated,
                    below_min_isr=status.below_min_isr,
                )
            self._status, self._checked_at = status, time.monotonic()
            if status.state is not ReplicationState.UNKNOWN:
                self._under_replicated.set(status.under_replicated)
                self._below_min_isr.set(status.below_min_isr + status.offline)
                self._degraded.set(0 if status.state is ReplicationState.HEALTHY else 1)
            return status

    async def _ask(self) -> ReplicationStatus:
        client = admin_client(
            self._settings.model_copy(
                update={"request_timeout_ms": max(1000, int(self._timeout_s * 1000))}
            ),
            client_id="interop-replication-health",
        )
        try:
            await client.start()
            names = [t for t in await client.list_topics() if t.startswith(BUS_TOPIC_PREFIX)]
            if not names:
                return ReplicationStatus(ReplicationState.HEALTHY)
            described = await client.describe_topics(names)
            min_isr = await _min_insync_replicas(client, names)
        finally:
            await client.close()
        return summarise(described, min_isr)


def summarise(described: list[dict[str, Any]], min_isr: dict[str, int]) -> ReplicationStatus:
    """Count the partitions of ``described`` (aiokafka's describe_topics answer) by state."""
    partitions = under = below = offline = 0
    for topic in described:
        if topic["error_code"] != 0:
            continue
        minimum = min_isr.get(topic["topic"], _DEFAULT_MIN_ISR)
        for partition in topic["partitions"]:
            partitions += 1
            isr = len(partition["isr"])
            if partition["leader"] < 0:
                offline += 1
            elif isr < minimum:
                below += 1
            if isr < len(partition["replicas"]):
                under += 1
    if below or offline:
        state = ReplicationState.REFUSING
    elif under:
        state = ReplicationState.DEGRADED
    else:
        state = ReplicationState.HEALTHY
    return ReplicationStatus(state, partitions, under, below, offline)


async def _min_insync_replicas(client: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    responses = await client.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    )
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                continue
            for entry in resource["config_entries"]:
                if entry["config_names"] == "min.insync.replicas" and entry["config_value"]:
                    found[resource["resource_name"]] = int(entry["config_value"])
    return found
