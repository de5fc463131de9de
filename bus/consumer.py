"""The consumer wrapper: a consumer group whose offsets only move over finished work.

* Offsets are committed manually, only after a record's handler finished (``Ack``, or a
  ``DeadLetter`` that the broker confirmed), and only over contiguous finished offsets per
  partition (``PartitionOffsets``), so up to ``max_in_flight`` records may be handled at
  once without a crash ever skipping one: delivery is at-least-once.
* A handler that raises, or keeps asking to ``Retry``, has its record dead-lettered with the
  reason; the partition moves on instead of crash-looping.
* ``stop()`` stops fetching, lets in-flight handlers finish (bounded by ``drain_timeout_s``),
  commits, then leaves the group. On a rebalance, revoked partitions are drained and
  committed the same way before another member takes them over.
* A failure no retry can cure (the broker fenced this member's ``group_instance_id``: another
  process uses it) stops fetching and is handed to ``on_fatal``: the owner decides to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from typing import Final

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from bus.dead_letter import DeadLetterPublisher
from bus.errors import BusError, ClientStateError, InstanceFencedError
from bus.kafka_errors import KAFKA_FAILURES, translate_kafka_error
from bus.kafka_security import kafka_client_security
from bus.offset_tracker import PartitionOffsets
from bus.outcomes import Ack, DeadLetter, Outcome, RecordHandler, Retry
from bus.records import InboundRecord
from bus.settings import KafkaSettings
from bus.topics import RequestTopic

__all__ = ["BusConsumer"]

_log = structlog.get_logger(__name__)

_FETCH_TIMEOUT_MS: Final = 200
_COMMIT_INTERVAL_S: Final = 0.1
_MAX_RETRY_DELAY_S: Final = 30.0
_END_OFFSETS_TIMEOUT_S: Final = 2.0
_END_OFFSETS_FAILURES: Final[tuple[type[Exception], ...]] = (*KAFKA_FAILURES, TimeoutError)
_NEVER: Final = 2**63  # no offset reaches it: unknown end offsets make nothing unseen


class BusConsumer:
    """Consumes request topics in a consumer group and hands each record to ``handler``."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        topics: Sequence[RequestTopic],
        group_id: str,
        handler: RecordHandler,
        dead_letters: DeadLetterPublisher,
        max_in_flight: int = 1,
        max_retries: int = 3,
        drain_timeout_s: float = 30.0,
        group_instance_id: str | None = None,
        on_fatal: Callable[[BusError], None] | None = None,
    ) -> None:
        if not topics:
            raise ValueError("a consumer needs at least one topic")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._settings = settings
        self._topics = [topic.name for topic in topics]
        self._group_id = group_id
        self._handler = handler
        self._dead_letters = dead_letters
        self._max_in_flight = max_in_flight
        self._max_retries = max_retries
        self._drain_timeout_s = drain_timeout_s
        self._consumer: AIOKafkaConsumer | None = None
        self._slots = asyncio.Semaphore(max_in_flight)
        self._offsets: dict[TopicPartition, PartitionOffsets] = {}
        self._tasks: dict[asyncio.Task[None], TopicPartition] = {}
        self._assigned: set[TopicPartition] = set()
        # Per assigned partition, its end offset when it was assigned: a record from there
        # on was written after this member took the partition, so no earlier owner can
        # have handled it (InboundRecord.unseen). Missing: every record may have been seen.
        self._fresh_from: dict[TopicPartition, int] = {}
        self._group_instance_id = group_instance_id
        self._on_fatal = on_fatal
        # Bumped on every rebalance callback: the rest of a batch fetched under an older
        # assignment is not dispatched (see _fetch_loop).
        self._generation = 0
        self._has_assignment = asyncio.Event()
        self._stopping = asyncio.Event()
        self._commit_wanted = asyncio.Event()
        self._fetch_task: asyncio.Task[None] | None = None
        self._commit_task: asyncio.Task[None] | None = None
        self._log = _log.bind(group=group_id)

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Join the group and start fetching (returns before partitions are assigned)."""
        if self._consumer is not None:
            raise ClientStateError("the consumer is already started")
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.bootstrap_servers,
            client_id=self._settings.client_id,
            group_id=self._group_id,
            enable_auto_commit=False,
            # A new group must serve requests written before its first start.
            auto_offset_reset="earliest",
            request_timeout_ms=self._settings.request_timeout_ms,
            session_timeout_ms=self._settings.session_timeout_ms,
            heartbeat_interval_ms=self._settings.heartbeat_interval_ms,
            # Static membership (KIP-345) when configured: a member that restarts with the
            # same instance id gets its partitions back at once, without a rebalance and
            # without waiting out the session timeout of its previous incarnation.
            group_instance_id=self._group_instance_id,
            max_poll_interval_ms=self._settings.max_poll_interval_ms,
            **kafka_client_security(self._settings),
        )
        try:
            await consumer.start()
            consumer.subscribe(self._topics, listener=_Listener(self))
        except KAFKA_FAILURES as exc:
            await consumer.stop()
            raise translate_kafka_error(exc, operation="starting the consumer") from exc
        self._consumer = consumer
        self._fetch_task = asyncio.create_task(self._fetch_loop(), name="bus-consumer-fetch")
        self._commit_task = asyncio.create_task(self._commit_loop(), name="bus-consumer-commit")
        for task in (self._fetch_task, self._commit_task):
            task.add_done_callback(self._report_crash)

    def _report_crash(self, task: asyncio.Task[None]) -> None:
        # A loop that dies would silently stop consumption: say so loudly. (stop() still
        # works: it awaits the fetch task and commits what finished.)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self._log.error(
                "consumer_loop_crashed", task=task.get_name(), exception_type=type(error).__name__
            )

    @property
    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions this member holds now (empty before the first assignment)."""
        return frozenset(self._assigned)

    async def wait_assigned(self, timeout_s: float) -> set[TopicPartition]:
        """Wait until the group gave this member at least one partition."""
        async with asyncio.timeout(timeout_s):
            await self._has_assignment.wait()
        return set(self._assigned)

    async def stop(self) -> None:
        """Graceful stop: finish in-flight records, commit them, leave the group."""
        consumer = self._consumer
        if consumer is None:
            return
        self._stopping.set()
        if self._fetch_task is not None:
            with contextlib.suppress(Exception):  # already reported by _report_crash
                await self._fetch_task
        await self._drain(set(self._tasks))
        await self._commit()
        if self._commit_task is not None:
            self._commit_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._commit_task
        self._consumer = None
        await consumer.stop()

    # -- fetching and handling -------------------------------------------------------
    async def _fetch_loop(self) -> None:
        consumer = self._require_started()
        while not self._stopping.is_set():
            try:
                batches = await consumer.getmany(
                    timeout_ms=_FETCH_TIMEOUT_MS, max_records=self._max_in_flight * 4
                )
            except KAFKA_FAILURES as exc:
                error = translate_kafka_error(exc, operation="fetching records")
                if isinstance(error, InstanceFencedError):
                    self._fenced(error)
                    return
                self._log.warning("fetch_failed", error_code=error.code, error=error.message)
                await asyncio.sleep(1.0)
                continue
            # aiokafka builds the batch from the assignment current when getmany returns
            # (no await in between). If a rebalance happens while this loop waits for a
            # slot, the rest of the batch is stale: the new assignment restarts every
            # partition from its committed offset, so those records come again.
            generation = self._generation
            for tp, records in batches.items():
                for record in records:
                    await self._slots.acquire()
                    if self._stopping.is_set() or generation != self._generation:
                        # Not started, so not committed: the (next) owner gets it again.
                        self._slots.release()
                        break
                    unseen = record.offset >= self._fresh_from.get(tp, _NEVER)
                    inbound = InboundRecord.from_consumer_record(record, unseen=unseen)
                    self._dispatch(tp, inbound)

    def _fenced(self, error: InstanceFencedError) -> None:
        # aiokafka keeps the fenced member id and rejoins with it, to be fenced again every
        # second: this member will never consume again, and retrying it would only hide a
        # misconfiguration. What it handled but did not commit goes to the other member.
        self._log.error(
            "consumer_fenced",
            group_instance_id=self._group_instance_id,
            error_code=error.code,
            error=error.message,
        )
        if self._on_fatal is not None:
            self._on_fatal(error)

    def _dispatch(self, tp: TopicPartition, record: InboundRecord) -> None:
        self._offsets.setdefault(tp, PartitionOffsets()).start(record.offset)
        task = asyncio.create_task(self._handle(tp, record))
        self._tasks[task] = tp
        task.add_done_callback(self._handled)

    def _handled(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self._slots.release()

    async def _handle(self, tp: TopicPartition, record: InboundRecord) -> None:
        log = self._log.bind(topic=record.topic, partition=record.partition, offset=record.offset)
        outcome = await self._run_handler(record, log)
        if outcome is None:
            return  # interrupted by stop: left uncommitted, redelivered later
        if isinstance(outcome, DeadLetter) and not await self._dead_letter(record, outcome, log):
            return
        offsets = self._offsets.get(tp)
        if offsets is not None:
            offsets.finish(record.offset)
            self._commit_wanted.set()

    async def _run_handler(
        self, record: InboundRecord, log: structlog.typing.FilteringBoundLogger
    ) -> Ack | DeadLetter | None:
        for attempt in range(self._max_retries + 1):
            try:
                outcome: Outcome = await self._handler(record)
            except Exception as exc:  # any handler failure is dead-lettered, never re-raised
                # The exception text may quote the payload: log and park only its type.
                log.error("handler_raised", exception_type=type(exc).__name__)
                return DeadLetter(f"handler raised {type(exc).__name__}", "BUS_HANDLER_FAILED")
            if not isinstance(outcome, Retry):
                return outcome
            if attempt == self._max_retries:
                return DeadLetter(f"retries exhausted: {outcome.reason}", "BUS_RETRIES_EXHAUSTED")
            # A retry follows a delivery that may have left something behind.
            record = dataclasses.replace(record, unseen=False)
            delay = min(outcome.delay_s * 2**attempt, _MAX_RETRY_DELAY_S)
            log.info("handler_retry", attempt=attempt + 1, delay_s=delay, reason=outcome.reason)
            if await self._stopped_within(delay):
                return None
        return None  # pragma: no cover - the loop always returns

    async def _dead_letter(
        self, record: InboundRecord, outcome: DeadLetter, log: structlog.typing.FilteringBoundLogger
    ) -> bool:
        """Publish the dead letter, retrying until the broker confirms it or we stop."""
        delay = 0.2
        while True:
            try:
                delivery = await self._dead_letters.publish(
                    record, reason=outcome.reason, code=outcome.code
                )
            except BusError as exc:
                log.warning("dead_letter_failed", error_code=exc.code, error=exc.message)
                if await self._stopped_within(delay):
                    return False
                delay = min(delay * 2, _MAX_RETRY_DELAY_S)
                continue
            log.warning(
                "record_dead_lettered",
                reason=outcome.reason,
                error_code=outcome.code,
                dlq_topic=delivery.topic,
                dlq_offset=delivery.offset,
            )
            return True

    async def _stopped_within(self, delay_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay_s):
                await self._stopping.wait()
        return self._stopping.is_set()

    # -- committing ------------------------------------------------------------------
    async def _commit_loop(self) -> None:
        while True:
            await self._commit_wanted.wait()
            self._commit_wanted.clear()
            await self._commit()
            # Coalesce: at 1,000 records/s one commit per interval, not one per record.
            await asyncio.sleep(_COMMIT_INTERVAL_S)

    async def _commit(self, only: set[TopicPartition] | None = None) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        due = {
            tp: offset
            for tp, tracker in self._offsets.items()
            if (offset := tracker.committable) is not None and (only is None or tp in only)
        }
        if not due:
            return
        try:
            await consumer.commit(dict(due))
        except KAFKA_FAILURES as exc:
            error = translate_kafka_error(exc, operation="committing offsets")
            # Not fatal: the uncommitted records are redelivered (at-least-once).
            self._log.warning("offset_commit_failed", error_code=error.code, error=error.message)
            return
        for tp, offset in due.items():
            tracker = self._offsets.get(tp)
            if tracker is not None:
                tracker.committed = offset

    async def _drain(self, tasks: set[asyncio.Task[None]]) -> None:
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=self._drain_timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            self._log.warning("drain_timeout_cancelled_handlers", cancelled=len(pending))
            await asyncio.wait(pending)

    # -- rebalancing -----------------------------------------------------------------
    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        self._generation += 1
        self._assigned -= revoked
        await self._drain({task for task, tp in self._tasks.items() if tp in revoked})
        await self._commit(only=revoked)
        for tp in revoked:
            self._offsets.pop(tp, None)
            self._fresh_from.pop(tp, None)
        self._log.info("partitions_revoked", partitions=sorted(_names(revoked)))

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._note_end_offsets(assigned)
        self._generation += 1
        self._assigned |= assigned
        for tp in assigned:
            self._offsets[tp] = PartitionOffsets()
        if self._assigned:
            self._has_assignment.set()
        self._log.info("partitions_assigned", partitions=sorted(_names(assigned)))

    async def _note_end_offsets(self, assigned: set[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is None or not assigned:
            return
        try:
            # Bounded: this runs inside the rebalance, before fetching resumes.
            async with asyncio.timeout(_END_OFFSETS_TIMEOUT_S):
                ends = await consumer.end_offsets(list(assigned))
        except _END_OFFSETS_FAILURES as exc:
            # Only a shortcut is lost: every record counts as possibly seen.
            self._log.warning("end_offsets_unknown", exception_type=type(exc).__name__)
            return
        for tp in assigned:
            if (end := ends.get(tp)) is not None:
                self._fresh_from[tp] = end

    def _require_started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise ClientStateError("the consumer is not started")
        return self._consumer


def _names(tps: set[TopicPartition]) -> list[str]:
    return [f"{tp.topic}[{tp.partition}]" for tp in tps]


class _Listener(ConsumerRebalanceListener):
    """Forwards aiokafka's rebalance callbacks to the consumer (which awaits the drain)."""

    def __init__(self, owner: BusConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner._on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._owner._on_assigned(assigned)
