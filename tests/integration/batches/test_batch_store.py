"""One behavioural suite for both batch-store backends, against the real databases.

Each test runs on SQLite (a file in the test's temp directory) and on PostgreSQL (a fresh
database on the session's real server). ``make_store`` gives several instances on one
database: that is how two gateway replicas see the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway import retention as retention_module
from gateway.batches.records import BatchRecord, BatchStore, ItemStatus, NewItem
from gateway.batches.store_postgres import PostgresBatchStore
from gateway.batches.store_sqlite import SqliteBatchStore
from gateway.retention import RetentionSweep
from gateway.store.sqlite import SqliteExchangeStore

T0 = datetime(2026, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)
StoreMaker = Callable[[], BatchStore]


def _batch(n: int = 0, *, key: str | None = None, digest: str = "d" * 64) -> BatchRecord:
    return BatchRecord(
        id=f"0195a1b2-0000-7000-8000-{n:012d}",
        requester="it.town",
        request_digest=digest,
        envelope={"service": "register.residence-certificate", "version": "1", "purpose": "p"},
        provider="ES-PADRON",
        item_count=3,
        created_at=T0 + timedelta(seconds=n),
        idempotency_key=key,
    )


def _items(count: int = 3) -> list[NewItem]:
    return [
        NewItem(
            index=i,
            subject=f"1234567{i}Z",
            data={"document_number": f"1234567{i}Z", "nombre": "José Ñúñez"},
            item_ref=f"ref-{i}",
            consent_ref="consent-1" if i == 0 else None,
        )
        for i in range(count)
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreMaker:
    """A factory of batch stores sharing one fresh database of the backend under test."""
    if request.param == "sqlite":
        return lambda: SqliteBatchStore(tmp_path / "gateway.db")
    dsn: str = request.getfixturevalue("postgres_dsn")
    return lambda: PostgresBatchStore(dsn)


@pytest.fixture
async def opened(make_store: StoreMaker) -> AsyncIterator[Callable[[], Awaitable[BatchStore]]]:
    """Open stores on demand; close them all at the end."""
    stores: list[BatchStore] = []

    async def open_one() -> BatchStore:
        store = make_store()
        await store.open()
        stores.append(store)
        return store

    yield open_one
    for store in stores:
        await store.close()


async def test_a_batch_and_its_items_round_trip(
    opened: Callable[[], Awaitable[BatchStore]],
) -> None:
    """Created whole: the batch reads back equal, every item pending with its fields."""
    store = await opened()
    batch, created = await store.create(_batch(key="k1"), _items())
    assert created
    assert await store.get(batch.id) == batch
    items = await store.pending_items(batch.id, limit=10)
    assert [i.index for i in items] == [0, 1, 2]
    assert items[0].subject == "12345670Z"
    assert items[0].data == {"document_number": "12345670Z", "nombre": "José Ñúñez"}
    assert items[0].consent_ref == "consent-1"
    assert items[1].item_ref == "ref-1"
    assert await store.counts(batch.id) == {ItemStatus.PENDING: 3}
    assert await store.count_active() == 1


async def test_the_same_key_finds_the_earlier_batch_and_adds_no_items(
    opened: Callable[[], Awaitable[BatchStore]],
) -> None:
    """A second create with the requester's key returns the first batch, unchanged."""
    store = await opened()
    first, _ = await store.create(_batch(1, key="same"), _items())
    again, created = await store.create(_batch(2, key="same", digest="e" * 64), _items(5))
    assert not created
    assert again.id == first.id
    assert again.request_digest == "d" * 64
    assert await store.counts(first.id) == {ItemStatus.PENDING: 3}
    assert await store.get(_batch(2).id) is None


