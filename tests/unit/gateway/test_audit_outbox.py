"""``AuditOutbox`` and ``ExchangeStates``: closing events owed in the store are written once
the trail takes them, one attempt per round while it does not, and nothing is lost across
a restart. A real SQLite exchange store; a trail that can be switched off."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from bus import ReplyStatus
from bus.audit.errors import AuditWriteError
from bus.audit.trail import AuditEventType, AuditRecord, exchange_event_id
from gateway.audit_outbox import AuditOutbox
from gateway.exchange_states import SEND_FAILED, Ending, ExchangeStates
from gateway.metrics import GatewayMetrics
from gateway.store.base import ExchangeRecord, ExchangeStatus
from gateway.store.sqlite import SqliteExchangeStore

ACTOR = "es.gateway"
OWNER = "interop.rep.dev:0,1,2,3"
"""The replica every helper's exchanges belong to (``_parts`` builds its states)."""
NOW = datetime.now(UTC)


class SwitchableTrail:
    """Keeps what it was given; raises ``AuditWriteError`` while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.records: list[AuditRecord] = []
        self.attempts = 0

    async def record(self, event: AuditRecord) -> None:
        self.attempts += 1
        if self.down:
            raise AuditWriteError("the trail is down")
        self.records.append(event)


def _record(n: int, *, overdue: bool, owner: str | None = OWNER) -> ExchangeRecord:
    deadline = NOW - timedelta(seconds=1) if overdue else NOW + timedelta(minutes=5)
    return ExchangeRecord(
        id=f"0195a1b2-0000-7000-8000-{n:012d}",
        requester="es.town",
        service="tax.income-band",
        version="1.0",
        provider="es.aeat",
        purpose="subsidy",
        official="official-1",
        subject_ref="ref-" + "ab" * 16,
        request_digest="d" * 64,
        created_at=NOW - timedelta(seconds=10),
        deadline=deadline,
        owner=owner,
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteExchangeStore]:
    """An open SQLite exchange store in the test's folder."""
    opened = SqliteExchangeStore(tmp_path / "exchanges.db")
    await opened.open()
    yield opened
    await opened.close()


def _parts(
    store: SqliteExchangeStore, trail: SwitchableTrail
) -> tuple[AuditOutbox, ExchangeStates, GatewayMetrics]:
    metrics = GatewayMetrics(CollectorRegistry())
    outbox = AuditOutbox(store=store, trail=trail, metrics=metrics, actor=ACTOR, interval_s=0.05)
    states = ExchangeStates(
        store=store,
        trail=trail,
        metrics=metrics,
        actor=ACTOR,
        owner=OWNER,
        on_owed=outbox.wake,
        on_final=lambda _record: None,
    )
    return outbox, states, metrics


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_closings_owed_while_the_trail_is_down_are_written_when_it_returns(
    store: SqliteExchangeStore,
) -> None:
    """A timeout and a refused send while the trail is down: nothing settled, one attempt
    per round (not one per owed event); the trail back: each closing event written once,
    with its step's id, its outcome and the exchange's end time, and nothing owed."""
    trail = SwitchableTrail()
    trail.down = True
    outbox, states, metrics = _parts(store, trail)
    refused, overdue = _record(1, overdue=False), _record(2, overdue=True)
    extra = [_record(n, overdue=True) for n in range(3, 8)]
    for record in (refused, overdue, *extra):
        await store.create(record)
    await states.refuse_unsent(refused, SEND_FAILED, "the request could not be sent (X)")
    assert await states.expire_overdue() == 1 + len(extra)
    outbox.start()
    try:
        await _until(lambda: outbox.blocked and trail.attempts >= 2)
        assert await store.count_owed_closings() == 2 + len(extra)
        assert trail.records == []
        # The gauge operators watch in an outage says what is owed while writes fail.
        owed_now = metrics.registry.get_sample_value("interop_gateway_closing_events_owed")
        assert owed_now == 2 + len(extra)
        trail.down = False
        await _until(lambda: len(trail.records) == 2 + len(extra))
        await _until(lambda: not outbox.blocked)
    finally:
        await outbox.stop()
    assert await store.owed_closings() == []
    by_exchange = {event.exchange_id: event for event in trail.records}
    failed = by_exchange[refused.id]
    assert (failed.type, failed.outcome) == (AuditEventType.FAILED, SEND_FAILED)
    assert failed.reason == "the request could not be sent (X)"
    assert failed.event_id == exchange_event_id(ACTOR, refused.id, AuditEventType.FAILED)
    timed_out = by_exchange[overdue.id]
    assert (timed_out.type, timed_out.outcome) == (AuditEventType.TIMED_OUT, "TIMED_OUT")
    ended = await store.get(overdue.id)
    assert ended is not None
    assert ended.status is ExchangeStatus.TIMED_OUT
    assert timed_out.time == ended.completed_at
    released = await store.get(refused.id)
    assert released is not None
    assert released.idempotency_key is None
    registry = metrics.registry
    assert registry.get_sample_value("interop_gateway_closing_events_owed") == 0
    assert registry.get_sample_value("interop_gateway_closing_events_written_total") == 7


