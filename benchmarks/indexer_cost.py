"""The audit indexer's append throughput: events per second from the topic into the index.

A fresh audit topic (unique to the run) is filled with ``events`` real ``AuditEvent``
records (encoded by the trail's codec, produced in bulk), then an ``AuditIndexer`` over a
fresh ``AuditIndex`` (a SQLite file, or the run's PostgreSQL database) is started and
timed until it has appended every one: the
catch-up rate, with rows, Merkle nodes and offsets written in the indexer's own
transactions, as after a gateway restart or a backlog.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from benchmarks.errors import BenchError
from bus import KafkaSettings, kafka_client_security
from bus.audit import (
    AuditEventCodec,
    AuditEventType,
    AuditIndex,
    AuditIndexer,
    AuditRecord,
    CheckpointPolicy,
    EventRow,
)

__all__ = ["IndexerFigures", "indexer_throughput"]

_DEADLINE_S: Final = 300.0


@dataclass(frozen=True, slots=True)
class IndexerFigures:
    events: int
    events_per_s: float


def _event(i: int) -> EventRow:
    record = AuditRecord(
        type=AuditEventType.COMPLETED,
        time=datetime.now(UTC),
        actor="bench.gateway",
        exchange_id=str(uuid.uuid4()),
        requester="bench.townhall",
        provider="es.ine.padron",
        service="register.residence-certificate",
        version="1.1",
        purpose="social-benefits",
        subject_ref=f"bench-subject-{i % 256:03d}",
        request_digest="0" * 64,
        response_digest="1" * 64,
        outcome="OK",
        latency_ms=12,
    )
    return EventRow.from_record(record, str(uuid.uuid4()))


async def _fill(kafka: KafkaSettings, topic: str, events: int) -> None:
    codec = AuditEventCodec()
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        **kafka_client_security(kafka),
    )
    await producer.start()
    try:
        pending = [await producer.send(topic, codec.encode(_event(i))) for i in range(events)]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def indexer_throughput(
    kafka: KafkaSettings,
    index_url: Callable[[str], str],
    events: int,
    *,
    replication_factor: int = 1,
) -> IndexerFigures:
    """Fill a fresh audit topic with ``events`` events; time the indexer's catch-up into
    the index at ``index_url(topic)``. ``kafka`` may create topics (the run's admin)."""
    topic = f"bench.audit.{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap_servers, **kafka_client_security(kafka)
    )
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=1, replication_factor=replication_factor)]
        )
    finally:
        await admin.close()
    await _fill(kafka, topic, events)
    index = AuditIndex(index_url(topic))
    await index.open()
    indexer = AuditIndexer(
        kafka,
        index,
        topic=topic,
        group_id=topic,
        checkpoints=CheckpointPolicy(origin="bench.local/audit", signer=None),
    )
    try:
        start = time.perf_counter()
        await indexer.start()
        deadline = start + _DEADLINE_S
        # Polled, not slept on: the figure is the time until the last event is appended.
        while indexer.stats.appended < events:
            if time.perf_counter() > deadline:
                raise BenchError(
                    f"the audit indexer appended {indexer.stats.appended} of {events} events "
                    f"in {_DEADLINE_S:.0f} s"
                )
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - start
    finally:
        await indexer.stop()
        await index.close()
    return IndexerFigures(events, events / elapsed)
