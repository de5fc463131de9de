"""The PostgreSQL batch store: batches shared by several gateway replicas.

A batch and its items are inserted in one transaction (one pipelined ``executemany`` for
the items); the idempotency key is UNIQUE(requester, idempotency_key). Leases are taken in
one statement over rows picked ``FOR UPDATE SKIP LOCKED``, so two replicas claiming at
once take disjoint batches.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from gateway.batches.records import BatchItem, BatchRecord, ItemStatus, NewItem, item_from_row
from gateway.errors import StoreUnavailableError
from storage import PostgresStore

__all__ = ["PostgresBatchStore"]

COMPONENT = "batches"

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE batches (
            id text PRIMARY KEY,
            requester text NOT NULL,
            request_digest text NOT NULL,
            envelope text NOT NULL,
            provider text NOT NULL,
            item_count integer NOT NULL,
            created_at timestamptz NOT NULL,
            idempotency_key text,
            traceparent text,
            cancelled_at timestamptz,
            finished_at timestamptz,
            owner text,
            lease_until timestamptz,
            UNIQUE (requester, idempotency_key)
        )
        """,
        "CREATE INDEX batches_unfinished ON batches (created_at) WHERE finished_at IS NULL",
        """
        CREATE TABLE batch_items (
            batch_id text NOT NULL REFERENCES batches (id),
            idx integer NOT NULL,
            status text NOT NULL CHECK (status IN ('pending', 'sent', 'found', 'not_found',
                'denied', 'failed', 'timed_out', 'cancelled')),
            item_ref text,
            consent_ref text,
            subject text,
            data text,
            exchange_id text,
            error_code text,
            PRIMARY KEY (batch_id, idx)
        )
        """,
        "CREATE INDEX batch_items_open ON batch_items (batch_id, status, idx) "
        "WHERE status IN ('pending', 'sent')",
    ),
)

_ITEM_COLUMNS = (
    "batch_id, idx, status, item_ref, consent_ref, subject, data, exchange_id, error_code"
)


def _batch(row: asyncpg.Record) -> BatchRecord:
    return BatchRecord(
        id=row["id"],
        requester=row["requester"],
        request_digest=row["request_digest"],
        envelope=json.loads(row["envelope"]),
        provider=row["provider"],
        item_count=int(row["item_count"]),
        created_at=row["created_at"],
        idempotency_key=row["idempotency_key"],
        traceparent=row["traceparent"],
        cancelled_at=row["cancelled_at"],
        finished_at=row["finished_at"],
        owner=row["owner"],
        lease_until=row["lease_until"],
    )


