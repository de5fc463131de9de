"""The SQLite batch store: batches and their items in the gateway's SQLite file.

Its own component (``batches``) with its own migrations and its own connection. Creating
a batch is several statements (the batch row, then thousands of item rows) in ONE
transaction, so every statement of this store runs under one ``asyncio.Lock``: no
statement of another coroutine can land inside that transaction. Batch traffic is light
(one statement per item sent), so the lock costs nothing that matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from gateway.batches.records import BatchItem, BatchRecord, ItemStatus, NewItem, item_from_row
from gateway.errors import StoreUnavailableError
from storage import SqliteStore

__all__ = ["SqliteBatchStore"]

COMPONENT = "batches"

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE batches (
            id TEXT PRIMARY KEY,
            requester TEXT NOT NULL,
            request_digest TEXT NOT NULL,
            envelope TEXT NOT NULL,
            provider TEXT NOT NULL,
            item_count INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            idempotency_key TEXT,
            traceparent TEXT,
            cancelled_at TEXT,
            finished_at TEXT,
            owner TEXT,
            lease_until TEXT,
            UNIQUE (requester, idempotency_key)
        )
        """,
        "CREATE INDEX batches_unfinished ON batches (created_at) WHERE finished_at IS NULL",
        """
        CREATE TABLE batch_items (
            batch_id TEXT NOT NULL REFERENCES batches (id),
            idx INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'found', 'not_found',
                'denied', 'failed', 'timed_out', 'cancelled')),
            item_ref TEXT,
            consent_ref TEXT,
            subject TEXT,
            data TEXT,
            exchange_id TEXT,
            error_code TEXT,
            PRIMARY KEY (batch_id, idx)
        )
        """,
        "CREATE INDEX batch_items_open ON batch_items (batch_id, status, idx) "
        "WHERE status IN ('pending', 'sent')",
    ),
)

_BATCH_COLUMNS = (
    "id",
    "requester",
    "request_digest",
    "envelope",
    "provider",
    "item_count",
    "created_at",
    "idempotency_key",
    "traceparent",
    "cancelled_at",
    "finished_at",
    "owner",
    "lease_until",
)
_ITEM_COLUMNS = (
    "batch_id, idx, status, item_ref, consent_ref, subject, data, exchange_id, error_code"
)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="microseconds")


