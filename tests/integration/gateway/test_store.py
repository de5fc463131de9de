"""One behavioural suite for every exchange-store backend, against the real thing.

Each test runs once per backend: ``sqlite`` (a file in the test's temp directory) and
``postgres`` (its own database on the session's real server). ``make_store`` gives more
instances on the *same* database, which is how two gateway replicas look to the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway import retention as retention_module
from gateway.errors import ServiceUnavailableError
from gateway.exchanges_api import exchange_json
from gateway.retention import RetentionSweep
from gateway.store.base import ExchangeRecord, ExchangeStatus, ExchangeStore
from gateway.store.postgres import PostgresExchangeStore
from gateway.store.sqlite import SqliteExchangeStore

StoreMaker = Callable[[], ExchangeStore]

T0 = datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)


def _record(n: int = 0, **changes: object) -> ExchangeRecord:
    """A pending exchange with every required field set; ``changes`` override fields."""
    base = ExchangeRecord(
        id=f"0195a1b2-0000-7000-8000-{n:012d}",
        requester="ES-L01080193",
        service="residence-certificate",
        version="1.2",
        provider="ES-L01080193-PADRON",
        purpose="subsidy-eligibility",
        official="official-42",
        subject_ref="pseud-" + "ab" * 16,
        request_digest="d" * 64,
        created_at=T0,
        deadline=T0 + timedelta(seconds=30),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreMaker:
    """A factory of store instances sharing one fresh database of the backend under test."""
    if request.param == "sqlite":
        return lambda: SqliteExchangeStore(tmp_path / "stores" / "exchanges.db")
    dsn: str = request.getfixturevalue("postgres_dsn")
    return lambda: PostgresExchangeStore(dsn)


@pytest.fixture
async def opened(make_store: StoreMaker) -> AsyncIterator[Callable[[], Awaitable[ExchangeStore]]]:
    """Open stores on demand and close every one of them at the end of the test."""
    stores: list[ExchangeStore] = []

    async def open_one() -> ExchangeStore:
        store = make_store()
        await store.open()
        stores.append(store)
        return store

    yield open_one
    for store in stores:
        await store.close()


@pytest.fixture
async def store(opened: Callable[[], Awaitable[ExchangeStore]]) -> ExchangeStore:
    """One open store on a fresh database."""
    return await opened()


async def test_round_trip_keeps_every_field(store: ExchangeStore) -> None:
    """A record with every optional field set reads back equal, datetimes aware in UTC."""
    madrid = timezone(timedelta(hours=2))
    record = _record(
        created_at=T0.astimezone(madrid),
        procedure="PROC-123",
        case_file="EXP/2025/0001",
        legal_basis="Ley 39/2015 art. 28",
        consent_ref="consent-7",
        idempotency_key="key-1",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        sent_digest="e" * 64,
    )
    outcome = await store.create(record)
    assert outcome.created
    completed = await store.complete(
        record.id,
        status=ExchangeStatus.COMPLETED,
        completed_at=T0 + timedelta(seconds=1),
        reply_status="ok",
        result={"nombre": "José Ñúñez", "municipio": "L'Hospitalet", "n": [1, 2.5, None]},
        error_code="NONE",
        error_detail="ünïcödé ✓",
    )
    got = await store.get(record.id)
    assert got is not None
    assert got == completed
    expected = dataclasses.replace(
        record,
        status=ExchangeStatus.COMPLETED,
        reply_status="ok",
        result={"nombre": "José Ñúñez", "municipio": "L'Hospitalet", "n": [1, 2.5, None]},
        error_code="NONE",
        error_detail="ünïcödé ✓",
        completed_at=T0 + timedelta(seconds=1),
    )
    assert got == expected
    for moment in (got.created_at, got.deadline, got.completed_at):
        assert moment is not None
        assert moment.utcoffset() == timedelta(0)
    assert got.created_at == T0  # the +02:00 input is the same instant
    assert isinstance(got.status, ExchangeStatus)


async def test_minimal_record_round_trips_with_nones(store: ExchangeStore) -> None:
    """Optional fields left out come back as None, status as PENDING."""
    record = _record(1)
    await store.create(record)
    assert await store.get(record.id) == record


async def test_get_unknown_is_none(store: ExchangeStore) -> None:
    """An id never stored reads as None, not an error."""
    assert await store.get("no-such-exchange") is None


async def test_idempotent_create_returns_the_existing_record(store: ExchangeStore) -> None:
    """A reused key gives back the first exchange; the caller sees its different digest."""
    first = _record(1, idempotency_key="same")
    assert (await store.create(first)).created
    again = await store.create(_record(2, idempotency_key="same", request_digest="e" * 64))
    assert not again.created
    assert again.record == first
    assert again.record.request_digest != "e" * 64
    assert await store.get(_record(2).id) is None


async def test_idempotency_key_is_per_requester(store: ExchangeStore) -> None:
    """The same key from another requester, or no key at all, creates new exchanges."""
    assert (await store.create(_record(1, idempotency_key="k"))).created
    assert (await store.create(_record(2, idempotency_key="k", requester="ES-OTHER"))).created
    assert (await store.create(_record(3))).created
    assert (await store.create(_record(4))).created
    mine = await store.get_by_idempotency_key(_record(1).requester, "k")
    theirs = await store.get_by_idempotency_key("ES-OTHER", "k")
    assert (mine and mine.id, theirs and theirs.id) == (_record(1).id, _record(2).id)
    assert await store.get_by_idempotency_key("ES-OTHER", "unused") is None
    assert await store.get_by_idempotency_key("ES-OTHER", "k\x00") is None


async def test_duplicate_id_is_refused(store: ExchangeStore) -> None:
    """Reusing an exchange id (a bug upstream) is a ValueError, not a silent no-op."""
    await store.create(_record(1))
    with pytest.raises(ValueError, match="already exists"):
        await store.create(_record(1, requester="ES-OTHER"))


async def test_concurrent_creates_with_one_key_create_one(
    opened: Callable[[], Awaitable[ExchangeStore]],
) -> None:
    """20 racing creates with one key, over two store instances, store exactly one."""
    stores = [await opened(), await opened()]
    outcomes = await asyncio.gather(
        *(stores[n % 2].create(_record(n, idempotency_key="race")) for n in range(20))
    )
    winners = [o for o in outcomes if o.created]
    assert len(winners) == 1
    assert {o.record.id for o in outcomes} == {winners[0].record.id}
    for n in range(20):
        found = await stores[0].get(_record(n).id)
        assert (found is not None) == (n == int(winners[0].record.id[-12:]))


async def test_complete_only_once(store: ExchangeStore) -> None:
    """The first complete wins; a duplicate reply changes nothing and returns None."""
    record = _record(1)
    await store.create(record)
    done = await store.complete(
        record.id, status=ExchangeStatus.FAILED, completed_at=T0, error_code="E1"
    )
    assert done is not None
    assert done.status is ExchangeStatus.FAILED
    assert done.error_code == "E1"
    again = await store.complete(
        record.id, status=ExchangeStatus.COMPLETED, completed_at=T0, reply_status="ok"
    )
    assert again is None
    assert await store.get(record.id) == done


async def test_expire_overdue_spares_the_exchanges_it_is_told_to(store: ExchangeStore) -> None:
    """Overdue exchanges whose reply is being ended are left PENDING; the rest time out."""
    spared, other = _record(1, deadline=T0), _record(2, deadline=T0)
    for record in (spared, other):
        await store.create(record)
    now = T0 + timedelta(minutes=1)
    expired = await store.expire_overdue(now, sparing={spared.id, "not-an-exchange"})
    assert [r.id for r in expired] == [other.id]
    still = await store.get(spared.id)
    assert still is not None
    assert still.status is ExchangeStatus.PENDING
    assert [r.id for r in await store.expire_overdue(now)] == [spared.id]


async def test_expire_overdue_leaves_another_owners_exchanges_until_told(
    opened: Callable[[], Awaitable[ExchangeStore]],
) -> None:
    """A replica times out its own overdue exchanges; another owner's (and those with
    no owner) only once their deadline is before ``others_before``. Two instances on one
    database, the owner stored with the exchange."""
    replica_a, replica_b = await opened(), await opened()
    mine = _record(1, deadline=T0, owner="rep:0,1")
    theirs = _record(2, deadline=T0, owner="rep:2,3")
    unowned = _record(3, deadline=T0)
    late_theirs = _record(4, deadline=T0 + timedelta(minutes=3), owner="rep:2,3")
    for record in (mine, theirs, unowned, late_theirs):
        await replica_a.create(record)
    stored = await replica_b.get(theirs.id)
    assert stored is not None
    assert stored.owner == "rep:2,3"
    now = T0 + timedelta(minutes=5)
    grace = timedelta(minutes=6)
    expired = await replica_b.expire_overdue(now, owner="rep:0,1", others_before=now - grace)
    assert [r.id for r in expired] == [mine.id]
    later = now + timedelta(minutes=2)
    expired = await replica_b.expire_overdue(later, owner="rep:0,1", others_before=later - grace)
    assert sorted(r.id for r in expired) == sorted([theirs.id, unowned.id])
    assert all(r.status is ExchangeStatus.TIMED_OUT for r in expired)
    still = await replica_a.get(late_theirs.id)
    assert still is not None
    assert still.status is ExchangeStatus.PENDING


async def test_complete_unknown_is_none(store: ExchangeStore) -> None:
    """Completing an exchange that was never stored returns None."""
    assert await store.complete("nope", status=ExchangeStatus.COMPLETED, completed_at=T0) is None


async def test_complete_refuses_pending_as_a_final_status(store: ExchangeStore) -> None:
    """PENDING is not a final status: asking for it is a programming error."""
    await store.create(_record(1))
    with pytest.raises(ValueError, match="final status"):
        await store.complete(_record(1).id, status=ExchangeStatus.PENDING, completed_at=T0)


async def test_expire_overdue_marks_only_overdue_pending(store: ExchangeStore) -> None:
    """Overdue pending exchanges time out once; on-time and finished ones are untouched."""
    overdue = [_record(n, deadline=T0 + timedelta(seconds=n)) for n in range(1, 4)]
    on_time = _record(10, deadline=T0 + timedelta(minutes=5))
    finished = _record(11, deadline=T0)
    for record in (*overdue, on_time, finished):
        await store.create(record)
    await store.complete(finished.id, status=ExchangeStatus.COMPLETED, completed_at=T0)
    now = T0 + timedelta(minutes=1)
    expired = await store.expire_overdue(now)
    assert [r.id for r in expired] == [r.id for r in overdue]
    assert all(r.status is ExchangeStatus.TIMED_OUT for r in expired)
    assert all(r.completed_at == now for r in expired)
    assert await store.expire_overdue(now) == []
    unchanged = await store.get(on_time.id)
    assert unchanged is not None
    assert unchanged.status is ExchangeStatus.PENDING
    done = await store.get(finished.id)
    assert done is not None
    assert done.status is ExchangeStatus.COMPLETED
    assert (
        await store.complete(overdue[0].id, status=ExchangeStatus.COMPLETED, completed_at=now)
        is None
    )


async def test_closing_events_are_owed_with_the_move_and_settled_once_written(
    opened: Callable[[], Awaitable[ExchangeStore]],
) -> None:
    """A timeout and a gateway failure owe their closing event from the statement that
    ends the exchange (seen by another replica's store too), oldest first; a reply's end
    owes nothing (its event was written first); settling clears exactly what is named."""
    store, other = await opened(), await opened()
    failed, answered, overdue = _record(1), _record(2), _record(3, deadline=T0)
    for record in (failed, answered, overdue):
        await store.create(record)
    assert await store.owed_closings() == []
    await store.complete(
        failed.id,
        status=ExchangeStatus.FAILED,
        completed_at=T0 + timedelta(minutes=2),
        error_code="GATEWAY_SEND_FAILED",
        closing_owed=True,
    )
    await store.complete(
        answered.id, status=ExchangeStatus.COMPLETED, completed_at=T0, reply_status="ok"
    )
    await store.expire_overdue(T0 + timedelta(minutes=1))
    owed = await other.owed_closings()
    assert [(r.id, r.status) for r in owed] == [
        (overdue.id, ExchangeStatus.TIMED_OUT),
        (failed.id, ExchangeStatus.FAILED),
    ]
    assert await other.count_owed_closings() == 2
    assert [r.id for r in await store.owed_closings(limit=1)] == [overdue.id]
    await other.settle_closings([overdue.id])
    assert [r.id for r in await store.owed_closings()] == [failed.id]
    await store.settle_closings([failed.id, "unknown"])
    await store.settle_closings([])
    assert await store.owed_closings() == []
    assert await store.count_owed_closings() == 0


async def test_results_past_retention_are_erased_and_the_record_kept(
    store: ExchangeStore,
) -> None:
    """Results of exchanges that ended before the cutoff are erased (limit per call); newer
    ones, pending ones and every record's status and metadata stay."""
    old = [_record(n) for n in range(1, 4)]
    recent, pending = _record(10), _record(11)
    for record in (*old, recent, pending):
        await store.create(record)
    for n, record in enumerate(old):
        await store.complete(
            record.id,
            status=ExchangeStatus.COMPLETED,
            completed_at=T0 + timedelta(seconds=n),
            reply_status="ok",
            result={"band": "A"},
        )
    await store.complete(
        recent.id,
        status=ExchangeStatus.COMPLETED,
        completed_at=T0 + timedelta(days=40),
        reply_status="ok",
        result={"band": "B"},
    )
    cutoff = T0 + timedelta(days=30)
    assert await store.erase_results(cutoff, limit=2) == 2
    assert await store.erase_results(cutoff, limit=10) == 1
    assert await store.erase_results(cutoff) == 0
    for record in old:
        erased = await store.get(record.id)
        assert erased is not None
        assert (erased.status, erased.result, erased.reply_status) == (
            ExchangeStatus.COMPLETED,
            None,
            "ok",
        )
    kept = await store.get(recent.id)
    assert kept is not None
    assert kept.result == {"band": "B"}
    still = await store.get(pending.id)
    assert still is not None
    assert still.status is ExchangeStatus.PENDING


async def test_the_retention_sweep_erases_in_batches_and_the_api_says_so(
    store: ExchangeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``RetentionSweep.run_once`` erases every result past retention batch by batch (a batch
    of 2 here, 5 old results), keeps a recent one, and the API body of an erased exchange says
    ``result_erased`` with ``data: null`` while a kept one still carries its data."""
    monkeypatch.setattr(retention_module, "_BATCH", 2)
    old = [_record(n) for n in range(1, 6)]
    recent = _record(10)
    for n, record in enumerate((*old, recent)):
        await store.create(record)
        ended = T0 + timedelta(days=40 if record is recent else 0, seconds=n)
        await store.complete(
            record.id,
            status=ExchangeStatus.COMPLETED,
            completed_at=ended,
            reply_status="ok",
            result={"band": "A"},
        )
    sweep = RetentionSweep(
        store=store,
        retention=timedelta(days=30),
        interval_s=3600.0,
        clock=lambda: T0 + timedelta(days=45),
    )
    assert await sweep.run_once() == 5
    assert await sweep.run_once() == 0
    erased = await store.get(old[0].id)
    kept = await store.get(recent.id)
    assert erased is not None
    assert kept is not None
    erased_body, kept_body = exchange_json(erased), exchange_json(kept)
    assert (erased_body["status"], erased_body["data"], erased_body["result_erased"]) == (
        "completed",
        None,
        True,
    )
    assert (kept_body["data"], kept_body["result_erased"]) == ({"band": "A"}, False)


async def test_expire_overdue_respects_limit(store: ExchangeStore) -> None:
    """``limit`` caps one call; the next call takes the rest, oldest deadline first."""
    for n in range(5):
        await store.create(_record(n, deadline=T0 + timedelta(seconds=5 - n)))
    now = T0 + timedelta(minutes=1)
    first = await store.expire_overdue(now, limit=2)
    rest = await store.expire_overdue(now, limit=10)
    assert [r.id for r in first] == [_record(4).id, _record(3).id]
    assert len(rest) == 3
    assert {r.id for r in first}.isdisjoint(r.id for r in rest)


async def test_two_replicas_expire_each_exchange_once(
    opened: Callable[[], Awaitable[ExchangeStore]],
) -> None:
    """Two instances racing expire_overdue (small batches) hand out each exchange once."""
    replica_a, replica_b = await opened(), await opened()
    for n in range(60):
        await replica_a.create(_record(n, deadline=T0 + timedelta(milliseconds=n)))
    now = T0 + timedelta(minutes=1)

    async def drain(store: ExchangeStore) -> list[str]:
        taken: list[str] = []
        while batch := await store.expire_overdue(now, limit=7):
            taken.extend(r.id for r in batch)
        return taken

    taken_a, taken_b = await asyncio.gather(drain(replica_a), drain(replica_b))
    everything = taken_a + taken_b
    assert len(everything) == 60
    assert len(set(everything)) == 60


async def test_hostile_strings_are_stored_verbatim(store: ExchangeStore) -> None:
    """Quotes, SQL-looking text and unusual unicode come back byte for byte."""
    hostile = [
        "'; DROP TABLE exchanges; --",
        '" OR 1=1 --',
        "Robert'); DELETE FROM schema_version;--",
        "\\x00 not a nul, a backslash",
        "ñ 漢字 🇪🇸 \u202e right-to-left \U0001f600",
        "$1 :now ? %s {}",
        "line\nbreak\ttab\r",
    ]
    for n, text in enumerate(hostile):
        record = _record(
            n,
            requester=text,
            subject_ref=text,
            case_file=text,
            idempotency_key=text,
        )
        assert (await store.create(record)).created
        done = await store.complete(
            record.id,
            status=ExchangeStatus.COMPLETED,
            completed_at=T0,
            result={text: text, "nul": "a\x00b"},
            error_detail=text,
        )
        assert done is not None
        assert await store.get(record.id) == done
        assert done.result == {text: text, "nul": "a\x00b"}
        assert done.case_file == text
    assert await store.get(hostile[0]) is None


async def test_nul_in_text_is_refused_by_every_backend(store: ExchangeStore) -> None:
    """A NUL in a text field (PostgreSQL cannot hold it) is a ValueError everywhere."""
    with pytest.raises(ValueError, match="NUL"):
        await store.create(_record(1, case_file="a\x00b"))
    assert await store.get(_record(1).id) is None


async def test_naive_datetimes_are_refused(store: ExchangeStore) -> None:
    """A naive datetime has no zone to trust: refused, not guessed."""
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.create(_record(1, deadline=datetime(2025, 1, 1)))
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.expire_overdue(datetime(2025, 1, 1))


async def test_ping_answers_when_open(store: ExchangeStore) -> None:
    """An open store answers a ping."""
    await store.ping()


async def test_ping_after_close_is_service_unavailable(make_store: StoreMaker) -> None:
    """A closed (or never opened) store is not ready; close twice is harmless."""
    store = make_store()
    with pytest.raises(ServiceUnavailableError):
        await store.ping()
    await store.open()
    await store.close()
    await store.close()
    with pytest.raises(ServiceUnavailableError, match="not open"):
        await store.ping()
    with pytest.raises(ServiceUnavailableError):
        await store.get("x")


async def test_open_twice_and_concurrently_is_safe(
    make_store: StoreMaker, opened: Callable[[], Awaitable[ExchangeStore]]
) -> None:
    """Opening one instance twice, and four instances at once, migrates exactly once."""
    stores = await asyncio.gather(*(opened() for _ in range(4)))
    await stores[0].open()
    await stores[0].create(_record(1))
    for other in stores[1:]:
        assert await other.get(_record(1).id) == _record(1)
    reopened = make_store()
    await reopened.open()
    try:
        assert await reopened.get(_record(1).id) == _record(1)
    finally:
        await reopened.close()


# -- SQLite only ----------------------------------------------------------------------


async def test_sqlite_unopenable_path_is_service_unavailable(tmp_path: Path) -> None:
    """A path that is a directory cannot be opened: a 503, naming the file, not sqlite3's."""
    (tmp_path / "a-directory.db").mkdir()
    store = SqliteExchangeStore(tmp_path / "a-directory.db")
    with pytest.raises(ServiceUnavailableError, match=r"a-directory\.db.*could not open") as info:
        await store.open()
    assert info.value.__cause__ is not None


async def test_sqlite_uses_wal_and_records_schema_version(tmp_path: Path) -> None:
    """The file is in WAL mode and schema_version says 3 after open (2: sent_digest,
    3: closing_owed)."""
    import sqlite3

    path = tmp_path / "deep" / "dir" / "x.db"
    store = SqliteExchangeStore(path)
    await store.open()
    await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT * FROM schema_version").fetchall() == [("exchanges", 4)]
    db.close()


def test_sqlite_refuses_memory_database() -> None:
    """``:memory:`` would lose pending exchanges on restart: refused at construction."""
    with pytest.raises(ValueError, match="file path"):
        SqliteExchangeStore(":memory:")