async def test_sent_erases_subject_and_data_and_outcomes_are_recorded_once(
    opened: Callable[[], Awaitable[BatchStore]],
) -> None:
    """mark_sent links the exchange and forgets the personal fields; an outcome is kept
    once; the batch finishes when nothing is pending or sent."""
    store = await opened()
    batch, _ = await store.create(_batch(), _items())
    await store.mark_sent(batch.id, 0, "ex-0")
    await store.mark_sent(batch.id, 1, "ex-1")
    sent = await store.sent_items(batch.id)
    assert [(i.index, i.exchange_id, i.subject, i.data) for i in sent] == [
        (0, "ex-0", None, None),
        (1, "ex-1", None, None),
    ]
    assert await store.mark_final(batch.id, 0, ItemStatus.FOUND)
    assert not await store.mark_final(batch.id, 0, ItemStatus.FAILED, "X")
    assert await store.mark_final(batch.id, 2, ItemStatus.DENIED, "CONSENT_REQUIRED")
    assert not await store.finish_if_done(batch.id, T0)
    assert await store.mark_final(batch.id, 1, ItemStatus.NOT_FOUND)
    assert await store.finish_if_done(batch.id, T0)
    page = await store.items_page(batch.id, after=-1, limit=10)
    assert [(i.status, i.error_code, i.subject) for i in page] == [
        (ItemStatus.FOUND, None, None),
        (ItemStatus.NOT_FOUND, None, None),
        (ItemStatus.DENIED, "CONSENT_REQUIRED", None),
    ]
    finished = await store.get(batch.id)
    assert finished is not None
    assert finished.finished_at == T0
    assert await store.count_active() == 0


async def test_cancel_takes_only_pending_items(
    opened: Callable[[], Awaitable[BatchStore]],
) -> None:
    """Pending items are cancelled (their data erased); a sent one is left to finish."""
    store = await opened()
    batch, _ = await store.create(_batch(), _items())
    await store.mark_sent(batch.id, 0, "ex-0")
    assert await store.cancel(batch.id, T0) == 2
    assert await store.cancel(batch.id, T0 + timedelta(seconds=5)) == 0
    page = await store.items_page(batch.id, after=-1, limit=10)
    assert [i.status for i in page] == [ItemStatus.SENT, ItemStatus.CANCELLED, ItemStatus.CANCELLED]
    assert all(i.data is None for i in page)
    stored = await store.get(batch.id)
    assert stored is not None
    assert stored.cancelled_at == T0  # the first cancel's time stays


async def test_finished_batches_past_the_cutoff_are_purged_with_their_items(
    opened: Callable[[], Awaitable[BatchStore]],
) -> None:
    """Only batches finished before the cutoff go, oldest first and at most ``limit`` at
    a time, with their items; a running batch and a recent one stay; the key is free."""
    store = await opened()
    old = [(await store.create(_batch(n, key=f"k-{n}"), _items()))[0] for n in range(3)]
    recent, _ = await store.create(_batch(3), _items())
    running, _ = await store.create(_batch(4), _items())
    for n, batch in enumerate([*old, recent]):
        assert await store.cancel(batch.id, T0) == 3
        assert await store.finish_if_done(batch.id, T0 + timedelta(days=n if n < 3 else 40))
    cutoff = T0 + timedelta(days=30)
    assert await store.purge_finished(cutoff, limit=2) == 2
    assert await store.get(old[0].id) is None
    assert await store.get(old[1].id) is None
    assert await store.get(old[2].id) is not None
    assert await store.purge_finished(cutoff, limit=2) == 1
    assert await store.purge_finished(cutoff, limit=2) == 0
    for batch in old:
        assert await store.get(batch.id) is None
        assert await store.items_page(batch.id, after=-1, limit=10) == []
    for batch in (recent, running):
        assert await store.get(batch.id) is not None
        assert len(await store.items_page(batch.id, after=-1, limit=10)) == 3
    again, created = await store.create(_batch(9, key="k-0"), _items())
    assert created
    assert again.id != old[0].id