def _parse(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _batch(row: sqlite3.Row) -> BatchRecord:
    return BatchRecord(
        id=row["id"],
        requester=row["requester"],
        request_digest=row["request_digest"],
        envelope=json.loads(row["envelope"]),
        provider=row["provider"],
        item_count=int(row["item_count"]),
        created_at=_parse(row["created_at"]),  # type: ignore[arg-type]
        idempotency_key=row["idempotency_key"],
        traceparent=row["traceparent"],
        cancelled_at=_parse(row["cancelled_at"]),
        finished_at=_parse(row["finished_at"]),
        owner=row["owner"],
        lease_until=_parse(row["lease_until"]),
    )


class SqliteBatchStore(SqliteStore):
    """Batches in the gateway's SQLite file (component ``batches``)."""

    name = "the SQLite batch store"
    component = COMPONENT
    migrations = _MIGRATIONS
    error = StoreUnavailableError

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _db(self, action: str) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            with self._database.translate(action):
                async with self._database.session() as db:
                    yield db

    async def create(
        self, batch: BatchRecord, items: Sequence[NewItem]
    ) -> tuple[BatchRecord, bool]:
        """Insert the batch and its items in one transaction, unless its key was used."""
        values = (
            batch.id,
            batch.requester,
            batch.request_digest,
            json.dumps(dict(batch.envelope), sort_keys=True),
            batch.provider,
            batch.item_count,
            _time(batch.created_at),
            batch.idempotency_key,
            batch.traceparent,
            None,
            None,
            None,
            None,
        )
        rows = [
            (
                batch.id,
                item.index,
                ItemStatus.PENDING.value,
                item.item_ref,
                item.consent_ref,
                item.subject,
                json.dumps(dict(item.data), ensure_ascii=False, allow_nan=False),
            )
            for item in items
        ]
        async with self._db("create a batch") as db:
            await db.execute("BEGIN IMMEDIATE")
            try:
                cursor = await db.execute(
                    f"INSERT INTO batches ({', '.join(_BATCH_COLUMNS)}) "  # noqa: S608
                    f"VALUES ({', '.join('?' for _ in _BATCH_COLUMNS)}) ON CONFLICT DO NOTHING",
                    values,
                )
                created = cursor.rowcount == 1
                if created:
                    await db.executemany(
                        "INSERT INTO batch_items (batch_id, idx, status, item_ref, consent_ref,"
                        " subject, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        rows,
                    )
                    found = None
                else:
                    found = await db.execute_fetchall(
                        "SELECT * FROM batches WHERE requester = ? AND idempotency_key = ?",
                        (batch.requester, batch.idempotency_key),
                    )
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")
        if created:
            return batch, True
        for row in found or ():
            return _batch(row), False
        raise ValueError(f"a batch with id {batch.id!r} already exists")

    async def get(self, batch_id: str) -> BatchRecord | None:
        """The batch, or None."""
        async with self._db("read a batch") as db:
            rows = await db.execute_fetchall("SELECT * FROM batches WHERE id = ?", (batch_id,))
        return next((_batch(row) for row in rows), None)

    async def counts(self, batch_id: str) -> dict[ItemStatus, int]:
        """Items per status."""
        async with self._db("count batch items") as db:
            rows = await db.execute_fetchall(
                "SELECT status, count(*) FROM batch_items WHERE batch_id = ? GROUP BY status",
                (batch_id,),
            )
        return {ItemStatus(row[0]): int(row[1]) for row in rows}

    async def claim(
        self, owner: str, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[BatchRecord]:
        """Take or renew leases (this owner's first, so a full page never drops one of
        its own batches) of unfinished batches (one statement: one owner each). Members
        take turns (their first batches, then their second...): a member with more
        batches than a page would otherwise keep every other member's out of it."""
        async with self._db("claim batches") as db:
            rows = await db.execute_fetchall(
                "UPDATE batches SET owner = :owner, lease_until = :until WHERE id IN ("
                "SELECT id FROM (SELECT id, owner, lease_until, created_at, ROW_NUMBER() "
                "OVER (PARTITION BY requester ORDER BY created_at, id) AS turn "
                "FROM batches WHERE finished_at IS NULL) "
                "WHERE owner = :owner OR owner IS NULL OR lease_until < :now "
                "ORDER BY CASE WHEN owner = :owner THEN 0 ELSE 1 END, turn, created_at "
                "LIMIT :limit) RETURNING *",
                {"owner": owner, "until": _time(lease_until), "now": _time(now), "limit": limit},
            )
        return sorted((_batch(row) for row in rows), key=lambda b: (b.created_at, b.id))

    async def release(self, batch_id: str, owner: str) -> None:
        """Give the lease up."""
        async with self._db("release a batch") as db:
            await db.execute(
                "UPDATE batches SET owner = NULL, lease_until = NULL WHERE id = ? AND owner = ?",
                (batch_id, owner),
            )

    async def pending_items(self, batch_id: str, *, limit: int) -> list[BatchItem]:
        """Pending items in index order."""
        async with self._db("read pending batch items") as db:
            rows = await db.execute_fetchall(
                f"SELECT {_ITEM_COLUMNS} FROM batch_items WHERE batch_id = ? "  # noqa: S608
                "AND status = 'pending' ORDER BY idx LIMIT ?",
                (batch_id, limit),
            )
        return [item_from_row(row) for row in rows]

    async def sent_items(self, batch_id: str) -> list[BatchItem]:
        """Items sent, outcome not recorded yet."""
        async with self._db("read sent batch items") as db:
            rows = await db.execute_fetchall(
                f"SELECT {_ITEM_COLUMNS} FROM batch_items WHERE batch_id = ? "  # noqa: S608
                "AND status = 'sent' ORDER BY idx",
                (batch_id,),
            )
        return [item_from_row(row) for row in rows]

    async def mark_sent(self, batch_id: str, index: int, exchange_id: str) -> None:
        """Link the exchange, erase subject and data (a cancel that raced the send loses:
        the exchange exists, so the item is sent)."""
        async with self._db("mark a batch item sent") as db:
            await db.execute(
                "UPDATE batch_items SET status = 'sent', exchange_id = ?, subject = NULL, "
                "data = NULL WHERE batch_id = ? AND idx = ? AND status IN ('pending', "
                "'cancelled')",
                (exchange_id, batch_id, index),
            )

    async def mark_final(
        self, batch_id: str, index: int, status: ItemStatus, error_code: str | None = None
    ) -> bool:
        """Record an outcome once."""
        async with self._db("record a batch item's outcome") as db:
            cursor = await db.execute(
                "UPDATE batch_items SET status = ?, error_code = ?, subject = NULL, data = NULL"
                " WHERE batch_id = ? AND idx = ? AND status IN ('pending', 'sent')",
                (status.value, error_code, batch_id, index),
            )
            return cursor.rowcount == 1

    async def cancel(self, batch_id: str, now: datetime) -> int:
        """Cancel the pending items."""
        async with self._db("cancel a batch") as db:
            await db.execute(
                "UPDATE batches SET cancelled_at = coalesce(cancelled_at, ?) WHERE id = ?",
                (_time(now), batch_id),
            )
            cursor = await db.execute(
                "UPDATE batch_items SET status = 'cancelled', subject = NULL, data = NULL "
                "WHERE batch_id = ? AND status = 'pending'",
                (batch_id,),
            )
            return cursor.rowcount

    async def finish_if_done(self, batch_id: str, now: datetime) -> bool:
        """Finished once nothing is pending or sent."""
        async with self._db("finish a batch") as db:
            await db.execute(
                "UPDATE batches SET finished_at = ?, owner = NULL, lease_until = NULL "
                "WHERE id = ? AND finished_at IS NULL AND NOT EXISTS (SELECT 1 FROM "
                "batch_items WHERE batch_id = ? AND status IN ('pending', 'sent'))",
                (_time(now), batch_id, batch_id),
            )
            rows = await db.execute_fetchall(
                "SELECT finished_at FROM batches WHERE id = ?", (batch_id,)
            )
        return any(row[0] is not None for row in rows)

    async def items_page(self, batch_id: str, *, after: int, limit: int) -> list[BatchItem]:
        """Items after ``after`` in index order."""
        async with self._db("read batch items") as db:
            rows = await db.execute_fetchall(
                f"SELECT {_ITEM_COLUMNS} FROM batch_items WHERE batch_id = ? "  # noqa: S608
                "AND idx > ? ORDER BY idx LIMIT ?",
                (batch_id, after, limit),
            )
        return [item_from_row(row) for row in rows]

    async def count_active(self) -> int:
        """Unfinished batches."""
        async with self._db("count active batches") as db:
            rows = await db.execute_fetchall(
                "SELECT count(*) FROM batches WHERE finished_at IS NULL"
            )
        return int(next(iter(rows))[0])

    async def purge_finished(self, before: datetime, *, limit: int) -> int:
        """Batches finished before ``before`` (oldest first), items first, one transaction."""
        chosen = (
            "SELECT id FROM batches WHERE finished_at IS NOT NULL AND finished_at < ? "
            "ORDER BY finished_at, id LIMIT ?"
        )
        params = (_time(before), limit)
        async with self._db("purge finished batches") as db:
            await db.execute("BEGIN IMMEDIATE")
            try:
                await db.execute(
                    f"DELETE FROM batch_items WHERE batch_id IN ({chosen})",  # noqa: S608
                    params,
                )
                cursor = await db.execute(
                    f"DELETE FROM batches WHERE id IN ({chosen})",  # noqa: S608
                    params,
                )
                purged = cursor.rowcount
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")
        return int(purged)
