"""Shared pieces of the audit integration tests: a unique single-partition audit topic,
a checkpoint signer, an indexer over a real database, and waiting on its progress."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bus import KafkaSettings
from bus.audit.index import AuditIndex
from bus.audit.indexer import AuditIndexer
from bus.audit.note_keys import NoteSigner
from bus.audit.trail import AuditEventType, AuditRecord

__all__ = [
    "ORIGIN",
    "SIGNER",
    "create_audit_topic",
    "running_indexer",
    "sample_record",
    "wait_for_size",
]

ORIGIN = "audit.test.example/log"
SIGNER = NoteSigner.generate(ORIGIN)


async def create_audit_topic(kafka: KafkaSettings, name: str) -> str:
    """A fresh one-partition topic (the audit topic's shape) named ``name``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    return name


def sample_record(i: int, **overrides: object) -> AuditRecord:
    """A REQUESTED record for exchange number ``i``."""
    values: dict[str, object] = {
        "type": AuditEventType.REQUESTED,
        "time": datetime(2026, 5, 9, 10, 0, i % 60, i, tzinfo=UTC),
        "actor": "interop.gateway",
        "exchange_id": f"0196b000-0000-7000-8000-{i:012d}",
        "requester": "es.town" if i % 2 else "es.city",
        "official": f"official-{i % 3}",
        "provider": "es.ine.padron",
        "service": "register.residence-certificate",
        "version": "1.1",
        "purpose": "social-benefits",
        "subject_ref": f"pseudonym-{i % 5}",
        "request_digest": "hmac-sha256:" + f"{i:064x}",
        "outcome": "ALLOWED",
    }
    values.update(overrides)
    return AuditRecord(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def running_indexer(
    kafka: KafkaSettings,
    index: AuditIndex,
    topic: str,
    group: str,
    *,
    checkpoint_every: int = 50,
    checkpoint_interval_s: float = 0.2,
) -> AsyncIterator[AuditIndexer]:
    """An indexer on ``topic`` into ``index`` (opened), started and stopped around the block."""
    await index.open()
    indexer = AuditIndexer(
        kafka,
        index,
        topic=topic,
        group_id=group,
        origin=ORIGIN,
        signer=SIGNER,
        checkpoint_every=checkpoint_every,
        checkpoint_interval_s=checkpoint_interval_s,
        batch_size=100,
    )
    await indexer.start()
    try:
        await indexer.wait_assigned(timeout_s=30)
        yield indexer
    finally:
        await indexer.stop()


async def wait_for_size(index: AuditIndex, size: int, *, timeout_s: float = 30) -> None:
    """Wait until the index holds ``size`` leaves and a checkpoint of that size."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = await index.state()
        latest = await index.latest_checkpoint()
        if state.tree_size >= size and latest is not None and latest.tree_size >= size:
            assert state.tree_size == size, f"the index holds {state.tree_size} > {size} leaves"
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"index at {state.tree_size} leaves, checkpoint {latest and latest.tree_size};"
                f" wanted {size} after {timeout_s}s"
            )
        await asyncio.sleep(0.05)
