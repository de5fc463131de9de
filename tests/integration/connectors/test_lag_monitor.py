"""The connector's consumer-lag metric against a real broker (``connectors.lag``)."""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry

from bus import TopicSpec, ensure_topics, parse_topic
from connectors.lag import LagMonitor, LagTarget
from connectors.metrics import ConnectorMetrics
from tests.integration.bus.kafka_helpers import settings_for


async def test_lag_is_end_minus_committed_per_partition_and_follows_commits(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    """Five records on partition 0 and two on partition 1, the group committed 3 on
    partition 0 and nothing on 1: lags 2 and 2, also in the gauge. After the group commits
    the rest, the same monitor (its clients kept between samples) reads 0 and 0; once
    stopped it can sample again with fresh clients."""
    topic = f"interop.req.lag.{unique_name('t')}.v1"
    group = unique_name("interop.connector.es.test.lag")
    settings = settings_for(kafka_bootstrap)
    await ensure_topics(
        settings, [TopicSpec(parse_topic(topic), partitions=2, replication_factor=1)]
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for partition, count in ((0, 5), (1, 2)):
            for _ in range(count):
                await producer.send_and_wait(topic, b"x", partition=partition)
    finally:
        await producer.stop()
    committer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    await committer.start()
    p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    metrics = ConnectorMetrics(CollectorRegistry())
    monitor = LagMonitor(settings, [LagTarget("test.lag v1", topic, group)], metrics)
    try:
        committer.assign([p0, p1])
        await committer.commit({p0: OffsetAndMetadata(3, "")})
        assert await monitor.sample() == {("test.lag v1", 0): 2, ("test.lag v1", 1): 2}
        gauge = metrics.registry.get_sample_value(
            "interop_connector_consumer_lag", {"service": "test.lag v1", "partition": "0"}
        )
        assert gauge == 2
        await committer.commit({p0: OffsetAndMetadata(5, ""), p1: OffsetAndMetadata(2, "")})
        assert await monitor.sample() == {("test.lag v1", 0): 0, ("test.lag v1", 1): 0}
        await monitor.stop()
        assert await monitor.sample() == {("test.lag v1", 0): 0, ("test.lag v1", 1): 0}
    finally:
        await monitor.stop()
        await committer.stop()
