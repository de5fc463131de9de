"""The Kafka audit trail and the indexer against the real broker and real databases.

Events written with ``KafkaAuditTrail`` come out of the index in topic order, with the
Merkle root over their leaf entries, a signed checkpoint, and proofs that verify; a
rebuild from the topic into a fresh database gives the same rows and the same root; an
indexer restarted over its database appends nothing twice; SQLite and PostgreSQL agree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bus import BusProducer
from bus.audit import open_checkpoint
from bus.audit.errors import AuditWriteError
from bus.audit.event import leaf_entry
from bus.audit.index import AuditIndex, EventFilter
from bus.audit.kafka_trail import KafkaAuditTrail
from bus.audit.merkle import leaf_hash, root, verify_consistency, verify_inclusion
from tests.integration.audit.support import (
    ORIGIN,
    SIGNER,
    create_audit_topic,
    running_indexer,
    sample_record,
    wait_for_size,
)
from tests.integration.bus.kafka_helpers import settings_for


async def _write(kafka_bootstrap: str, topic: str, count: int, start: int = 0) -> None:
    kafka = settings_for(kafka_bootstrap)
    async with BusProducer(kafka) as producer:
        trail = KafkaAuditTrail(producer, topic=topic)
        for i in range(start, start + count):
            await trail.record(sample_record(i))


async def _rows(index: AuditIndex) -> list[dict[str, object]]:
    events = await index.events(EventFilter(), limit=100_000)
    return [{"seq": e.leaf_index, **e.row.to_json()} for e in events]


async def test_sqlite_index_rebuilds_identically_and_proofs_verify(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    """SQLite: index, restart, rebuild into a fresh file: same rows, same root."""
    await _index_restart_rebuild(
        kafka_bootstrap,
        unique_name,
        f"sqlite:///{tmp_path / 'first.db'}",
        f"sqlite:///{tmp_path / 'second.db'}",
    )


async def test_postgres_index_rebuilds_identically_into_sqlite(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path, postgres_dsn: str
) -> None:
    """PostgreSQL: index and restart; a rebuild into SQLite gives the same rows and root."""
    await _index_restart_rebuild(
        kafka_bootstrap, unique_name, postgres_dsn, f"sqlite:///{tmp_path / 'rebuilt.db'}"
    )


async def _index_restart_rebuild(
    kafka_bootstrap: str, unique_name: Callable[[str], str], first_url: str, second_url: str
) -> None:
    """Index 120 events, restart for 30 more, rebuild elsewhere; proofs hold throughout."""
    kafka = settings_for(kafka_bootstrap)
    topic = await create_audit_topic(kafka, unique_name("audit"))
    await _write(kafka_bootstrap, topic, 120)
    first = AuditIndex(first_url)
    try:
        async with running_indexer(kafka, first, topic, unique_name("g1")):
            await wait_for_size(first, 120)
        rows = await _rows(first)
        leaves = [
            leaf_hash(leaf_entry(e.row)) for e in await first.events(EventFilter(), limit=1000)
        ]
        assert [r["seq"] for r in rows] == list(range(120))
        assert await first.root(120) == root(leaves)
        latest = await first.latest_checkpoint()
        assert latest is not None
        checkpoint = open_checkpoint(latest.note, SIGNER.verifier, origin=ORIGIN)
        assert (checkpoint.size, checkpoint.root_hash) == (120, root(leaves))
        for index in (0, 1, 63, 64, 119):
            proof = await first.inclusion_proof(index, 120)
            assert verify_inclusion(leaves[index], index, 120, proof, root(leaves))
        proof = await first.consistency_proof(37, 120)
        assert verify_consistency(37, 120, root(leaves[:37]), root(leaves), proof)

        # Restarted over the same database: 30 more events, nothing appended twice.
        await _write(kafka_bootstrap, topic, 30, start=120)
        async with running_indexer(kafka, first, topic, unique_name("g1")):
            await wait_for_size(first, 150)
        assert [r["seq"] for r in await _rows(first)] == list(range(150))
        root_150 = await first.root(150)
        rows = await _rows(first)
    finally:
        await first.close()

    second = AuditIndex(second_url)
    try:
        async with running_indexer(kafka, second, topic, unique_name("g2")):
            await wait_for_size(second, 150)
        assert await _rows(second) == rows
        assert await second.root(150) == root_150
    finally:
        await second.close()


async def test_a_write_to_a_missing_topic_raises_audit_write_error(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    """No acknowledgement (the topic does not exist) is an AuditWriteError within the bound."""
    kafka = settings_for(kafka_bootstrap)
    async with BusProducer(kafka) as producer:
        trail = KafkaAuditTrail(producer, topic=unique_name("missing"), timeout_s=1.0)
        with pytest.raises(AuditWriteError, match="REQUESTED"):
            await trail.record(sample_record(1))
