"""``connect_sqlite``: the shared way to open SQLite, and no worker thread left behind."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from storage.sqlite import connect_sqlite


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