class PostgresBatchStore(PostgresStore):
    """Batches in the shared PostgreSQL database (component ``batches``)."""

    name = "the PostgreSQL batch store"
    component = COMPONENT
    migrations = _MIGRATIONS
    error = StoreUnavailableError

    async def create(
        self, batch: BatchRecord, items: Sequence[NewItem]
    ) -> tuple[BatchRecord, bool]:
        """Insert the batch and its items in one transaction, unless its key was used."""
        rows: list[tuple[Any, ...]] = [
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
        with self._database.translate("create a batch"):
            async with self._database.pool.acquire() as conn, conn.transaction():
                inserted = await conn.fetchval(
                    "INSERT INTO batches (id, requester, request_digest, envelope, provider, "
                    "item_count, created_at, idempotency_key, traceparent) VALUES ($1, $2, $3,"
                    " $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING id",
                    batch.id,
                    batch.requester,
                    batch.request_digest,
                    json.dumps(dict(batch.envelope), sort_keys=True),
                    batch.provider,
                    batch.item_count,
                    batch.created_at,
                    batch.idempotency_key,
                    batch.traceparent,
                )
                if inserted is not None:
                    await conn.executemany(
                        "INSERT INTO batch_items (batch_id, idx, status, item_ref, consent_ref,"
                        " subject, data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        rows,
                    )
                    return batch, True
                row = await conn.fetchrow(
                    "SELECT * FROM batches WHERE requester = $1 AND idempotency_key = $2",
                    batch.requester,
                    batch.idempotency_key,
                )
        if row is None:
            raise ValueError(f"a batch with id {batch.id!r} already exists")
        return _batch(row), False

    async def get(self, batch_id: str) -> BatchRecord | None:
        """The batch, or None."""
        with self._database.translate("read a batch"):
            row = await self._database.pool.fetchrow(
                "SELECT * FROM batches WHERE id = $1", batch_id
            )
        return None if row is None else _batch(row)

    async def counts(self, batch_id: str) -> dict[ItemStatus, int]:
        """Items per status."""
        with self._database.translate("count batch items"):
            rows = await self._database.pool.fetch(
                "SELECT status, count(*) AS n FROM batch_items WHERE batch_id = $1 GROUP BY status",
                batch_id,
            )
        return {ItemStatus(row["status"]): int(row["n"]) for row in rows}

    async def claim(
        self, owner: str, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[BatchRecord]:
        """Take or renew leases (this owner's first, so a full page never drops one of
        its own batches); rows locked by another claimer are skipped. Members take turns,
        as in the SQLite store."""
        with self._database.translate("claim batches"):
            rows = await self._database.pool.fetch(
                "UPDATE batches SET owner = $1, lease_until = $2 WHERE id IN ("
                "SELECT b.id FROM batches b JOIN (SELECT id, row_number() OVER "
                "(PARTITION BY requester ORDER BY created_at, id) AS turn "
                "FROM batches WHERE finished_at IS NULL) t ON t.id = b.id "
                "WHERE b.finished_at IS NULL AND (b.owner = $1 OR "
                "b.owner IS NULL OR b.lease_until < $3) "
                "ORDER BY CASE WHEN b.owner = $1 THEN 0 ELSE 1 END, t.turn, b.created_at "
                "LIMIT $4 FOR UPDATE OF b SKIP LOCKED) RETURNING *",
                owner,
                lease_until,
                now,
                limit,
            )
        return sorted((_batch(row) for row in rows), key=lambda b: (b.created_at, b.id))

    async def release(self, batch_id: str, owner: str) -> None:
        """Give the lease up."""
        with self._database.translate("release a batch"):
            await self._database.pool.execute(
                "UPDATE batches SET owner = NULL, lease_until = NULL WHERE id = $1 AND owner = $2",
                batch_id,
                owner,
            )

    async def pending_items(self, batch_id: str, *, limit: int) -> list[BatchItem]:
        """Pending items in index order."""
        with self._database.translate("read pending batch items"):
            rows = await self._database.pool.fetch(
                f"SELECT {_ITEM_COLUMNS} FROM batch_items WHERE batch_id = $1 "  # noqa: S608
                "AND status = 'pending' ORDER BY idx LIMIT $2",
                batch_id,
                limit,
            )
        return [item_from_row(row) for row in rows]

    async def sent_items(self, batch_id: str) -> list[BatchItem]:
        """Items sent, outcome not recorded yet."""
        with self._database.translate("read sent batch items"):
            rows = await self._database.pool.fetch(
                f"SELECT {_ITEM_COLUMNS} FROM batch_items WHERE batch_id = $1 "  # noqa: S608
                "AND status = 'sent' ORDER BY idx",
                batch_id,
            )
        return [item_from_row(row) for row in rows]

    async def mark_sent(self, batch_id: str, index: int, exchange_id: str) -> None:
        """Link the exchange, erase subject and data."""
        with self._database.translate("mark a batch item sent"):
            await self._database.pool.execute(
                "UPDATE batch_items SET status = 'sent', exchange_id = $1, subject = NULL, "
                "data = NULL WHERE batch_id = $2 AND idx = $3 AND status IN ('pending', "
                "'cancelled')",
                exchange_id,
                batch_id,
                index,
            )

    async def mark_final(
        self, batch_id: str, index: int, status: ItemStatus, error_code: str | None = None
    ) -> bool:
        """Record an outcome once."""
        with self._database.translate("record a batch item's outcome"):
            result = await self._database.pool.execute(
                "UPDATE batch_items SET status = $1, error_code = $2, subject = NULL, "
                "data = NULL WHERE batch_id = $3 AND idx = $4 AND status IN ('pending', 'sent')",
                status.value,
                error_code,
                batch_id,
                index,
            )
        return str(result).endswith(" 1")

    async def cancel(self, batch_id: str, now: datetime) -> int:
        """Cancel the pending items."""
        with self._database.translate("cancel a batch"):
            async with self._database.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "UPDATE batches SET cancelled_at = coalesce(cancelled_at, $1) WHERE id = $2",
                    now,
                    batch_id,
                )
                result = await conn.execute(
                    "UPDATE batch_items SET status = 'cancelled', subject = NULL, data = NULL "
                    "WHERE batch_id = $1 AND status = 'pending'",
                    batch_id,
                )
        return int(str(result).rsplit(" ", 1)[-1])

    async def finish_if_done(self, batch_id: str, now: datetime) -> bool:
        """Finished once nothing is pending or sent."""
        with self._database.translate("finish a batch"):
            await self._database.pool.execute(
                "UPDATE batches SET finished_at = $1, owner = NULL, lease_until = NULL "
                "WHERE id = $2 AND finished_at IS NULL AND NOT EXISTS (SELECT 1 FROM "
                "batch_items WHERE batch_id = $2 AND status IN ('pending', 'sent'))",
                now,
                batch_id,
            )
            finished = await self._database.pool.fetchval(
                "SELECT finished_at FROM batches WHERE id = $1", batch_id
            )
        return finished is not None

    async def items_page(self, batch_id: str, *, after: int, limit: int) -> list[BatchItem]:
        """Items after ``after`` in index order."""
        with self._database.translate("read batch items"):
            rows = await self._database.pool.fetch(
                f"SELECT {_ITEM_COLUMNS} FROM batch_items WHERE batch_id = $1 "  # noqa: S608
                "AND idx > $2 ORDER BY idx LIMIT $3",
                batch_id,
                after,
                limit,
            )
        return [item_from_row(row) for row in rows]

    async def count_active(self) -> int:
        """Unfinished batches."""
        with self._database.translate("count active batches"):
            value = await self._database.pool.fetchval(
                "SELECT count(*) FROM batches WHERE finished_at IS NULL"
            )
        return int(value)

    async def purge_finished(self, before: datetime, *, limit: int) -> int:
        """Batches finished before ``before`` (oldest first), items first, one statement;
        rows another replica is purging are skipped, not waited for."""
        with self._database.translate("purge finished batches"):
            value = await self._database.pool.fetchval(
                "WITH chosen AS (SELECT id FROM batches WHERE finished_at < $1 "
                "ORDER BY finished_at, id LIMIT $2 FOR UPDATE SKIP LOCKED), "
                "items AS (DELETE FROM batch_items WHERE batch_id IN (SELECT id FROM chosen)), "
                "purged AS (DELETE FROM batches WHERE id IN (SELECT id FROM chosen) "
                "RETURNING 1) SELECT count(*) FROM purged",
                before,
                limit,
            )
        return int(value)
