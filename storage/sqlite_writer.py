"""Group commit for one SQLite connection: writes that arrive together share a transaction.

Every exchange writes its store at least twice (created, then ended), and a connector once
per reply. As autocommit statements, each write was its own transaction: a thread hand-off,
the file locks, the WAL frames and an ``fdatasync``, one after another on the connection's
single thread, so 64 concurrent exchanges queued behind 64 syncs. Here the writes waiting
when a transaction starts are applied in the next one, in one hand-off: N writes cost one
sync and one lock cycle. A lone write costs what it did before (one hand-off, one sync).

Each write keeps its own outcome. A statement that fails (a constraint, say) fails alone:
SQLite backs out only that statement and the transaction goes on. An error that ends the
transaction itself (disk full, I/O error) or a failed ``COMMIT`` fails every write of the
batch, since none of them is stored. A caller is answered only after ``COMMIT`` returned,
so an acknowledged write is as durable as an autocommit one was.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import aiosqlite

__all__ = ["SqliteWriter", "WriteResult"]

_MAX_BATCH: Final = 256
"""Writes per transaction at most: bounds how long one transaction holds the write lock."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one write did: the rows it returned (``RETURNING``) and the rows it changed."""

    rows: list[sqlite3.Row]
    rowcount: int


@dataclass(slots=True)
class _Write:
    sql: str
    params: Sequence[Any] | dict[str, Any]
    done: asyncio.Future[WriteResult]


class SqliteWriter:
    """Applies the writes of one aiosqlite connection in group-committed transactions."""

    def __init__(
        self, db: aiosqlite.Connection, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._db = db
        self._clock = clock
        self._queue: list[_Write] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0
        """Transactions begun so far (writes per transaction = how much grouping paid)."""
        self._failing_since: float | None = None
        self._last_failure: tuple[float, str] | None = None

    def failing(self, grace_s: float) -> str | None:
        """Why writes fail, when every transaction has failed for ``grace_s`` or more and
        the last one less than ``grace_s`` ago (a blip is not an outage; a store left
        alone since its last failure is not judged on it); else None. ``ping`` cannot
        tell: a store refusing every write still answers ``SELECT 1``."""
        since, last = self._failing_since, self._last_failure
        if since is None or last is None:
            return None
        now = self._clock()
        if now - since < grace_s or now - last[0] >= grace_s:
            return None
        return f"writes have failed for {now - since:.0f} s ({last[1]})"

    def _record(self, outcomes: Sequence[WriteResult | Exception]) -> None:
        # A statement's own error (a constraint) says nothing about the store; any other
        # error (read-only file, disk full, I/O error, a lock never released) does.
        failure = next(
            (
                o
                for o in outcomes
                if isinstance(o, Exception) and not isinstance(o, sqlite3.IntegrityError)
            ),
            None,
        )
        if failure is None:
            self._failing_since = None
            return
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
        self._last_failure = (now, f"{type(failure).__name__}: {failure}")

    def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="sqlite-group-commit")

    async def stop(self) -> None:
        """Apply what is queued, then stop (the connection stays open). Never cancels a
        transaction half-way: its writes would be stored with their callers told no."""
        task, self._task = self._task, None
        if task is None:
            return
        self._closing = True
        self._wake.set()
        await task

    async def write(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> WriteResult:
        """Apply one statement in the next transaction; raises what sqlite3 raised for it."""
        if self._task is None:
            raise sqlite3.OperationalError("the store is not open")
        done: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._queue.append(_Write(sql, params, done))
        self._wake.set()
        return await done

    async def _run(self) -> None:
        batch: list[_Write] = []
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    batch, self._queue = self._queue[:_MAX_BATCH], self._queue[_MAX_BATCH:]
                    self.transactions += 1
                    try:
                        # aiosqlite runs a function on the connection's own thread with
                        # ``_execute`` (its public calls are built on it): one hand-off
                        # for the whole transaction instead of one per statement.
                        outcomes: Sequence[WriteResult | Exception] = await self._db._execute(  # type: ignore[no-untyped-call]
                            _apply, self._db._conn, batch
                        )
                    except Exception as exc:  # the connection itself failed
                        outcomes = [exc] * len(batch)
                    self._record(outcomes)
                    _settle(batch, outcomes)
                    batch = []
                if self._closing:
                    return
        finally:  # cancelled with the event loop: nobody waits forever
            closing = sqlite3.OperationalError("the store is closing")
            _settle(batch + self._queue, [closing] * (len(batch) + len(self._queue)))
            self._queue = []


def _settle(batch: list[_Write], outcomes: Sequence[WriteResult | Exception]) -> None:
    for write, outcome in zip(batch, outcomes, strict=True):
        if write.done.done():
            continue
        if isinstance(outcome, Exception):
            write.done.set_exception(outcome)
        else:
            write.done.set_result(outcome)


def _apply(conn: sqlite3.Connection, batch: list[_Write]) -> list[WriteResult | Exception]:
    """On the connection's thread: the batch in one transaction, an outcome per write."""
    try:
        conn.execute("BEGIN IMMEDIATE")  # waits the busy timeout for the write lock
    except sqlite3.Error as exc:
        return [exc] * len(batch)
    try:
        return _apply_begun(conn, batch)
    except BaseException:  # never leave the connection inside a transaction
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


def _apply_begun(conn: sqlite3.Connection, batch: list[_Write]) -> list[WriteResult | Exception]:
    outcomes: list[WriteResult | Exception] = []
    for write in batch:
        try:
            cursor = conn.execute(write.sql, write.params)
            rows = cursor.fetchall()  # runs the statement to its end before COMMIT
            outcomes.append(WriteResult(rows, cursor.rowcount))
        except sqlite3.Error as exc:
            if not conn.in_transaction:  # the error ended the transaction: nothing stored
                return [exc] * len(batch)
            outcomes.append(exc)
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        return [exc] * len(batch)
    return outcomes
