"""A reply whose ending is being audited is not timed out under it.

The race the cluster suite found: a reply's COMPLETED write timed out while the audit
partition changed leader, the producer delivered it later anyway, and meanwhile the
deadline passed and the expiry wrote TIMED_OUT: the exchange ended two ways in the log.
Now this replica's time-outs spare an exchange whose reply is being ended (until the
reply grace passes), and the retried reply ends it once, COMPLETED. A real SQLite store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from bus import ReplyStatus
from bus.audit.errors import AuditWriteError
from bus.audit.trail import AuditEventType
from gateway.exchange_states import REPLY_GRACE, Ending, ExchangeStates
from gateway.metrics import GatewayMetrics
from gateway.store.base import ExchangeStatus
from gateway.store.sqlite import SqliteExchangeStore
from tests.unit.gateway.test_audit_outbox import NOW, SwitchableTrail, _record


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


def _states(store: SqliteExchangeStore, trail: SwitchableTrail, clock: Clock) -> ExchangeStates:
    return ExchangeStates(
        store=store,
        trail=trail,
        metrics=GatewayMetrics(CollectorRegistry()),
        actor="es.gateway",
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
