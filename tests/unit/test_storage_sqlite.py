"""``connect_sqlite``: the shared way to open SQLite, and no worker thread left behind."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gateway.batches.store_sqlite import SqliteBatchStore
from gateway.consent.store_sqlite import SqliteConsentStore
from gateway.errors import StoreUnavailableError
from gateway.store.sqlite import SqliteExchangeStore
from storage.sqlite import connect_sqlite, create_private
from tests.unit.gateway.test_audit_outbox import _record


def _aiosqlite_workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]


async def test_a_failed_connect_leaves_no_worker_thread(tmp_path: Path) -> None:
    """A directory is not a database: the error propagates, the worker is already gone
    (a thread still running would report to this loop after the test closed it)."""
    before = set(_aiosqlite_workers())
    (tmp_path / "a-directory.db").mkdir()
    with pytest.raises(sqlite3.OperationalError):
        await connect_sqlite(tmp_path / "a-directory.db", busy_timeout_s=1.0)
    assert [t for t in _aiosqlite_workers() if t not in before and t.is_alive()] == []


async def test_connection_uses_rows_autocommit_and_the_busy_timeout(tmp_path: Path) -> None:
    db = await connect_sqlite(tmp_path / "x.db", busy_timeout_s=2.5)
    try:
        rows = list(await db.execute_fetchall("PRAGMA busy_timeout"))
        assert rows[0][0] == 2500
        assert isinstance(rows[0], sqlite3.Row)
        assert db.isolation_level is None
    finally:
        await db.close()


_OTHER_PROCESS = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode = WAL")
db.execute("CREATE TABLE IF NOT EXISTS other_process (x)")
db.execute("INSERT INTO other_process VALUES (1)")
db.close()  # a clean close: SQLite checkpoints and deletes the WAL if it is the last user
"""

_READ_IDS = """
import sqlite3, sys
print(",".join(r[0] for r in sqlite3.connect(sys.argv[1]).execute("SELECT id FROM exchanges")))
"""


async def test_stores_sharing_a_file_keep_it_locked_for_other_processes(tmp_path: Path) -> None:
    """A gateway opens its exchange, consent and batch stores on one file. Another process
    then opens it, writes and closes cleanly (a second replica stopping, a CLI command).
    The gateway's later commit must reach the file. Before, opening the file for the
    second store (to make it 0600) closed a descriptor of it, which dropped this
    process's SQLite locks: the other process's close deleted the WAL in use, and the
    commit went to the deleted file (lost for every other reader, and at exit)."""
    path = tmp_path / "gateway.db"
    exchanges = SqliteExchangeStore(path)
    consents, batches = SqliteConsentStore(path), SqliteBatchStore(path)
    for store in (exchanges, consents, batches):
        await store.open()
    try:
        await exchanges.create(_record(1, overdue=False))
        await _python(_OTHER_PROCESS, path)
        await exchanges.create(_record(2, overdue=False))
        seen = await _python(_READ_IDS, path)
        assert sorted(seen.split(",")) == [
            _record(1, overdue=False).id,
            _record(2, overdue=False).id,
        ]
        assert (tmp_path / "gateway.db-wal").exists()
    finally:
        for store in (batches, consents, exchanges):
            await store.close()
    assert _mode(path) == 0o600
    assert _names(tmp_path) == ["gateway.db"]  # the last close removed the WAL


async def _python(source: str, path: Path) -> str:
    """Run ``source`` in another Python process with ``path``; its output."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", source, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def _names(folder: Path) -> list[str]:
    """What the folder holds (no temporary file may be left beside a database)."""
    return sorted(p.name for p in folder.iterdir())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_existing_database_is_tightened_without_opening_it(tmp_path: Path) -> None:
    """An existing file keeps its content and inode and becomes 0600; a new one is created
    0600 and empty; nothing temporary is left beside them."""
    existing = tmp_path / "old.db"
    existing.write_bytes(b"kept")
    existing.chmod(0o644)
    inode = existing.stat().st_ino
    create_private(existing)
    create_private(tmp_path / "new.db")
    assert (existing.read_bytes(), existing.stat().st_ino) == (b"kept", inode)
    for name in ("old.db", "new.db"):
        assert _mode(tmp_path / name) == 0o600
    assert (tmp_path / "new.db").read_bytes() == b""
    assert _names(tmp_path) == ["new.db", "old.db"]


async def test_reads_run_on_the_loop_and_see_every_committed_write(tmp_path: Path) -> None:
    """A lookup (``SqliteDatabase.read``) runs on the event loop's thread, not aiosqlite's
    (the hand-off cost far more than the lookup, issue #16), and sees each write that was
    acknowledged before it, the writer's connection being another one."""
    store = SqliteExchangeStore(tmp_path / "gateway.db")
    await store.open()
    try:
        threads: list[int] = []
        reader = store._database._reader
        assert reader is not None
        reader.create_function("thread_of", 0, lambda: threads.append(threading.get_ident()))
        await store._database.read("SELECT thread_of()")
        assert threads == [threading.get_ident()]
        for n in range(1, 4):
            record = _record(n, overdue=False)
            await store.create(record)
            found = await store.get(record.id)
            assert found is not None
            assert found.id == record.id
    finally:
        await store.close()


async def test_a_read_answered_busy_goes_to_the_connections_thread(tmp_path: Path) -> None:
    """SQLite may answer a reader "busy" at once (a WAL file being recovered). The loop is
    not held for the busy timeout: the statement is handed to aiosqlite's thread, which
    waits it out. Any other error is the caller's (the store's own error, naming it)."""
    store = SqliteExchangeStore(tmp_path / "gateway.db")
    await store.open()
    record = _record(1, overdue=False)
    await store.create(record)

    class _Refusing:
        def __init__(self, code: int) -> None:
            self.code = code
            self.calls = 0

        def execute(self, _sql: str, _params: object) -> sqlite3.Cursor:
            self.calls += 1
            error = sqlite3.OperationalError("refused")
            error.sqlite_errorcode = self.code
            raise error

        def close(self) -> None:
            pass

    try:
        busy = _Refusing(sqlite3.SQLITE_BUSY | 0x100)  # SQLITE_BUSY_RECOVERY
        store._database._reader = busy  # type: ignore[assignment]
        found = await store.get(record.id)
        assert busy.calls == 1
        assert found is not None
        assert found.id == record.id
        store._database._reader = _Refusing(sqlite3.SQLITE_IOERR)  # type: ignore[assignment]
        with pytest.raises(StoreUnavailableError, match="could not read an exchange"):
            await store.get(record.id)
    finally:
        await store.close()
    with pytest.raises(StoreUnavailableError, match="is not open"):
        await store.get(record.id)


async def test_a_ping_fails_while_every_write_fails(tmp_path: Path) -> None:
    """``SELECT 1`` answers on a store that refuses every write (a read-only file, a full
    disk): the ping also asks the writer, so readiness says so (an outage found from
    outside: /readyz stayed 200 while every exchange got 503)."""
    store = SqliteExchangeStore(tmp_path / "gateway.db")
    await store.open()
    try:
        await store.ping()
        writer = store._database._writer
        assert writer is not None
        writer.failing = lambda _grace_s: "writes have failed for 4 s (OperationalError: x)"  # type: ignore[method-assign]
        with pytest.raises(StoreUnavailableError, match="writes have failed for 4 s"):
            await store.ping()
    finally:
        await store.close()
