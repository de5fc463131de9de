"""The audit indexer: the audit topic, in order, into the index and the Merkle log.

* One consumer group on the single-partition audit topic: only the member that owns the
  partition reads, so of several gateway replicas sharing a database one appends. Offsets
  live in the index, not in Kafka: on every assignment the indexer seeks to the index's
  next offset, and ``AuditIndex.append`` refuses a batch that does not start there (a
  stale owner after a rebalance, or a second indexer on the same database), so the log
  never forks and a crash never appends an event twice.
* Each event becomes the next leaf: ``leaf_hash(leaf_entry(event))``. The tree lives in
  memory only as its right border (``MerkleTree`` over ``_BatchNodes``); the nodes each
  batch completes are written with the batch's rows and offset in one transaction.
* A record that is not an ``AuditEvent``, or repeats an event id already in the log (a
  writer's retry), is skipped and counted, never indexed: deterministic, so a rebuild from
  the topic gives the same rows and the same root.
* Signed events: with the members' keys, each event must be signed by its actor, who
  may write its type (``bus.audit.event_signing``); one that is not is quarantined
  (``bus.audit.quarantine``: its own topic and table), never a leaf. The signature and
  key id of every leaf are stored with it and served with the event.
* Digests: the provider's RESPONDED and the gateway's REQUESTED/COMPLETED digests of one
  exchange must agree (``bus.audit.digest_agreement``); a difference is logged
  (``audit_digests_disagree``) and counted as the second side lands.
* Checkpoints: after ``checkpoint_every`` new leaves, or every ``checkpoint_interval_s``
  when the log grew, the indexer signs a C2SP checkpoint and stores it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.structs import ConsumerRecord

from bus.audit.checkpoint import sign_checkpoint
from bus.audit.digest_agreement import DigestAgreement
from bus.audit.errors import AuditError
from bus.audit.event import (
    AuditEventCodec,
    EventRow,
    MalformedAuditEventError,
    format_time,
    leaf_entry,
)
from bus.audit.event_signing import EventSignature, is_step_after_the_request
from bus.audit.index.proofs import NodeKey
from bus.audit.index.store import (
    AuditIndex,
    IndexConflictError,
    IndexState,
    QuarantinedEvent,
    StoredCheckpoint,
)
from bus.audit.merkle import leaf_hash
from bus.audit.merkle_store import MerkleTree, Node
from bus.audit.note_keys import NoteSigner
from bus.audit.quarantine import EventGate
from bus.errors import ClientStateError
from bus.kafka_errors import KAFKA_FAILURES, translate_kafka_error
from bus.kafka_security import kafka_client_security
from bus.member_keys import MemberKeys
from bus.producer import BusProducer
from bus.records import InboundRecord
from bus.settings import KafkaSettings

__all__ = ["AuditIndexer", "CheckpointPolicy", "IndexerStats"]

_log = structlog.get_logger(__name__)
_FETCH_TIMEOUT_MS: Final = 200
# Let the broker gather events for a while before answering a fetch: under a steady trickle
# (a few events per exchange) each fetch would otherwise carry one or two events, and each
# costs a database transaction. Catching up on a backlog is not slowed: a fetch with at
# least _FETCH_MIN_BYTES waiting returns at once. Indexing lags by at most the wait.
_FETCH_MAX_WAIT_MS: Final = 250
_FETCH_MIN_BYTES: Final = 256 * 1024
_RETRY_S: Final = 1.0
_DIGEST_WATCH: Final = 10_000  # exchanges whose digests the indexer keeps to compare


class _BatchNodes:
    """A ``NodeStore`` holding the tree's border (read at open) and a batch's new nodes."""

    def __init__(self, border: dict[NodeKey, bytes]) -> None:
        self._known = dict(border)
        self.pending: list[Node] = []

    def get(self, level: int, index: int) -> bytes | None:
        return self._known.get((level, index))

    def put(self, nodes: Sequence[Node]) -> None:
        self.pending.extend(nodes)
        self._known.update(((n.level, n.index), n.hash) for n in nodes)


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """Which log the checkpoints name (``origin``), who signs them (None: no checkpoints),
    and how often: every ``every`` events, or every ``interval_s`` when the log grew."""

    origin: str
    signer: NoteSigner | None
    every: int = 1000
    interval_s: float = 10.0


@dataclass(slots=True)
class IndexerStats:
    """Counters for tests and metrics."""

    appended: int = 0
    skipped: int = 0
    conflicts: int = 0
    checkpoints: int = 0
    batches: int = 0
    quarantined: int = 0
    digest_disagreements: int = 0


class AuditIndexer:
    """Consumes the audit topic into ``index``; signs checkpoints with ``signer``."""

    def __init__(
        self,
        kafka: KafkaSettings,
        index: AuditIndex,
        *,
        topic: str,
        group_id: str,
        checkpoints: CheckpointPolicy,
        codec: AuditEventCodec | None = None,
        batch_size: int = 500,
        member_keys: MemberKeys | None = None,
        providers_of: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        # A producer only to write quarantined records to their topic.
        self._quarantine_producer = BusProducer(kafka) if member_keys is not None else None
        self._gate = EventGate(
            member_keys,
            producer=self._quarantine_producer,
            audit_topic=topic,
            providers_of=providers_of,
        )
        # The gateway's check that providers' RESPONDED digests match its own, as they land.
        self._digests = DigestAgreement(max_exchanges=_DIGEST_WATCH)
        self._kafka = kafka
        self._index = index
        self._topic = topic
        self._group_id = group_id
        self._origin = checkpoints.origin
        self._signer = checkpoints.signer
        self._codec = codec or AuditEventCodec()
        self._checkpoint_every = checkpoints.every
        self._checkpoint_interval_s = checkpoints.interval_s
        self._batch_size = batch_size
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._state: IndexState | None = None
        self._tree: MerkleTree | None = None
        self._nodes: _BatchNodes | None = None
        self._last_checkpoint_size = -1
        self._last_checkpoint_at = 0.0
        self._tp = TopicPartition(topic, 0)
        self.failing: str | None = None
        """The error code of the last round when it failed (the index or the audit topic
        could not be read or written); None once a round went through (readiness)."""
        self._assigned = asyncio.Event()
        self.stats = IndexerStats()

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Join the group and start indexing in the background."""
        if self._consumer is not None:
            raise ClientStateError("the audit indexer is already started")
        self._stopping.clear()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._kafka.bootstrap_servers,
            client_id=self._kafka.client_id,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=_FETCH_MAX_WAIT_MS,
            fetch_min_bytes=_FETCH_MIN_BYTES,
            request_timeout_ms=self._kafka.request_timeout_ms,
            session_timeout_ms=self._kafka.session_timeout_ms,
            heartbeat_interval_ms=self._kafka.heartbeat_interval_ms,
            max_poll_interval_ms=self._kafka.max_poll_interval_ms,
            # TLS/SASL like every other client: on a broker with authentication the
            # indexer logs in as the gateway's own Kafka user.
            **kafka_client_security(self._kafka),
        )
        try:
            if self._quarantine_producer is not None:
                await self._quarantine_producer.start()
            try:
                await consumer.start()
                consumer.subscribe([self._topic], listener=_Listener(self))
            except KAFKA_FAILURES as exc:
                raise translate_kafka_error(exc, operation="starting the audit indexer") from exc
        except BaseException:
            # Also when the quarantine producer found no broker: the consumer built above
            # must be closed, or every attempt of a process waiting for its broker leaks one.
            await consumer.stop()
            if self._quarantine_producer is not None:
                await self._quarantine_producer.stop()
            raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(consumer), name="audit-indexer")
        _log.info("audit_indexer_started", topic=self._topic, group=self._group_id)

    async def stop(self) -> None:
        """Finish the batch in hand, then leave the group; safe to call twice."""
        consumer, self._consumer = self._consumer, None
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout=10)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if consumer is not None:
            await consumer.stop()
        if self._quarantine_producer is not None:
            await self._quarantine_producer.stop()

    async def wait_assigned(self, timeout_s: float) -> None:
        """Wait until this indexer owns the audit partition (tests, readiness)."""
        async with asyncio.timeout(timeout_s):
            await self._assigned.wait()

    # -- the loop --------------------------------------------------------------------
    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopping.is_set():
            try:
                batches = await consumer.getmany(
                    self._tp, timeout_ms=_FETCH_TIMEOUT_MS, max_records=self._batch_size
                )
                records = batches.get(self._tp, [])
                if records and self._state is not None:
                    await self._append(consumer, records)
                await self._maybe_checkpoint(force_interval=True)
                self.failing = None
            except KAFKA_FAILURES as exc:
                error = translate_kafka_error(exc, operation="reading the audit topic")
                _log.warning("audit_fetch_failed", error_code=error.code)
                self.failing = error.code
                await self._pause()
            except IndexConflictError:
                self.stats.conflicts += 1
                _log.warning("audit_index_conflict")
                try:
                    await self._reload_and_seek(consumer)
                except AuditError as exc:
                    # The database is down too: the next round reloads (no tree loaded is
                    # a conflict again). Escaping here ended this loop for good, leaving
                    # the process up and the index frozen (seen with PostgreSQL crashed).
                    _log.warning("audit_index_failed", error_code=exc.code, error=exc.message)
                    self.failing = exc.code
                    await self._pause()
            except AuditError as exc:  # the database blinked: reload and try again
                _log.warning("audit_index_failed", error_code=exc.code, error=exc.message)
                self.failing = exc.code
                await self._pause()
                with contextlib.suppress(AuditError):
                    await self._reload_and_seek(consumer)

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_RETRY_S):
                await self._stopping.wait()

    async def _append(
        self, consumer: AIOKafkaConsumer, records: Sequence[ConsumerRecord[bytes, bytes]]
    ) -> None:
        state, tree, nodes = self._require_tree()
        first = records[0]
        if first.offset != state.next_offset:
            # Fetched under an older position (a rebalance or a conflict): start over there.
            consumer.seek(self._tp, state.next_offset)
            return
        items: list[tuple[int, EventRow]] = []
        entries: list[bytes] = []  # each item's leaf entry: checked and hashed, built once
        skipped = 0
        decoded = self._decode(records)
        ids = [row.event_id for _, row in decoded if row is not None]
        known = await self._index.known_event_ids(ids)
        requested = await self._requested_events(decoded, known)
        seen: set[str] = set()
        signatures: dict[int, EventSignature] = {}
        refused: list[tuple[InboundRecord, QuarantinedEvent]] = []
        for record, row in decoded:
            if row is None or row.event_id in known or row.event_id in seen:
                skipped += 1
                continue
            entry = leaf_entry(row)
            admission = self._gate.admit(record, row, entry, requested=requested)
            if admission.quarantined is not None:
                refused.append((record, admission.quarantined))
                continue
            if requested is not None and row.type == "REQUESTED" and row.exchange_id:
                requested.setdefault(row.exchange_id, row)  # its steps may follow in the batch
            seen.add(row.event_id)
            if admission.signature is not None:
                signatures[record.offset] = admission.signature
            items.append((record.offset, row))
            entries.append(entry)
        await self._gate.publish(refused)
        nodes.pending.clear()
        try:
            for entry in entries:
                tree.append(leaf_hash(entry))
            next_offset = records[-1].offset + 1
            self._state = await self._index.append(
                start_offset=state.next_offset,
                next_offset=next_offset,
                first_leaf=state.tree_size,
                items=items,
                new_nodes=list(nodes.pending),
                skipped=skipped,
                signatures=signatures,
                quarantined=[entry for _, entry in refused],
            )
        except BaseException:
            # The in-memory border is ahead of the database now: rebuild it from there.
            self._tree = None
            raise
        nodes.pending.clear()
        self._watch_digests(items)
        self.stats.batches += 1
        self.stats.appended += len(items)
        self.stats.skipped += skipped
        self.stats.quarantined += len(refused)
        await self._maybe_checkpoint(force_interval=False)

    def _decode(
        self, records: Sequence[ConsumerRecord[bytes, bytes]]
    ) -> list[tuple[InboundRecord, EventRow | None]]:
        """Each record with its event, or None when it holds none (skipped, logged)."""
        decoded: list[tuple[InboundRecord, EventRow | None]] = []
        for consumed in records:
            record = InboundRecord.from_consumer_record(consumed)
            try:
                decoded.append((record, self._codec.decode(record.value)))
            except MalformedAuditEventError as exc:
                _log.warning("audit_record_skipped", offset=record.offset, error_code=exc.code)
                decoded.append((record, None))
        return decoded

    async def _requested_events(
        self, decoded: Sequence[tuple[InboundRecord, EventRow | None]], known: set[str]
    ) -> dict[str, EventRow] | None:
        """The indexed REQUESTED of each exchange a new provider step of the batch names
        (``EventGate.admit`` checks the step against it); None when events are not
        checked. One query per batch, and none for a batch without such steps."""
        if not self._gate.checks:
            return None
        exchanges = {
            row.exchange_id
            for _, row in decoded
            if row is not None
            and is_step_after_the_request(row)
            and row.exchange_id
            and row.event_id not in known
        }
        return await self._index.requested_events(sorted(exchanges))

    def _watch_digests(self, items: Sequence[tuple[int, EventRow]]) -> None:
        for offset, row in items:
            if self._digests.add(row):
                self.stats.digest_disagreements += 1
                _log.warning(
                    "audit_digests_disagree",
                    exchange_id=row.exchange_id,
                    provider=row.provider,
                    offset=offset,
                )

    async def _maybe_checkpoint(self, *, force_interval: bool) -> None:
        state, tree = self._state, self._tree
        if self._signer is None or state is None or tree is None or state.tree_size == 0:
            return
        grown = state.tree_size - max(self._last_checkpoint_size, 0)
        if state.tree_size == self._last_checkpoint_size:
            return
        due_by_count = grown >= self._checkpoint_every
        due_by_time = (
            force_interval
            and time.monotonic() - self._last_checkpoint_at >= self._checkpoint_interval_s
        )
        if not (due_by_count or due_by_time):
            return
        size = state.tree_size
        root_hash = tree.root(size)
        note = sign_checkpoint(self._origin, size, root_hash, self._signer)
        await self._index.save_checkpoint(
            StoredCheckpoint(size, root_hash, note, format_time(datetime.now(UTC)))
        )
        self._last_checkpoint_size = size
        self._last_checkpoint_at = time.monotonic()
        self.stats.checkpoints += 1
        _log.info("audit_checkpoint_signed", tree_size=size)

    # -- state -----------------------------------------------------------------------
    def _require_tree(self) -> tuple[IndexState, MerkleTree, _BatchNodes]:
        if self._state is None or self._tree is None or self._nodes is None:
            raise IndexConflictError("the indexer has no tree loaded")
        return self._state, self._tree, self._nodes

    async def _load(self) -> IndexState:
        state = await self._index.state()
        nodes = _BatchNodes(await self._index.border(state.tree_size))
        self._tree = MerkleTree(nodes, state.tree_size)
        self._nodes = nodes
        self._state = state
        latest = await self._index.latest_checkpoint()
        if latest is not None and latest.tree_size > self._last_checkpoint_size:
            self._last_checkpoint_size = latest.tree_size
        return state

    async def _reload_and_seek(self, consumer: AIOKafkaConsumer) -> None:
        state = await self._load()
        if self._tp in consumer.assignment():
            consumer.seek(self._tp, state.next_offset)

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is None or self._tp not in assigned:
            return
        # The offset is the index's, whatever Kafka may have stored for the group.
        for attempt in range(30):
            try:
                state = await self._load()
                break
            except AuditError as exc:
                _log.warning("audit_index_load_failed", error_code=exc.code, attempt=attempt)
                await asyncio.sleep(_RETRY_S)
        else:
            self._state = None
            return
        consumer.seek(self._tp, state.next_offset)
        self._assigned.set()
        _log.info(
            "audit_partition_assigned", next_offset=state.next_offset, tree_size=state.tree_size
        )

    def _on_revoked(self) -> None:
        # Whoever owns the partition next appends; this member stops until reassigned.
        self._state = None
        self._tree = None
        self._assigned.clear()


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: AuditIndexer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._owner._on_revoked()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._owner._on_assigned(assigned)
