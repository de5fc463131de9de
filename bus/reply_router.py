"""The reply side of request-reply: owns reply partitions and routes replies to waiters.

Lessons from the field (DESIGN.md): a reply that arrives before the reply consumer has its
partitions is lost, so the router assigns its partitions *manually* (no consumer group, no
rebalance), seeks to their end and waits until the consumer knows its position in each
before it reports ready. Several requester processes share one reply topic by owning
disjoint partitions; each request names topic and partition in its headers.

Waiters are futures keyed by exchange id (``ce_id``). A reply nobody waits for any more
(deadline passed, duplicate after a responder restart, or meant for an earlier incarnation
of this process) is dropped with a log line; it is never handed to another caller.

Two options make the router fit a gateway whose callers may not wait at all:

* ``on_reply``: an async sink called with EVERY valid reply, before its waiter (if any)
  is woken. The gateway stores the result there, so an async caller (or another replica)
  finds it later. The sink must be idempotent (a responder may reply twice). A sink that
  raises is retried with a back-off until it succeeds or the router stops: a reply is
  never skipped because the store blinked.
* ``offsets_group``: a consumer group id used *only to store offsets* (still manual
  assignment, no group membership, no rebalance). The router then starts from the
  committed offsets instead of the end, and commits a partition's position only after
  the sink has taken every reply before it, so a restarted gateway skips no reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from bus.envelope import Envelope
from bus.envelope_headers import MessageKind
from bus.errors import (
    BusError,
    ClientStateError,
    EnvelopeError,
    TooManyPendingRequestsError,
    UnknownPartitionError,
)
from bus.ids import ExchangeId
from bus.kafka_errors import KAFKA_FAILURES, translate_kafka_error
from bus.kafka_security import kafka_client_security
from bus.offset_tracker import PartitionOffsets
from bus.records import Headers, InboundRecord
from bus.settings import KafkaSettings
from bus.topics import ReplyTopic

__all__ = ["Reply", "ReplyRouter", "ReplyRouterStats", "ReplySink", "UnreadableSink"]

_log = structlog.get_logger(__name__)
_FETCH_TIMEOUT_MS: Final = 100
_SINK_RETRY_MAX_S: Final = 5.0
# How long stop() lets the loop finish its batch (sink calls, the offset commit) before
# cancelling it: a commit cancelled half-way leaves aiokafka with an orphaned task.
_STOP_GRACE_S: Final = 5.0
# Replies routed at once (each a sink call: verification, audit write, store statement).
# The bound keeps a backlog read after a restart from starting thousands of tasks.
_MAX_ROUTING: Final = 512
_COMMIT_INTERVAL_S: Final = 0.2


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply as the requester receives it."""

    envelope: Envelope
    value: bytes | None
    partition: int
    offset: int
    timestamp_ms: int = 0
    """The record's Kafka timestamp: when the reply was written on the bus (not read)."""
    headers: Headers = ()
    """The record's raw headers (what a signature is checked on, what a dead letter keeps)."""


ReplySink = Callable[[Reply], Awaitable[None]]
"""Async callback taking every valid reply before its waiter is woken (must be idempotent)."""
UnreadableSink = Callable[[InboundRecord, str], Awaitable[None]]
"""Async callback told of each record on the reply topic that is no reply at all (no
readable envelope, or not a reply), with the reason code: whoever wrote it, it leaves a
trace rather than vanishing."""


@dataclass(slots=True)
class ReplyRouterStats:
    """Counters a test or a metrics exporter can read."""

    delivered: int = 0
    dropped_unknown: int = 0
    dropped_invalid: int = 0
    sunk: int = 0
    sink_failures: int = 0
    commits: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


