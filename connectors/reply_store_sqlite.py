"""The SQLite reply store: the default, for a connector on one machine.

Same discipline as the gateway's SQLite store: one aiosqlite connection in WAL mode with
a busy timeout, every write a single autocommit statement (it takes the write lock when it
starts and waits the busy timeout for it, so there is no lock-upgrade race between
processes), no lock around the connection (aiosqlite runs its statements in order on its
own thread), and migrations recorded per component in ``schema_version``. ``put`` is an
``INSERT ... ON CONFLICT DO NOTHING`` (first reply wins), then a read only on a conflict.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bus import ReplyStatus
from connectors.errors import ReplyStoreError
from connectors.reply_store import COMPONENT, StoredReply
from storage import SqliteStore

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


class SqliteReplyStore(SqliteStore):
    """Replies in one SQLite file (created with its parent directories on ``open``)."""

    name = "the SQLite reply store"
    component = COMPONENT
    migrations = _MIGRATIONS
    error = ReplyStoreError

    async def get(self, exchange_id: str) -> StoredReply | None:
        with self._database.translate("read a reply"):
            rows = await self._database.read(_GET, (exchange_id,))
        return _reply(rows[0]) if rows else None

    async def put(self, reply: StoredReply) -> StoredReply:
        params = (
            reply.exchange_id,
            reply.status.value,
            reply.error_code,
            reply.value,
            _time(reply.created_at),
        )
        with self._database.translate("store a reply"):
            if (await self._database.write(_INSERT, params)).rowcount == 1:
                return reply
            rows = await self._database.read(_GET, (reply.exchange_id,))
        if not rows:
            # The INSERT and this read are separate statements: a purge took the row
            # in between. Nothing is stored now; the caller's retry stores ours.
            raise ReplyStoreError(
                f"the reply of exchange {reply.exchange_id} was purged while being stored"
            )
        return _reply(rows[0])

    async def purge(self, older_than: datetime) -> int:
        with self._database.translate("purge old replies"):
            async with self._database.session() as db:
                cursor = await db.execute(
                    "DELETE FROM connector_replies WHERE created_at < ?", (_time(older_than),)
                )
                return cursor.rowcount


def _reply(row: Any) -> StoredReply:
    return StoredReply(
        exchange_id=str(row["exchange_id"]),
        status=ReplyStatus(row["status"]),
        error_code=row["error_code"],
        value=bytes(row["value"]),
        created_at=datetime.fromisoformat(str(row["created_at"])),
    )
