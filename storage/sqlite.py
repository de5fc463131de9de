"""One way to open an aiosqlite connection, shared by every SQLite store of the project.

The exchange store, the consent store and the connectors' reply store all open SQLite
the same way: autocommit mode (they issue ``BEGIN``/``COMMIT`` themselves), a busy
timeout so concurrent writers wait instead of failing, rows as ``sqlite3.Row``.

It also fixes a leak in aiosqlite (0.22): when the connect itself fails (a directory
instead of a file, no permission), aiosqlite queues its worker thread's stop but does not
wait for it. The thread then reports to the event loop later - after a short-lived loop
(a CLI command, a test) has closed, which raises in the thread. Here the failed worker is
joined before the error propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import aiosqlite

from storage.lifecycle import StoreLifecycle
from storage.migrations import Migrations, SchemaTooNewError, migrate_sqlite
from storage.sqlite_writer import SqliteWriter, WriteResult

__all__ = ["SqliteDatabase", "SqliteStore", "connect_sqlite", "create_private"]

_JOIN_TIMEOUT_S: Final = 5.0
_WRITES_GRACE_S: Final = 3.0
"""How long every write must have failed before ``ping`` says so (as the gateway's audit
trail check does): one failed transaction is a blip."""


def create_private(path: Path) -> None:
    """Create the database file owner-only (0600) before SQLite opens it: SQLite gives its
    ``-wal``, ``-shm`` and journal files the database file's mode, and the file holds
    personal data. An existing file is tightened the same way.

    Never through a descriptor of the file itself: closing *any* descriptor of a file
    drops every POSIX lock this process holds on it, SQLite's included. A gateway opens
    its exchange, consent and batch stores on one file; opening and closing it here for
    the second store silently unlocked the first, so another process's clean close took
    itself for the last user, checkpointed and deleted the WAL, and this process's later
    commits went to the deleted file: lost (``tests/unit/test_storage_sqlite.py``).
    """
    if str(path) in ("", ":memory:"):
        return
    try:
        os.chmod(path, 0o600)  # by path: no descriptor
        return
    except FileNotFoundError:
        pass
    # Created under a temporary name and linked into place, so no descriptor of ours is
    # open on the file once another connection can find it; linking never replaces a
    # file another store created meanwhile.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    with contextlib.suppress(FileNotFoundError):  # left by a process that died here
        os.unlink(temporary)
    os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        os.link(temporary, path)
    except FileExistsError:
        os.chmod(path, 0o600)
    finally:
        os.unlink(temporary)


async def connect_sqlite(path: Path, *, busy_timeout_s: float) -> aiosqlite.Connection:
    """An open connection to ``path`` (created if missing); raises what sqlite3 raises."""
    with contextlib.suppress(OSError):  # unopenable: sqlite3 reports it below, precisely
        create_private(path)
    pending = aiosqlite.connect(path, timeout=busy_timeout_s, isolation_level=None)
    try:
        db = await pending
    except BaseException:
        worker = getattr(pending, "_thread", None)  # private, hence the guard
        if isinstance(worker, threading.Thread) and worker.is_alive():
            await asyncio.to_thread(worker.join, _JOIN_TIMEOUT_S)
        raise
    try:
        db.row_factory = sqlite3.Row
        await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    except BaseException:
        await db.close()
        raise
    return db


class SqliteDatabase:
    """The SQLite file of one store: its connection, WAL mode, migrations, error translation.

    Every SQLite store (exchanges, consents, a connector's replies) holds one of these and
    keeps only its own SQL. ``error`` builds the store's own exception from a message
    (the gateway answers 503 for ``ServiceUnavailableError``; a connector retries on
    ``ReplyStoreError``), so callers see one error type per store, naming the file.

    Statements run on the one connection with no lock and no explicit transaction: each
    is one autocommit transaction, and aiosqlite runs a connection's statements one at a
    time, in order, on its own thread. A lock held across ``BEGIN IMMEDIATE``, the
    statement and ``COMMIT`` made every caller wait for three thread hand-offs of each
    one before it: under concurrent exchanges that queue, not SQLite, was most of an
    exchange's latency (see docs/benchmarks.md).
    """

    def __init__(
        self,
        path: Path,
        *,
        name: str,
        component: str,
        migrations: Migrations,
        error: Callable[[str], Exception],
        busy_timeout_s: float,
    ) -> None:
        self.path = path
        self._name = name
        self._component = component
        self._migrations = migrations
        self._error = error
        self._busy_timeout_s = busy_timeout_s
        self._db: aiosqlite.Connection | None = None
        self._writer: SqliteWriter | None = None
        self._reader: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Create the file (and its folders), switch to WAL, migrate; idempotent."""
        if self._db is not None:
            return
        with self.translate("open"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = await connect_sqlite(self.path, busy_timeout_s=self._busy_timeout_s)
            try:
                await self._set_up(db)
                self._reader = _loop_reader(self.path)
            except BaseException:
                await db.close()
                raise
            self._db = db
            self._writer = SqliteWriter(db)
            self._writer.start()

    async def close(self) -> None:
        """Apply the queued writes, close the connection; safe to call twice."""
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.stop()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        db, self._db = self._db, None
        if db is not None:
            with self.translate("close"):
                await db.close()

    @contextlib.contextmanager
    def translate(self, action: str) -> Iterator[None]:
        """The one place where SQLite's and the file system's errors become the store's."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise self._error(
                f"{self._name} {str(self.path)!r} could not {action}: {type(exc).__name__}: {exc}"
            ) from exc

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection, for statements that each stand alone (see the class docstring)."""
        db = self._db
        if db is None:
            raise self._error(f"{self._name} {str(self.path)!r} is not open")
        yield db

    async def write(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> WriteResult:
        """One write statement, group-committed with the writes that arrive beside it
        (``storage.sqlite_writer``); raises what sqlite3 raises (wrap it in ``translate``)."""
        writer = self._writer
        if writer is None:
            raise self._error(f"{self._name} {str(self.path)!r} is not open")
        return await writer.write(sql, params)

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """The rows of one short ``SELECT`` (a lookup by an indexed key), read on the event
        loop's own thread; raises what sqlite3 raises (wrap it in ``translate``).

        Why not on aiosqlite's thread, like the writes: handing a statement to that thread
        and its result back (a queue, a futex wake, the self-pipe, the GIL passed back and
        forth) cost about 150 µs of CPU at 64 concurrent exchanges, the lookup itself
        20 µs (``docs/benchmarks.md``). In WAL mode a reader never waits for a writer, so
        the loop is held only for the lookup. In the rare case SQLite answers "busy" at
        once (a WAL file being recovered), the statement goes to the thread after all,
        where it waits out the busy timeout without holding the loop.
        """
        reader = self._reader
        if reader is None:
            raise self._error(f"{self._name} {str(self.path)!r} is not open")
        try:
            return reader.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
        async with self.session() as db:
            return list(await db.execute_fetchall(sql, params))

    async def ping(self) -> None:
        """Run a trivial query; the store's error if the file is closed or broken, or if
        every write has failed for ``_WRITES_GRACE_S`` (a file made read-only or a full
        disk still answers the query)."""
        with self.translate("answer a ping"):
            async with self.session() as db:
                await db.execute_fetchall("SELECT 1")
        writer = self._writer
        failing = None if writer is None else writer.failing(_WRITES_GRACE_S)
        if failing is not None:
            raise self._error(f"{self._name} {str(self.path)!r}: {failing}")

    async def _set_up(self, db: aiosqlite.Connection) -> None:
        """Switch to WAL and migrate, retrying while another process does the same.

        While one connection turns a fresh file into WAL mode, SQLite answers the others
        "database is locked" at once, without consulting the busy timeout; so the busy
        timeout is applied here by hand, as a deadline.
        """
        deadline = time.monotonic() + self._busy_timeout_s
        delay = 0.005
        while True:
            try:
                await db.execute("PRAGMA journal_mode = WAL")
                await migrate_sqlite(db, self._component, self._migrations)
                return
            except SchemaTooNewError as exc:
                raise self._error(f"{self._name} {str(self.path)!r} {exc}") from None
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(delay)  # back off, then try again until the deadline
            delay = min(delay * 2, 0.2)


def _loop_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection for ``SqliteDatabase.read``: autocommit (each ``SELECT`` its
    own read transaction, so it sees every write committed before it), no busy wait (the
    event loop must not block on a lock), rows as ``sqlite3.Row``."""
    reader = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    try:
        reader.row_factory = sqlite3.Row
        reader.execute("PRAGMA query_only = ON")
    except BaseException:
        reader.close()
        raise
    return reader


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    # The extended code's low byte is the primary one (SQLITE_BUSY_RECOVERY is a BUSY).
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SqliteStore(StoreLifecycle):
    """What every SQLite store shares: its file, lifecycle and ping; a store subclass says
    what it is (``name``, ``component``, ``migrations``, ``error``) and keeps its own SQL."""

    _database: SqliteDatabase

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 10.0) -> None:
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            # An in-memory database vanishes with the process and is private to one
            # connection: what the store holds would be lost on restart. Use a file.
            raise ValueError(f"{self.name} needs a file path, not :memory:")
        self.path = Path(path)
        self._database = SqliteDatabase(
            self.path,
            name=self.name,
            component=self.component,
            migrations=self.migrations,
            error=self.error,
            busy_timeout_s=busy_timeout_s,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"
