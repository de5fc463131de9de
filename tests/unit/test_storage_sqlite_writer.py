"""``SqliteWriter``: concurrent writes group-committed, each with its own outcome."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

from storage.sqlite import connect_sqlite
from storage.sqlite_writer import SqliteWriter


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    connection = await connect_sqlite(tmp_path / "w.db", busy_timeout_s=2.0)
    await connection.execute("PRAGMA journal_mode = WAL")
    await connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    try:
        yield connection
    finally:
        await connection.close()


async def _count(db: aiosqlite.Connection) -> int:
    return int(next(iter(await db.execute_fetchall("SELECT count(*) FROM t")))[0])


async def test_concurrent_writes_share_transactions_and_all_land(
    db: aiosqlite.Connection,
) -> None:
    """200 writes at once: every one stored and answered, in far fewer transactions."""
    writer = SqliteWriter(db)
    writer.start()
    try:
        results = await asyncio.gather(
            *(writer.write("INSERT INTO t (id, v) VALUES (?, ?)", (i, f"v{i}")) for i in range(200))
        )
    finally:
        await writer.stop()
    assert [r.rowcount for r in results] == [1] * 200
    assert await _count(db) == 200
    assert 1 <= writer.transactions <= 20, writer.transactions


async def test_a_failing_write_fails_alone(db: aiosqlite.Connection) -> None:
    """A constraint error answers only its own caller; the writes beside it are stored,
    and RETURNING rows reach theirs."""
    writer = SqliteWriter(db)
    writer.start()
    try:
        await writer.write("INSERT INTO t (id, v) VALUES (1, 'one')")
        outcomes = await asyncio.gather(
            writer.write("INSERT INTO t (id, v) VALUES (2, 'two') RETURNING v"),
            writer.write("INSERT INTO t (id, v) VALUES (1, 'again')"),
            writer.write("UPDATE t SET v = 'uno' WHERE id = ? RETURNING id, v", (1,)),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
    inserted, duplicate, updated = outcomes
    assert isinstance(duplicate, sqlite3.IntegrityError)
    assert not isinstance(inserted, BaseException)
    assert [tuple(r) for r in inserted.rows] == [("two",)]
    assert not isinstance(updated, BaseException)
    assert [tuple(r) for r in updated.rows] == [(1, "uno")]
    rows = await db.execute_fetchall("SELECT id, v FROM t ORDER BY id")
    assert [tuple(r) for r in rows] == [(1, "uno"), (2, "two")]


async def test_stop_applies_what_is_queued_and_later_writes_are_refused(
    db: aiosqlite.Connection,
) -> None:
    """Writes queued when stop is called are applied (never cancelled half-way); a write
    after stop is refused with an error, not left waiting."""
    writer = SqliteWriter(db)
    writer.start()
    queued = [
        asyncio.ensure_future(writer.write("INSERT INTO t (id, v) VALUES (?, 'x')", (i,)))
        for i in range(50)
    ]
    await asyncio.sleep(0)  # the writes are queued before stop begins
    await writer.stop()
    assert all(task.done() and task.exception() is None for task in queued)
    assert await _count(db) == 50
    with pytest.raises(sqlite3.OperationalError, match="not open"):
        await writer.write("INSERT INTO t (id, v) VALUES (99, 'late')")


async def test_an_error_that_ends_the_transaction_fails_the_whole_batch(
    db: aiosqlite.Connection,
) -> None:
    """A statement whose error rolls the whole transaction back (a trigger's
    RAISE(ROLLBACK), as a full disk would): nothing of the batch is stored, so every write
    of it fails, and the next write starts a fresh transaction."""
    await db.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON t WHEN NEW.v = 'boom'"
        " BEGIN SELECT RAISE(ROLLBACK, 'refused'); END"
    )
    writer = SqliteWriter(db)
    writer.start()
    try:
        outcomes = await asyncio.gather(
            writer.write("INSERT INTO t (id, v) VALUES (10, 'a')"),
            writer.write("INSERT INTO t (id, v) VALUES (11, 'boom')"),
            writer.write("INSERT INTO t (id, v) VALUES (12, 'b')"),
            return_exceptions=True,
        )
        after = await writer.write("INSERT INTO t (id, v) VALUES (13, 'c')")
    finally:
        await writer.stop()
    assert all(isinstance(o, sqlite3.Error) for o in outcomes), outcomes
    assert after.rowcount == 1
    rows = await db.execute_fetchall("SELECT id FROM t ORDER BY id")
    assert [r[0] for r in rows] == [13]


async def test_writes_failing_past_the_grace_are_reported_a_constraint_is_not(
    db: aiosqlite.Connection,
) -> None:
    """A store that refuses every write still answers ``SELECT 1``: the writer says so
    once every transaction has failed for the grace period and the last failure is
    recent. A statement's own constraint error, one failure, or a success say nothing."""
    now = [1000.0]
    writer = SqliteWriter(db, clock=lambda: now[0])
    writer.start()
    try:
        await writer.write("INSERT INTO t (id, v) VALUES (?, 'a')", (1,))
        with pytest.raises(sqlite3.IntegrityError):
            await writer.write("INSERT INTO t (id, v) VALUES (?, 'a')", (1,))
        assert writer.failing(3.0) is None
        with pytest.raises(sqlite3.OperationalError):
            await writer.write("INSERT INTO missing (id) VALUES (?)", (2,))
        assert writer.failing(3.0) is None  # a blip
        now[0] += 3.5
        with pytest.raises(sqlite3.OperationalError):
            await writer.write("INSERT INTO missing (id) VALUES (?)", (3,))
        reason = writer.failing(3.0)
        assert reason is not None
        assert reason.startswith("writes have failed for 4 s (OperationalError: no such table")
        now[0] += 3.0
        assert writer.failing(3.0) is None  # nothing tried since: not judged on it
        await writer.write("INSERT INTO t (id, v) VALUES (?, 'a')", (4,))
        now[0] += 10.0
        assert writer.failing(3.0) is None
    finally:
        await writer.stop()
