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
import sqlite3
import threading
from pathlib import Path
from typing import Final

import aiosqlite

__all__ = ["connect_sqlite"]

_JOIN_TIMEOUT_S: Final = 5.0


async def connect_sqlite(path: Path, *, busy_timeout_s: float) -> aiosqlite.Connection:
    """An open connection to ``path`` (created if missing); raises what sqlite3 raises."""
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
