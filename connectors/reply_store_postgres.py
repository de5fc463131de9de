"""The PostgreSQL reply store: replies shared by the replicas of a connector's group.

A rebalance may hand a partition to another replica while a request is in flight; both
then reply, and ``INSERT ... ON CONFLICT DO NOTHING`` followed by a read of the winner
makes both send the *same* stored bytes. Migrations run under a transaction-scoped
advisory lock, so replicas starting together migrate once.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from bus import ReplyStatus
from connectors.errors import ReplyStoreError
from connectors.reply_store import COMPONENT, StoredReply
from storage import PostgresStore

__all__ = ["PostgresReplyStore"]

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE connector_replies (
            exchange_id text PRIMARY KEY,
            status text NOT NULL,
            error_code text,
            value bytea NOT NULL,
            created_at timestamptz NOT NULL
        )
        """,
        "CREATE INDEX connector_replies_created ON connector_replies (created_at)",
    ),
)

_INSERT = (
    "INSERT INTO connector_replies (exchange_id, status, error_code, value, created_at) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (exchange_id) DO NOTHING RETURNING exchange_id"
)
_GET = "SELECT * FROM connector_replies WHERE exchange_id = $1"


class PostgresReplyStore(PostgresStore):
    """Replies in a PostgreSQL database, through an asyncpg pool."""

    name = "the PostgreSQL reply store"
    component = COMPONENT
    migrations = _MIGRATIONS
    error = ReplyStoreError

    async def get(self, exchange_id: str) -> StoredReply | None:
        if "\x00" in exchange_id:  # PostgreSQL text cannot hold NUL; no reply has one
            return None
        with self._database.translate("read a reply"):
            row = await self._database.pool.fetchrow(_GET, exchange_id)
        return None if row is None else _reply(row)

    async def put(self, reply: StoredReply) -> StoredReply:
        with self._database.translate("store a reply"):
            pool = self._database.pool
            inserted = await pool.fetchrow(
                _INSERT,
                reply.exchange_id,
                reply.status.value,
                reply.error_code,
                reply.value,
                reply.created_at.astimezone(UTC),
            )
            if inserted is not None:
                return reply
            # Autocommit: a racing insert waited for the winner's commit; read it.
            row = await pool.fetchrow(_GET, reply.exchange_id)
        if row is None:  # pragma: no cover - purged between the two statements
            return reply
        return _reply(row)

    async def purge(self, older_than: datetime) -> int:
        with self._database.translate("purge old replies"):
            status = await self._database.pool.execute(
                "DELETE FROM connector_replies WHERE created_at < $1", older_than.astimezone(UTC)
            )
        return int(str(status).rsplit(" ", 1)[-1])


def _reply(row: asyncpg.Record) -> StoredReply:
    return StoredReply(
        exchange_id=row["exchange_id"],
        status=ReplyStatus(row["status"]),
        error_code=row["error_code"],
        value=bytes(row["value"]),
        created_at=row["created_at"],
    )
