"""A reply whose ending is being audited is not timed out under it.

The race the cluster suite found: a reply's COMPLETED write timed out while the audit
partition changed leader, the producer delivered it later anyway, and meanwhile the
deadline passed and the expiry wrote TIMED_OUT: the exchange ended two ways in the log.
Now this replica's time-outs spare an exchange whose reply is being ended (until the
reply grace passes), and the retried reply ends it once, COMPLETED. Another replica
sharing the store leaves the exchange to its owner until well past that grace. A real
SQLite store (two connections to one file for two replicas).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from bus import ReplyStatus
from bus.audit.errors import AuditWriteError
from bus.audit.trail import AuditEventType, AuditRecord
from gateway.exchange_states import OTHERS_GRACE, REPLY_GRACE, Ending, ExchangeStates
from gateway.metrics import GatewayMetrics
from gateway.store.base import ExchangeStatus
from gateway.store.sqlite import SqliteExchangeStore
from tests.unit.gateway.test_audit_outbox import NOW, OWNER, SwitchableTrail, _record


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteExchangeStore]:
    """An open SQLite exchange store in the test's folder."""
    opened = SqliteExchangeStore(tmp_path / "exchanges.db")
    await opened.open()
    yield opened
    await opened.close()


def _states(
    store: SqliteExchangeStore, trail: SwitchableTrail, clock: Clock, *, owner: str = OWNER
) -> ExchangeStates:
    return ExchangeStates(
        store=store,
        trail=trail,
        metrics=GatewayMetrics(CollectorRegistry()),
        actor="es.gateway",
        owner=owner,
        on_owed=lambda: None,
        on_final=lambda _record: None,
        clock=clock,
    )


async def test_an_unacknowledged_reply_ending_is_not_timed_out_then_completes(
    store: SqliteExchangeStore,
) -> None:
    """COMPLETED not acknowledged: past the deadline neither the expiry nor the waiting
    caller's time-out touches the exchange (an overdue neighbour is still timed out);
    the reply retried: COMPLETED in the store, and no TIMED_OUT in the trail."""
    trail, clock = SwitchableTrail(), Clock()
    states = _states(store, trail, clock)
    replied, neighbour = _record(1, overdue=True), _record(2, overdue=True)
    for record in (replied, neighbour):
        await store.create(record)
    ending = Ending.completed(ReplyStatus.OK, {"registered": True})
    trail.down = True
    with pytest.raises(AuditWriteError):
        await states.end_with_reply(replied, ending, response_digest=None)
    assert await states.expire_overdue() == 1  # the neighbour only
    assert await states.time_out(replied) is None
    pending = await store.get(replied.id)
    assert pending is not None
    assert pending.status is ExchangeStatus.PENDING
    trail.down = False
    ended = await states.end_with_reply(replied, ending, response_digest=None)
    assert ended is not None
    assert ended.status is ExchangeStatus.COMPLETED
    types = {(event.exchange_id, event.type) for event in trail.records}
    assert (replied.id, AuditEventType.COMPLETED) in types
    assert (replied.id, AuditEventType.TIMED_OUT) not in types
    assert await states.expire_overdue() == 0


async def test_a_reply_never_acknowledged_is_timed_out_after_the_grace(
    store: SqliteExchangeStore,
) -> None:
    """The trail never takes the reply: once the reply grace is past the deadline, the
    exchange is timed out after all (the router gives the reply up then too)."""
    trail, clock = SwitchableTrail(), Clock()
    states = _states(store, trail, clock)
    replied = _record(1, overdue=True)
    await store.create(replied)
    trail.down = True
    with pytest.raises(AuditWriteError):
        await states.end_with_reply(
            replied, Ending.completed(ReplyStatus.OK, None), response_digest=None
        )
    assert await states.expire_overdue() == 0
    clock.now = replied.deadline + REPLY_GRACE + timedelta(seconds=1)
    assert await states.expire_overdue() == 1
    expired = await store.get(replied.id)
    assert expired is not None
    assert expired.status is ExchangeStatus.TIMED_OUT


OTHER = "interop.rep.dev:4,5,6,7"
"""A second replica of the same group, sharing the store."""


@pytest.fixture
async def other_store(
    tmp_path: Path, store: SqliteExchangeStore
) -> AsyncIterator[SqliteExchangeStore]:
    """The second replica's own connection to the same database file."""
    opened = SqliteExchangeStore(tmp_path / "exchanges.db")
    await opened.open()
    yield opened
    await opened.close()