async def test_one_attempt_per_round_while_the_trail_is_down(
    store: SqliteExchangeStore,
) -> None:
    """Fifty owed events and a trail that refuses: each round tries the oldest alone, so
    the attempts stay far below one per owed event per round."""
    trail = SwitchableTrail()
    trail.down = True
    outbox, states, _ = _parts(store, trail)
    for n in range(50):
        await store.create(_record(n, overdue=True))
    await states.expire_overdue()
    for _ in range(3):
        with pytest.raises(AuditWriteError):
            await outbox.drain_once()
    assert trail.attempts == 3
    assert await store.count_owed_closings() == 50


async def test_what_a_crashed_run_owed_is_written_by_the_next_start(tmp_path: Path) -> None:
    """The mark lives in the store: a new store and outbox on the same file (a restart)
    write what the first run owed, and a second drain writes nothing again."""
    first = SqliteExchangeStore(tmp_path / "exchanges.db")
    await first.open()
    trail = SwitchableTrail()
    _, states, _ = _parts(first, trail)
    record = _record(1, overdue=True)
    await first.create(record)
    await states.expire_overdue()
    await first.close()  # the "crash": nothing was written

    second = SqliteExchangeStore(tmp_path / "exchanges.db")
    await second.open()
    try:
        outbox, _, _ = _parts(second, trail)
        assert await outbox.drain_once() == 1
        assert await outbox.drain_once() == 0
    finally:
        await second.close()
    assert [(e.exchange_id, e.type) for e in trail.records] == [
        (record.id, AuditEventType.TIMED_OUT)
    ]
    ended = await _status_in(tmp_path)
    assert ended is ExchangeStatus.TIMED_OUT


async def _status_in(tmp_path: Path) -> ExchangeStatus:
    store = SqliteExchangeStore(tmp_path / "exchanges.db")
    await store.open()
    try:
        found = await store.get(_record(1, overdue=True).id)
    finally:
        await store.close()
    assert found is not None
    return found.status


class HeldTrail(SwitchableTrail):
    """Holds every COMPLETED event until ``release`` is set (a slow acknowledgement)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.holding = asyncio.Event()

    async def record(self, event: AuditRecord) -> None:
        if event.type is AuditEventType.COMPLETED:
            self.holding.set()
            await self.release.wait()
        await super().record(event)


@pytest.mark.parametrize("who_times_out", ["waiter", "expiry"])
async def test_a_timeout_at_the_deadline_waits_for_the_reply_being_audited(
    store: SqliteExchangeStore, who_times_out: str
) -> None:
    """A reply's COMPLETED is being written when the deadline passes: the waiter's timeout
    (or the expiry) waits for it instead of timing the exchange out beside it, so the
    log closes the exchange once (COMPLETED), nothing is owed, and the store agrees."""
    trail = HeldTrail()
    _, states, _ = _parts(store, trail)
    record = _record(1, overdue=True)
    await store.create(record)
    ending = asyncio.create_task(
        states.end_with_reply(
            record, Ending.completed(ReplyStatus.OK, {"band": "B1"}), response_digest=None
        )
    )
    await trail.holding.wait()
    timing_out: asyncio.Task[object] = asyncio.create_task(
        states.time_out(record) if who_times_out == "waiter" else states.expire_overdue()
    )
    await asyncio.sleep(0.05)  # give the timeout every chance to run ahead
    assert not timing_out.done()
    trail.release.set()
    ended = await ending
    assert ended is not None
    assert ended.status is ExchangeStatus.COMPLETED
    assert await timing_out in (None, 0)  # nothing timed out
    assert [event.type for event in trail.records] == [AuditEventType.COMPLETED]
    assert await store.count_owed_closings() == 0


async def test_an_ending_that_waited_for_a_timeout_does_not_close_the_exchange_again(
    store: SqliteExchangeStore,
) -> None:
    """The expiry runs first (the exchange is TIMED_OUT, its closing owed); a reply read
    before it but handled right after finds the exchange no longer pending and writes no
    COMPLETED."""
    trail = SwitchableTrail()
    _, states, _ = _parts(store, trail)
    record = _record(1, overdue=True)
    await store.create(record)
    assert await states.expire_overdue() == 1
    ended = await states.end_with_reply(
        record, Ending.completed(ReplyStatus.OK, {"band": "B1"}), response_digest=None
    )
    assert ended is None
    assert trail.records == []  # no COMPLETED beside the owed TIMED_OUT
    assert await store.count_owed_closings() == 1