class ReplyRouter:
    """Consumes the owned partitions of one reply topic and completes pending requests."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        reply_topic: ReplyTopic,
        partitions: Sequence[int],
        max_pending: int | None = None,
        on_reply: ReplySink | None = None,
        offsets_group: str | None = None,
        sink_retry_s: float = 0.2,
        on_unreadable: UnreadableSink | None = None,
    ) -> None:
        if not partitions or len(set(partitions)) != len(partitions):
            raise ValueError("a reply router needs distinct partitions")
        if any(p < 0 for p in partitions):
            raise ValueError("partitions are not negative")
        self._settings = settings
        self.reply_topic = reply_topic
        self.partitions: tuple[int, ...] = tuple(partitions)
        self._max_pending = max_pending or settings.max_pending_requests
        self._on_reply = on_reply
        self._on_unreadable = on_unreadable
        self._offsets_group = offsets_group
        self._sink_retry_s = sink_retry_s
        self._pending: dict[ExchangeId, asyncio.Future[Reply]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.stats = ReplyRouterStats()
        self.caught_up = asyncio.Event()
        """Set once every reply that was on the partitions when the router started has been
        handed to the sink: a restarted gateway must not time out an exchange whose reply
        is waiting to be read (the expiry loop waits for this)."""
        self._behind: dict[TopicPartition, int] = {}
        # Replies being routed (each its own task) and, per partition, which offsets are
        # done: a position is committed only once every reply before it was routed.
        self._slots = asyncio.Semaphore(_MAX_ROUTING)
        self._routing: set[asyncio.Task[None]] = set()
        self._offsets: dict[TopicPartition, PartitionOffsets] = {}
        self._committed_at = float("-inf")

    async def start(self) -> None:
        """Assign the partitions, seek to their end (or, with ``offsets_group``, to the
        committed offsets), and return once positions are known."""
        if self._consumer is not None:
            raise ClientStateError("the reply router is already started")
        self._stopping.clear()
        self._offsets = {}
        topic = self.reply_topic.name
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.bootstrap_servers,
            client_id=self._settings.client_id,
            # A group id only to store offsets: assign() below means no membership and no
            # rebalance, so the "lost reply before assignment" race cannot happen.
            group_id=self._offsets_group,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            request_timeout_ms=self._settings.request_timeout_ms,
            fetch_max_wait_ms=_FETCH_TIMEOUT_MS,
            **kafka_client_security(self._settings),
        )
        tps = [TopicPartition(topic, p) for p in self.partitions]
        try:
            await consumer.start()
            # assign() makes the client fetch the topic's metadata; seeking on a partition
            # that does not exist would hang for the request timeout, so check first.
            consumer.assign(tps)
            existing = await self._known_partitions(consumer, topic)
            missing = set(self.partitions) - existing
            if missing:
                raise UnknownPartitionError(
                    f"{topic} has partitions {sorted(existing)}; cannot own {sorted(missing)}"
                )
            await self._seek_start(consumer, tps)
            # position() returns only once the end offset is actually resolved: from here
            # on, every reply written to these partitions will be read.
            positions = {tp: await consumer.position(tp) for tp in tps}
            ends = await consumer.end_offsets(tps)
        except BusError:
            await consumer.stop()
            raise
        except KAFKA_FAILURES as exc:
            await consumer.stop()
            raise translate_kafka_error(exc, operation=f"assigning {topic}") from exc
        except BaseException:
            await consumer.stop()  # cancelled mid-start (stopped while the broker hangs)
            raise
        self._consumer = consumer
        self._behind = {tp: end for tp, end in ends.items() if positions[tp] < end}
        if not self._behind:
            self.caught_up.set()
        self._task = asyncio.create_task(self._route_loop(consumer), name="bus-reply-router")
        _log.info(
            "reply_router_ready",
            replies_waiting=sum(end - positions[tp] for tp, end in self._behind.items()),
            topic=topic,
            partitions=list(self.partitions),
            offsets_group=self._offsets_group,
        )

    async def _seek_start(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        if self._offsets_group is None:
            await consumer.seek_to_end(*tps)
            return
        fresh: list[TopicPartition] = []
        for tp in tps:
            committed = await consumer.committed(tp)
            if committed is None:
                fresh.append(tp)  # never committed: nothing of ours can be in it yet
            else:
                consumer.seek(tp, committed)
        if fresh:
            await consumer.seek_to_end(*fresh)
            # Commit where we start: otherwise a partition that sees no reply before a
            # restart would have no committed offset then, and replies written while we
            # were down would be skipped by seeking to the end again.
            starts = {tp: await consumer.position(tp) for tp in fresh}
            await consumer.commit(dict(starts))

    async def _known_partitions(self, consumer: AIOKafkaConsumer, topic: str) -> set[int]:
        timeout_s = self._settings.request_timeout_ms / 1000
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while True:
                    known = consumer.partitions_for_topic(topic)
                    if known is not None:
                        return known
                    await asyncio.sleep(0.02)
        raise UnknownPartitionError(f"{topic} does not exist (no metadata in {timeout_s:.0f}s)")

    async def stop(self) -> None:
        """Stop routing; every waiter still pending gets ``ClientStateError``."""
        consumer, self._consumer = self._consumer, None
        if self._task is not None:
            self._stopping.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout=_STOP_GRACE_S)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ClientStateError("the requester stopped"))
        self._pending.clear()
        if consumer is not None:
            await consumer.stop()

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def expect(self, exchange_id: ExchangeId) -> asyncio.Future[Reply]:
        """Register a waiter for the reply to ``exchange_id`` (before sending the request)."""
        if self._consumer is None:
            raise ClientStateError("the reply router is not started")
        if len(self._pending) >= self._max_pending:
            raise TooManyPendingRequestsError(
                f"{len(self._pending)} requests already wait for a reply (the bound)"
            )
        if exchange_id in self._pending:
            raise ValueError(f"exchange {exchange_id} is already pending")
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[exchange_id] = future
        return future

    def forget(self, exchange_id: ExchangeId) -> None:
        """The waiter is gone (answered, timed out, cancelled): later replies are dropped."""
        self._pending.pop(exchange_id, None)

    async def _route_loop(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    batches = await consumer.getmany(timeout_ms=_FETCH_TIMEOUT_MS)
                except KAFKA_FAILURES as exc:
                    error = translate_kafka_error(exc, operation="fetching replies")
                    _log.warning("reply_fetch_failed", error_code=error.code, error=error.message)
                    await asyncio.sleep(0.5)
                    continue
                # Replies belong to different exchanges: no order to keep, within a
                # partition or across them. So each reply goes to the sink in a task of its
                # own and the loop fetches again at once: waiting for a fetch's sink calls
                # (each an acknowledged audit write and a store statement) before the next
                # fetch made every reply that arrived meanwhile wait a whole batch. Offsets
                # are committed only over contiguous finished runs (PartitionOffsets).
                for tp, records in batches.items():
                    for record in records:
                        await self._slots.acquire()
                        if self._stopping.is_set():  # not started, not committed: read again
                            self._slots.release()
                            break
                        self._dispatch(tp, InboundRecord.from_consumer_record(record))
                await self._commit_finished(consumer)
        finally:
            await self._settle(consumer)

    def _dispatch(self, tp: TopicPartition, record: InboundRecord) -> None:
        self._offsets.setdefault(tp, PartitionOffsets()).start(record.offset)
        task = asyncio.create_task(self._route_one(tp, record))
        self._routing.add(task)
        task.add_done_callback(self._routed)

    def _routed(self, task: asyncio.Task[None]) -> None:
        self._routing.discard(task)
        self._slots.release()

    async def _route_one(self, tp: TopicPartition, record: InboundRecord) -> None:
        # Not routed (the router stopped while the sink kept failing): left uncommitted,
        # so it is read again after a restart.
        if await self.route(record):
            self._offsets[tp].finish(record.offset)

    async def _settle(self, consumer: AIOKafkaConsumer) -> None:
        """On stop: let replies being routed finish (bounded), then commit what finished."""
        if self._routing:
            _done, pending = await asyncio.wait(set(self._routing), timeout=_STOP_GRACE_S)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        with contextlib.suppress(Exception):
            await self._commit_finished(consumer, final=True)

    async def _commit_finished(self, consumer: AIOKafkaConsumer, *, final: bool = False) -> None:
        due = {
            tp: offset
            for tp, tracker in self._offsets.items()
            if (offset := tracker.committable) is not None
        }
        if not due:
            return
        if self._behind:
            self._note_progress(due)
        if self._offsets_group is not None:
            # At most one commit per interval (a round trip each, awaited before the next
            # fetch): a restart re-reads what finished since, which the sink absorbs.
            now = time.monotonic()
            if not final and now - self._committed_at < _COMMIT_INTERVAL_S:
                return
            self._committed_at = now
            if not await self._commit(consumer, due):
                return
        for tp, offset in due.items():
            self._offsets[tp].committed = offset

    def _note_progress(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            if tp in self._behind and offset >= self._behind[tp]:
                del self._behind[tp]
        if not self._behind:
            self.caught_up.set()
            _log.info("reply_router_caught_up", topic=self.reply_topic.name)

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> bool:
        try:
            await consumer.commit(dict(offsets))
        except KAFKA_FAILURES as exc:
            # The next commit covers this one; a restart re-reads a few replies, which the
            # idempotent sink absorbs.
            error = translate_kafka_error(exc, operation="committing reply offsets")
            _log.warning("reply_commit_failed", error_code=error.code, error=error.message)
            return False
        self.stats.commits += 1
        return True

    async def route(self, record: InboundRecord) -> bool:
        """Hand one reply record to the sink and its waiter, or drop it with a log line.
        False only when the router stopped while the sink kept failing (not routed)."""
        log = _log.bind(topic=record.topic, partition=record.partition, offset=record.offset)
        try:
            envelope = Envelope.from_headers(record.headers)
        except EnvelopeError as exc:
            self._drop(log, "invalid_envelope", header=exc.header, error_code=exc.code)
            self.stats.dropped_invalid += 1
            await self._unreadable(record, "INVALID_ENVELOPE", log)
            return True
        if envelope.kind is not MessageKind.REPLY:
            self._drop(log, "not_a_reply", exchange_id=envelope.exchange_id)
            self.stats.dropped_invalid += 1
            await self._unreadable(record, "NOT_A_REPLY", log)
            return True
        reply = Reply(
            envelope,
            record.value,
            record.partition,
            record.offset,
            record.timestamp_ms,
            headers=record.headers,
        )
        if self._on_reply is not None and not await self._sink(self._on_reply, reply, log):
            return False
        future = self._pending.pop(envelope.exchange_id, None)
        if future is None or future.done():
            if self._on_reply is None:
                # Deadline passed, a duplicate, or meant for an earlier run of this process.
                self._drop(log, "late_or_unknown", exchange_id=envelope.exchange_id)
                self.stats.dropped_unknown += 1
            return True
        future.set_result(reply)
        self.stats.delivered += 1
        return True

    async def _sink(
        self, sink: ReplySink, reply: Reply, log: structlog.typing.FilteringBoundLogger
    ) -> bool:
        """True once the sink took the reply; False if the router stops first."""
        delay = self._sink_retry_s
        while True:
            try:
                await sink(reply)
            except Exception as exc:  # retried: a reply must not be skipped
                self.stats.sink_failures += 1
                log.warning(
                    "reply_sink_failed",
                    exchange_id=reply.envelope.exchange_id,
                    exception_type=type(exc).__name__,
                    retry_in_s=delay,
                )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stopping.wait()
                if self._stopping.is_set():
                    return False
                delay = min(delay * 2, _SINK_RETRY_MAX_S)
                continue
            self.stats.sunk += 1
            return True

    async def _unreadable(
        self, record: InboundRecord, reason: str, log: structlog.typing.FilteringBoundLogger
    ) -> None:
        # Best effort, unlike the sink: a record that is no reply holds no exchange's
        # outcome, so a failed trace is logged rather than allowed to stall the partition.
        if self._on_unreadable is None:
            return
        try:
            await self._on_unreadable(record, reason)
        except Exception as exc:  # any failure: logged, and the partition goes on
            log.warning("reply_unreadable_not_traced", exception_type=type(exc).__name__)

    def _drop(self, log: structlog.typing.FilteringBoundLogger, reason: str, **kw: str) -> None:
        self.stats.by_reason[reason] = self.stats.by_reason.get(reason, 0) + 1
        log.info("reply_dropped", reason=reason, **kw)