class GatedTrail(SwitchableTrail):
    """Holds each write until ``release`` is set (an acknowledgement still in flight)."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = asyncio.Event()
        self.release = asyncio.Event()

    async def record(self, event: AuditRecord) -> None:
        self.writing.set()
        await self.release.wait()
        await super().record(event)


async def test_another_replica_leaves_an_ending_in_flight_at_the_deadline_to_its_owner(
    store: SqliteExchangeStore, other_store: SqliteExchangeStore
) -> None:
    """The owner begins ending a reply just before the deadline and its COMPLETED is
    acknowledged just after: meanwhile another replica's expiry and a caller waiting on
    that replica pass the exchange by, so it ends once, COMPLETED. (Before owners were
    recorded, the other replica timed it out under the ending: COMPLETED *and* TIMED_OUT.)"""
    clock = Clock()
    trail = GatedTrail()
    owner = _states(store, trail, clock)
    other = _states(other_store, trail, clock, owner=OTHER)
    replied = replace(_record(1, overdue=False), deadline=NOW + timedelta(milliseconds=5))
    await store.create(replied)
    ending = asyncio.create_task(
        owner.end_with_reply(
            replied, Ending.completed(ReplyStatus.OK, {"ok": True}), response_digest=None
        )
    )
    await trail.writing.wait()
    clock.now = replied.deadline + timedelta(seconds=2)
    assert await other.expire_overdue() == 0
    assert await other.time_out(replied) is None
    trail.release.set()
    ended = await ending
    assert ended is not None
    assert ended.status is ExchangeStatus.COMPLETED
    assert [event.type for event in trail.records] == [AuditEventType.COMPLETED]
    assert await other.expire_overdue() == 0


async def test_another_replicas_unacknowledged_ending_waits_for_its_retry(
    store: SqliteExchangeStore, other_store: SqliteExchangeStore
) -> None:
    """The owner's COMPLETED was not acknowledged and the deadline passed: the other
    replica leaves the exchange PENDING (the owner retries the reply within the reply
    grace), and the retried reply ends it, COMPLETED, with no TIMED_OUT in the trail."""
    trail, clock = SwitchableTrail(), Clock()
    owner = _states(store, trail, clock)
    other = _states(other_store, trail, clock, owner=OTHER)
    replied = _record(1, overdue=True)
    await store.create(replied)
    ending = Ending.completed(ReplyStatus.OK, None)
    trail.down = True
    with pytest.raises(AuditWriteError):
        await owner.end_with_reply(replied, ending, response_digest=None)
    clock.now = replied.deadline + REPLY_GRACE - timedelta(seconds=1)
    assert await other.expire_overdue() == 0
    assert await other.time_out(replied) is None
    trail.down = False
    ended = await owner.end_with_reply(replied, ending, response_digest=None)
    assert ended is not None
    assert ended.status is ExchangeStatus.COMPLETED
    assert {event.type for event in trail.records} == {AuditEventType.COMPLETED}


async def test_a_gone_replicas_exchanges_are_timed_out_by_the_others_after_the_grace(
    store: SqliteExchangeStore,
) -> None:
    """Exchanges of a replica that never came back, and those stored before owners were
    recorded, are timed out by another replica ``OTHERS_GRACE`` past their deadline, not
    before; its own overdue exchange at once. Each closing event is owed as usual."""
    trail, clock = SwitchableTrail(), Clock()
    states = _states(store, trail, clock, owner=OTHER)
    gone, legacy = _record(1, overdue=True), _record(2, overdue=True, owner=None)
    own = _record(3, overdue=True, owner=OTHER)
    for record in (gone, legacy, own):
        await store.create(record)
    assert await states.expire_overdue() == 1  # its own
    clock.now = gone.deadline + OTHERS_GRACE - timedelta(seconds=1)
    assert await states.expire_overdue() == 0
    assert await states.time_out(gone) is None
    clock.now = gone.deadline + OTHERS_GRACE + timedelta(seconds=1)
    assert await states.expire_overdue() == 2
    for record in (gone, legacy, own):
        stored = await store.get(record.id)
        assert stored is not None
        assert stored.status is ExchangeStatus.TIMED_OUT
    assert len(await store.owed_closings()) == 3
