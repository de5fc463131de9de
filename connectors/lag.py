"""Consumer lag per request partition: end offset minus the group's committed offset.

Sampled from outside the group (an admin client for the committed offsets, a group-less
consumer for the end offsets), so measuring never joins or rebalances the group. A
failed sample is logged and skipped: lag is an observation, not a reason to stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bus import KAFKA_FAILURES, KafkaSettings, PeriodicTask, admin_client, kafka_client_security
from connectors.metrics import ConnectorMetrics

__all__ = ["LagMonitor", "LagTarget"]

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LagTarget:
    """One service's request topic and the group consuming it."""

    label: str
    topic: str
    group_id: str


class LagMonitor:
    """Every ``interval_s``, sets ``interop_connector_consumer_lag`` for every target."""

    def __init__(
        self,
        settings: KafkaSettings,
        targets: Sequence[LagTarget],
        metrics: ConnectorMetrics,
        *,
        interval_s: float = 5.0,
    ) -> None:
        self._settings = settings
        self._targets = list(targets)
        self._metrics = metrics
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._loop = PeriodicTask(
            "connector-lag",
            self.sample,
            interval_s=interval_s,
            failure_event="lag_sample_failed",
            failures=KAFKA_FAILURES,
        )

    def start(self) -> None:
        """Sample every ``interval_s`` in the background until ``stop``."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop sampling (safe to call twice)."""
        await self._loop.stop()
        await self._close_clients()

    async def sample(self) -> dict[tuple[str, int], int]:
        """One measurement: (service label, partition) -> lag.

        The two clients are made at the first sample and kept: a fresh pair every few
        seconds meant a bootstrap, a login and a full metadata fetch each time (5% of a
        loaded connector's CPU). A failed sample closes them; the next one starts afresh.
        """
        lags: dict[tuple[str, int], int] = {}
        try:
            admin, consumer = await self._clients()
            # Metadata of our topics only (a partition added since the last sample
            # counts at once; a full-cluster fetch would cost more on a busy cluster).
            described = await admin.describe_topics(sorted({t.topic for t in self._targets}))
            partitions = {
                d["topic"]: sorted(p["partition"] for p in d["partitions"])
                for d in described
                if not d.get("error_code")
            }
            for target in self._targets:
                tps = [TopicPartition(target.topic, p) for p in partitions.get(target.topic, [])]
                ends = await consumer.end_offsets(tps)
                committed = await admin.list_consumer_group_offsets(target.group_id)
                for tp in tps:
                    done = committed.get(tp)
                    start = done.offset if done is not None and done.offset >= 0 else 0
                    lag = max(0, ends.get(tp, 0) - start)
                    lags[(target.label, tp.partition)] = lag
                    self._metrics.consumer_lag.labels(target.label, str(tp.partition)).set(lag)
        except BaseException:
            await self._close_clients()
            raise
        return lags

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is not None and self._consumer is not None:
            return self._admin, self._consumer
        admin = admin_client(self._settings, client_id=f"{self._settings.client_id}-lag")
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.bootstrap_servers,
            client_id=f"{self._settings.client_id}-lag",
            enable_auto_commit=False,
            request_timeout_ms=self._settings.request_timeout_ms,
            **kafka_client_security(self._settings),
        )
        # Kept before starting: a start that fails while the broker is down must still
        # close both (an unclosed consumer leaks connections and tasks).
        self._admin, self._consumer = admin, consumer
        await admin.start()
        await consumer.start()
        return admin, consumer

    async def _close_clients(self) -> None:
        admin, consumer = self._admin, self._consumer
        self._admin = self._consumer = None
        if consumer is not None:
            await consumer.stop()
        if admin is not None:
            await admin.close()
