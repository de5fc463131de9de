"""Is the cluster degraded? Replication of the bus's topics, for readiness and metrics.

On a replicated cluster (``deploy/topics.cluster.yaml``: three replicas, min.insync.replicas
2) a lost broker leaves partitions *under-replicated*: fewer in-sync replicas than replicas.
Writes still succeed (acks=all waits for the in-sync ones) and nothing is lost, but one more
lost broker would stop them: the cluster is *degraded*, which operators must see, and a
process stays ready. With *fewer in-sync replicas than min.insync.replicas* (or no leader)
the broker refuses writes to that partition (``NotEnoughReplicas``): a process that writes
there cannot do its work, so readiness refuses.

A replica counts as in sync, and a leader as leading, only while its broker *answers*:
with combined controller+broker nodes, losing two of three also loses the controller
quorum, and the surviving broker's metadata then names the dead ones as leaders and
in-sync replicas for ever (nobody is left to shrink an ISR). So every broker the metadata
lists is asked to connect first, and the metadata and configs are asked of one that did.

``ReplicationHealth`` asks the cluster at most every ``ttl_s`` and caches the answer, so a
probe loop cannot load the broker; it updates three gauges on every refresh. A change of
state is logged once. ``status()`` waits for a refresh when the answer is stale (readiness);
``latest()`` never waits (a request path: the gateway refuses an exchange at once when the
partitions it needs refuse writes) and refreshes in the background. ``refuses(topic, key)``
says whether the partition a key goes to (the producer's default partitioner) refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import structlog
from aiokafka.admin.config_resource import ConfigResourceType
from aiokafka.client import AIOKafkaClient
from aiokafka.partitioner import murmur2
from aiokafka.protocol.admin import DescribeConfigsRequest
from aiokafka.protocol.metadata import MetadataRequest
from prometheus_client import CollectorRegistry, Gauge

from bus.kafka_errors import KAFKA_FAILURES
from bus.kafka_security import kafka_client_security
from bus.log_throttle import quiet_client_errors
from bus.settings import KafkaSettings

__all__ = ["BUS_TOPIC_PREFIX", "ReplicationHealth", "ReplicationState", "ReplicationStatus"]

BUS_TOPIC_PREFIX: Final = "interop."
_TTL_S: Final = 5.0
_TIMEOUT_S: Final = 2.5
_CONNECT_TIMEOUT_S: Final = 1.0
"""How long a broker may take to accept a connection before it counts as not answering."""
_DEFAULT_MIN_ISR: Final = 1
_MIN_ISR: Final = "min.insync.replicas"
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
    refusing: frozenset[tuple[str, int]] = frozenset()
    """(topic, partition) of each partition that refuses writes (not served: a gate's input)."""
    partition_counts: Mapping[str, int] = field(default_factory=dict)
    """Partitions per topic, to place a key as the producer's default partitioner does."""

    def refuses(self, topic: str, key: bytes | None = None) -> bool:
        """Whether a write to ``topic`` is refused right now: to the partition ``key``
        goes to (murmur2, as the producer's default partitioner), or without a key to any
        of its partitions. False while the state is unknown (the broker check tells)."""
        count = self.partition_counts.get(topic, 0)
        if self.state is not ReplicationState.REFUSING or count == 0:
            return False
        if key is None:
            return any(name == topic for name, _ in self.refusing)
        return (topic, (murmur2(key) & 0x7FFFFFFF) % count) in self.refusing

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
        self._refresh: asyncio.Task[ReplicationStatus] | None = None
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

    def latest(self) -> ReplicationStatus:
        """The last answer at once, never waiting for the cluster; when it is older than
        ``ttl_s`` a refresh starts in the background (one at a time)."""
        stale = time.monotonic() - self._checked_at >= self._ttl_s
        if stale and (self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.get_running_loop().create_task(
                self.status(), name="replication-health-refresh"
            )
        return self._status

    async def close(self) -> None:
        """Cancel a background refresh still running (safe to call twice)."""
        refresh, self._refresh = self._refresh, None
        if refresh is not None and not refresh.done():
            refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresh

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
        client = AIOKafkaClient(
            bootstrap_servers=self._settings.bootstrap_servers,
            client_id="interop-replication-health",
            request_timeout_ms=max(1000, int(self._timeout_s * 1000)),
            **kafka_client_security(self._settings),
        )
        try:
            with quiet_client_errors():  # a dead broker is what this is here to see
                await client.bootstrap()
                live = await _answering(client)
            if not live:
                return ReplicationStatus(ReplicationState.UNKNOWN)
            node = min(live)
            metadata = (await client.send(node, MetadataRequest(None))).to_object()
            described = [
                t for t in metadata["topics"] if str(t["topic"]).startswith(BUS_TOPIC_PREFIX)
            ]
            if not described:
                return ReplicationStatus(ReplicationState.HEALTHY)
            min_isr = await _min_insync_replicas(client, node, [t["topic"] for t in described])
        finally:
            await client.close()
        return summarise(described, min_isr, live=live)


def summarise(
    described: list[dict[str, Any]], min_isr: dict[str, int], *, live: set[int] | None = None
) -> ReplicationStatus:
    """Count the partitions of ``described`` (a metadata answer's topics) by state; with
    ``live``, a replica or leader on a broker outside it does not count (it does not answer)."""
    partitions = under = below = offline = 0
    refusing: set[tuple[str, int]] = set()
    counts: dict[str, int] = {}
    for topic in described:
        if topic["error_code"] != 0:
            continue
        name = str(topic["topic"])
        minimum = min_isr.get(name, _DEFAULT_MIN_ISR)
        counts[name] = len(topic["partitions"])
        for partition in topic["partitions"]:
            partitions += 1
            isr = [n for n in partition["isr"] if live is None or n in live]
            leader = partition["leader"]
            if leader < 0 or (live is not None and leader not in live):
                offline += 1
                refusing.add((name, partition["partition"]))
            elif len(isr) < minimum:
                below += 1
                refusing.add((name, partition["partition"]))
            if len(isr) < len(partition["replicas"]):
                under += 1
    if below or offline:
        state = ReplicationState.REFUSING
    elif under:
        state = ReplicationState.DEGRADED
    else:
        state = ReplicationState.HEALTHY
    return ReplicationStatus(state, partitions, under, below, offline, frozenset(refusing), counts)


async def _answering(client: AIOKafkaClient) -> set[int]:
    """The brokers the cluster's metadata lists that accept a connection now."""

    async def answers(node: int) -> bool:
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT_S):
                return await client.ready(node)
        except _ASK_FAILURES:
            return False

    nodes = sorted(broker.nodeId for broker in client.cluster.brokers())
    found = await asyncio.gather(*(answers(node) for node in nodes))
    return {node for node, ok in zip(nodes, found, strict=True) if ok}


async def _min_insync_replicas(
    client: AIOKafkaClient, node: int, names: list[str]
) -> dict[str, int]:
    request = DescribeConfigsRequest(
        [(ConfigResourceType.TOPIC, name, [_MIN_ISR]) for name in names]
    )
    response = (await client.send(node, request)).to_object()
    found: dict[str, int] = {}
    for resource in response["resources"]:
        if resource["error_code"]:
            continue
        for entry in resource["config_entries"]:
            if entry["config_names"] == _MIN_ISR and entry["config_value"]:
                found[resource["resource_name"]] = int(entry["config_value"])
    return found