async def test_the_retention_sweep_purges_finished_batches_in_rounds(
    opened: Callable[[], Awaitable[BatchStore]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``RetentionSweep.run_once`` purges every batch finished past the exchanges' result
    retention, round after round (2 per round here), and keeps a recent one."""
    monkeypatch.setattr(retention_module, "_BATCHES", 2)
    store = await opened()
    batches = [(await store.create(_batch(n), _items(1)))[0] for n in range(6)]
    for n, batch in enumerate(batches):
        await store.cancel(batch.id, T0)
        assert await store.finish_if_done(batch.id, T0 + timedelta(days=40 if n == 5 else 0))
    exchanges = SqliteExchangeStore(tmp_path / "exchanges.db")
    await exchanges.open()
    try:
        sweep = RetentionSweep(
            store=exchanges,
            retention=timedelta(days=30),
            interval_s=60,
            clock=lambda: T0 + timedelta(days=31),
            batches=store,
        )
        await sweep.run_once()
    finally:
        await exchanges.close()
    assert [await store.get(b.id) is None for b in batches] == [True] * 5 + [False]


async def test_leases_go_to_one_owner_and_pass_on_when_they_expire(
    opened: Callable[[], Awaitable[BatchStore]],
) -> None:
    """Two replicas claiming at once share nothing; a lease renews for its owner, and a
    lapsed or released one passes to the other replica."""
    one, two = await opened(), await opened()
    for n in range(4):
        await one.create(_batch(n), _items(1))
    until = T0 + timedelta(seconds=30)
    got_one, got_two = await asyncio.gather(
        one.claim("r1", now=T0, lease_until=until, limit=2),
        two.claim("r2", now=T0, lease_until=until, limit=2),
    )
    ids_one, ids_two = {b.id for b in got_one}, {b.id for b in got_two}
    assert not ids_one & ids_two
    assert len(ids_one | ids_two) == 4
    renewed = await one.claim("r1", now=T0 + timedelta(seconds=10), lease_until=until, limit=10)
    assert {b.id for b in renewed} == ids_one
    assert all(b.owner == "r1" for b in renewed)
    later = T0 + timedelta(seconds=31)
    taken = await two.claim("r2", now=later, lease_until=later + timedelta(seconds=30), limit=10)
    assert {b.id for b in taken} == ids_one | ids_two
    some = sorted(ids_two)[0]
    await two.release(some, "r2")
    back = await one.claim("r1", now=later, lease_until=later + timedelta(seconds=30), limit=10)
    assert {b.id for b in back} == {some}


async def test_an_owner_renews_its_own_batches_first(
    opened: Callable[[], Awaitable[BatchStore]],
) -> None:
    """With a page smaller than what is claimable, the owner's own lease is renewed
    before older unowned batches are taken (its run is never dropped for them)."""
    store = await opened()
    for n in range(3):
        await store.create(_batch(n), _items(1))
    until = T0 + timedelta(seconds=30)
    await store.claim("r2", now=T0, lease_until=until, limit=3)
    await store.release(_batch(2).id, "r2")
    assert [b.id for b in await store.claim("r1", now=T0, lease_until=until, limit=1)] == [
        _batch(2).id
    ]
    await store.release(_batch(0).id, "r2")
    await store.release(_batch(1).id, "r2")  # older batches, unowned now
    renewed = await store.claim("r1", now=T0, lease_until=until, limit=1)
    assert [b.id for b in renewed] == [_batch(2).id]
    assert [b.id for b in await store.claim("r1", now=T0, lease_until=until, limit=3)] == [
        _batch(0).id,
        _batch(1).id,
        _batch(2).id,
    ]


async def test_members_take_turns_in_a_claim(
    opened: Callable[[], Awaitable[BatchStore]],
) -> None:
    """Five batches of one member, then one of another: a page of three holds the other
    member's (a member with more batches than a page kept everyone else's out)."""
    store = await opened()
    for n in range(5):
        await store.create(_batch(n), _items(1))
    late = replace(_batch(9), requester="it.getafe")
    await store.create(late, _items(1))
    until = T0 + timedelta(seconds=30)
    claimed = await store.claim("r1", now=T0, lease_until=until, limit=3)
    assert [b.id for b in claimed] == [_batch(0).id, _batch(1).id, late.id]


async def test_batches_share_the_gateway_database(tmp_path: Path) -> None:
    """The SQLite batch store lives in the exchange store's file, as its own component."""
    path = tmp_path / "gateway.db"
    exchanges, batches = SqliteExchangeStore(path), SqliteBatchStore(path)
    await exchanges.open()
    await batches.open()
    try:
        batch, created = await batches.create(_batch(), _items())
        assert created
        assert await batches.get(batch.id) == batch
        await exchanges.ping()
    finally:
        await batches.close()
        await exchanges.close()
