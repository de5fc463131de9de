"""The per-provider pacer (no sleeps: a manual clock), result cursors, item outcomes."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.batches.pacing import ProviderPacer
from gateway.batches.records import BatchItem, ItemStatus
from gateway.batches.results import csv_header, csv_line, decode_cursor, encode_cursor
from gateway.batches.worker import item_idempotency_key, item_status_of
from gateway.errors import InvalidRequestError
from gateway.store.base import ExchangeRecord, ExchangeStatus


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_burst_goes_at_once_then_one_token_per_interval() -> None:
    """burst tokens are free; the next callers wait 1/rate more each, in order."""
    clock = _Clock()
    pacer = ProviderPacer(10.0, 3, clock)
    assert [pacer.reserve("p") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert [round(pacer.reserve("p"), 6) for _ in range(3)] == [0.1, 0.2, 0.3]
    assert pacer.reserve("other") == 0.0  # another provider has its own bucket


def test_no_window_ever_sees_more_than_burst_plus_rate_times_its_length() -> None:
    """Callers that go when told: at most burst + rate*T items in any window of T s."""
    clock = _Clock()
    pacer = ProviderPacer(20.0, 5, clock)
    departures = []
    for step in range(400):
        clock.now = 100.0 + step * 0.01  # callers arrive far faster than the rate
        departures.append(clock.now + pacer.reserve("p"))
    departures.sort()
    for i, start in enumerate(departures):
        within = sum(1 for t in departures[i:] if t < start + 1.0)
        assert within <= 5 + 20
    assert departures[-1] - departures[0] == pytest.approx((400 - 5) / 20, abs=0.06)


def test_a_returned_token_is_usable_again_and_refill_is_capped() -> None:
    """cancel gives a token back; a long idle refills to burst, never more."""
    clock = _Clock()
    pacer = ProviderPacer(1.0, 2, clock)
    pacer.reserve("p")
    pacer.reserve("p")
    assert pacer.reserve("p") == pytest.approx(1.0)
    pacer.cancel("p")
    assert pacer.reserve("p") == pytest.approx(1.0)
    clock.now += 3600
    assert [pacer.reserve("p") for _ in range(2)] == [0.0, 0.0]
    assert pacer.reserve("p") > 0


async def test_members_take_turns_however_many_batches_each_runs() -> None:
    """Forty callers of one member queue first, five of another after them: tokens go
    round the members, so the second member's five leave among the first dozen, not
    after the forty (one member's batches stalled everyone else's)."""
    pacer = ProviderPacer(400.0, 1)
    order: list[str] = []

    async def one(member: str) -> None:
        await pacer.acquire("p", member)
        order.append(member)

    busy = [asyncio.create_task(one("town")) for _ in range(40)]
    await asyncio.sleep(0)  # the town's callers are all queued before the other's
    other = [asyncio.create_task(one("getafe")) for _ in range(5)]
    await asyncio.gather(*busy, *other)
    assert len(order) == 45
    assert [i for i, member in enumerate(order) if member == "getafe"][-1] < 12, order
    assert pacer._turns == {}  # no member waits: nothing kept


def test_bad_pacer_settings_are_refused() -> None:
    """A zero rate or burst is a programming error."""
    with pytest.raises(ValueError, match="rate_per_s"):
        ProviderPacer(0.0, 1)
    with pytest.raises(ValueError, match="burst"):
        ProviderPacer(1.0, 0)


@pytest.mark.parametrize("index", [0, 7, 9999, 123456789])
def test_cursors_round_trip(index: int) -> None:
    """A cursor decodes to the index it was made from and is URL-safe."""
    cursor = encode_cursor(index)
    assert decode_cursor(cursor) == index
    assert cursor.replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize("cursor", ["!!", "djI6NQ", "x" * 41, "djE6LTE", "djE6YQ"])
def test_foreign_cursors_are_a_400_at_the_parameter(cursor: str) -> None:
    """Not base64, another version, too long, negative, not a number: refused."""
    with pytest.raises(InvalidRequestError) as caught:
        decode_cursor(cursor)
    assert [p.pointer for p in caught.value.problems] == ["/cursor"]


def test_no_cursor_starts_at_the_beginning() -> None:
    """Absent or empty: from the first item."""
    assert decode_cursor(None) == -1
    assert decode_cursor("") == -1


def _exchange(**changes: object) -> ExchangeRecord:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    base = ExchangeRecord(
        id="ex-1",
        requester="it.town",
        service="s",
        version="1.0",
        provider="p",
        purpose="x",
        official="o",
        subject_ref="ref",
        request_digest="d",
        created_at=t0,
        deadline=t0 + timedelta(seconds=5),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_item_status_follows_the_exchange() -> None:
    """Found / not found by the reply status; failed; timed out; pending: none yet."""
    assert item_status_of(_exchange()) is None
    completed = ExchangeStatus.COMPLETED
    assert item_status_of(_exchange(status=completed, reply_status="ok")) is ItemStatus.FOUND
    assert (
        item_status_of(_exchange(status=completed, reply_status="not_found"))
        is ItemStatus.NOT_FOUND
    )
    assert item_status_of(_exchange(status=ExchangeStatus.FAILED)) is ItemStatus.FAILED
    assert item_status_of(_exchange(status=ExchangeStatus.TIMED_OUT)) is ItemStatus.TIMED_OUT


def test_item_keys_are_stable_and_fit_the_idempotency_header() -> None:
    """The same batch and index give the same key, visible ASCII under 200 characters."""
    key = item_idempotency_key("0195a1b2-0000-7000-8000-000000000001", 9999)
    assert key == item_idempotency_key("0195a1b2-0000-7000-8000-000000000001", 9999)
    assert key != item_idempotency_key("0195a1b2-0000-7000-8000-000000000001", 999)
    assert len(key) < 200
    assert all(0x21 <= ord(c) <= 0x7E for c in key)


def test_a_csv_line_quotes_the_data_cell_and_leaves_no_formula() -> None:
    """RFC 4180 quoting of the JSON cell; found as true/false; header names the columns."""
    item = BatchItem(
        batch_id="b", index=3, status=ItemStatus.FOUND, item_ref="r-3", exchange_id="ex-1"
    )
    record = _exchange(
        status=ExchangeStatus.COMPLETED, reply_status="ok", result={"a": "x,y", "b": 1}
    )
    line = csv_line(item, record).decode()
    assert line.startswith('3,r-3,ex-1,found,,true,"{""a"":""x,y"",""b"":1}",')
    assert line.endswith("\r\n")
    assert csv_header().decode().startswith("index,item_ref,exchange_id,status")
