"""The SQLite reply store: the default, for a connector on one machine.

Same discipline as the gateway's SQLite store: one aiosqlite connection in WAL mode with
a busy timeout, every write a single autocommit statement (it takes the write lock when it
starts and waits the busy timeout for it, so there is no lock-upgrade race between
processes), no lock around the connection (aiosqlite runs its statements in order on its
own thread), and migrations recorded per component in ``schema_version``. ``put`` is an
``INSERT ... ON CONFLICT DO NOTHING`` (first reply wins), then a read only on a conflict.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bus import ReplyStatus
from bus.schema_migrations import SchemaTooNewError, migrate_sqlite
from bus.sqlite_connection import connect_sqlite
from connectors.errors import ReplyStoreError
from connectors.reply_store import COMPONENT, StoredReply

__all__ = ["SqliteReplyStore"]

# Migration N (1-based) brings the schema from version N-1 to N. Append, never edit.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE connector_replies (
            exchange_id TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            error_code TEXT,
            value BLOB NOT NULL,
            created_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX connector_replies_created ON connector_replies (created_at)",
    ),
)

_INSERT = (
    "INSERT INTO connector_replies (exchange_id, status, error_code, value, created_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (exchange_id) DO NOTHING"
)
_GET = "SELECT * FROM connector_replies WHERE exchange_id = ?"


def _time(value: datetime) -> str:
    # Fixed-width ISO 8601 in UTC: text order is time order (for purge).
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class SqliteReplyStore:
    """Replies in one SQLite file (created with its parent directories on ``open``)."""

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._db: aiosqlite.Connection | None = None

    def __repr__(self) -> str:
        return f"SqliteReplyStore({str(self.path)!r})"

    async def open(self) -> None:
        """Connect, switch to WAL and migrate (idempotent)."""
        if self._db is not None:
            return
        with self._translate("open"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = await connect_sqlite(self.path, busy_timeout_s=self._busy_timeout_s)
            try:
                await self._set_up(db)
            except BaseException:
                await db.close()
                raise
            self._db = db

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with self._translate("close"):
                await db.close()

    async def ping(self) -> None:
        with self._translate("answer a ping"):
            async with self._session() as db:
                await db.execute_fetchall("SELECT 1")

    async def get(self, exchange_id: str) -> StoredReply | None:
        with self._translate("read a reply"):
            async with self._session() as db:
                rows = list(await db.execute_fetchall(_GET, (exchange_id,)))
        return _reply(rows[0]) if rows else None

    async def put(self, reply: StoredReply) -> StoredReply:
        params = (
            reply.exchange_id,
            reply.status.value,
            reply.error_code,
            reply.value,
            _time(reply.created_at),
        )
        with self._translate("store a reply"):
            async with self._session() as db:
                cursor = await db.execute(_INSERT, params)
                if cursor.rowcount == 1:
                    return reply
                rows = list(await db.execute_fetchall(_GET, (reply.exchange_id,)))
        if not rows:
            # The INSERT and this read are separate statements: a purge took the row
            # in between. Nothing is stored now; the caller's retry stores ours.
            raise ReplyStoreError(
                f"the reply of exchange {reply.exchange_id} was purged while being stored"
            )
        return _reply(rows[0])

    async def purge(self, older_than: datetime) -> int:
        with self._translate("purge old replies"):
            async with self._session() as db:
                cursor = await db.execute(
                    "DELETE FROM connector_replies WHERE created_at < ?", (_time(older_than),)
                )
                return cursor.rowcount

    @contextlib.contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        """The one place where SQLite's and the file system's errors become ours."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise ReplyStoreError(
                f"the SQLite reply store {str(self.path)!r} could not {action}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection, for statements that each stand alone (see the module docstring).

        No lock and no explicit transaction: every statement here is one autocommit
        transaction, and aiosqlite runs a connection's statements one at a time, in order,
        on its own thread. A lock held across ``BEGIN IMMEDIATE``, the statement and
        ``COMMIT`` made every caller wait for three thread hand-offs of each one before
        it, each finishing only when the busy event loop came round to it: under
        concurrent exchanges that queue, not SQLite, was most of an exchange's latency.
        """
        db = self._db
        if db is None:
            raise ReplyStoreError("the SQLite reply store is not open")
        yield db

    async def _set_up(self, db: aiosqlite.Connection) -> None:
        # While one connection turns a fresh file into WAL mode, others get "database is
        # locked" at once, whatever the busy timeout: retry until our own deadline.
        deadline = time.monotonic() + self._busy_timeout_s
        delay = 0.005
        while True:
            try:
                await db.execute("PRAGMA journal_mode = WAL")
                await self._migrate(db)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        try:
            await migrate_sqlite(db, COMPONENT, _MIGRATIONS)
        except SchemaTooNewError as exc:
            raise ReplyStoreError(f"the reply store {str(self.path)!r} {exc}") from None


def _reply(row: Any) -> StoredReply:
    return StoredReply(
        exchange_id=str(row["exchange_id"]),
        status=ReplyStatus(row["status"]),
        error_code=row["error_code"],
        value=bytes(row["value"]),
        created_at=datetime.fromisoformat(str(row["created_at"])),
    )
