"""The SQLite exchange store: the default, for one gateway on one machine.

One aiosqlite connection per store, in WAL mode (readers never block the writer) with a
busy timeout (a second process on the same file waits instead of failing). Every write is
ONE statement in its own autocommit transaction (``INSERT ... ON CONFLICT DO NOTHING``,
``UPDATE ... RETURNING``): such a statement takes the write lock when it starts, waiting
the busy timeout for it, so two processes never both read and then race to upgrade to a
write lock (SQLite answers that race with "database is locked" at once). With no
multi-statement transaction on the connection there is nothing for a statement of one
coroutine to land inside, so coroutines share the connection without a lock: aiosqlite
runs its statements one at a time, in order, on its own thread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from gateway.errors import StoreUnavailableError
from gateway.store.base import CreateOutcome, ExchangeRecord, ExchangeStatus
from gateway.store.records import (
    COLUMNS,
    FINAL_STATUSES,
    check_record,
    check_text,
    encode_result,
    record_from_row,
    utc,
)
from storage import SqliteStore

__all__ = ["SqliteExchangeStore"]

_COMPONENT = "exchanges"

# Migration N (1-based) brings the schema from version N-1 to N. Append, never edit:
# a published step has already run on somebody's database.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE exchanges (
            id TEXT PRIMARY KEY,
            requester TEXT NOT NULL,
            service TEXT NOT NULL,
            version TEXT NOT NULL,
            provider TEXT NOT NULL,
            purpose TEXT NOT NULL,
            official TEXT NOT NULL,
            subject_ref TEXT NOT NULL,
            request_digest TEXT NOT NULL,
            created_at TEXT NOT NULL,
            deadline TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('pending', 'completed', 'failed', 'timed_out')),
            procedure TEXT,
            case_file TEXT,
            legal_basis TEXT,
            consent_ref TEXT,
            idempotency_key TEXT,
            traceparent TEXT,
            reply_status TEXT,
            result TEXT,
            error_code TEXT,
            error_detail TEXT,
            completed_at TEXT,
            -- NULL keys are distinct in SQL, so exchanges without a key never collide.
            UNIQUE (requester, idempotency_key)
        )
        """,
        # expire_overdue scans pending exchanges by deadline; finished ones stay out.
        "CREATE INDEX exchanges_pending_deadline ON exchanges (deadline) WHERE status = 'pending'",
    ),
    # The digest of the request record as sent: a reply must name it (signed replies).
    ("ALTER TABLE exchanges ADD COLUMN sent_digest TEXT",),
    # The outbox of closing audit events (gateway/audit_outbox.py): set in the very
    # statement that ends the exchange, cleared once the trail has the event.
    (
        "ALTER TABLE exchanges ADD COLUMN closing_owed INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX exchanges_closing_owed ON exchanges (completed_at) WHERE closing_owed = 1",
    ),
    # The replica that owns the exchange's reply; the others' expiry waits longer for it.
    ("ALTER TABLE exchanges ADD COLUMN owner TEXT",),
)

_INSERT = (
    f"INSERT INTO exchanges ({', '.join(COLUMNS)}) "  # noqa: S608 - column names are ours
    f"VALUES ({', '.join('?' for _ in COLUMNS)}) ON CONFLICT DO NOTHING"
)
_BY_KEY = "SELECT * FROM exchanges WHERE requester = ? AND idempotency_key = ?"
_COMPLETE = (
    "UPDATE exchanges SET status = ?, completed_at = ?, reply_status = ?, result = ?, "
    "error_code = ?, error_detail = ?, closing_owed = ? "
    "WHERE id = ? AND status = 'pending' RETURNING *"
)
# One statement: the pick and the update cannot be separated by another writer.
_EXPIRE = (
    "UPDATE exchanges SET status = 'timed_out', completed_at = :now, closing_owed = 1 "
    "WHERE status = 'pending' AND id IN ("
    "SELECT id FROM exchanges WHERE status = 'pending' AND deadline < :now "
    "AND (owner IS :owner OR deadline < :others_before) "
    "AND id NOT IN (SELECT value FROM json_each(:sparing)) "
    "ORDER BY deadline LIMIT :limit) RETURNING *"
)

_OWED = (
    "SELECT * FROM exchanges WHERE closing_owed = 1 AND status != 'pending' "
    "ORDER BY completed_at LIMIT ?"
)

_ERASE = (
    "UPDATE exchanges SET result = NULL WHERE id IN ("
    "SELECT id FROM exchanges WHERE result IS NOT NULL AND completed_at < :before "
    "LIMIT :limit)"
)


def _time(value: datetime) -> str:
    # Fixed-width ISO 8601 in UTC, so text order is time order (deadline < :now).
    return value.isoformat(timespec="microseconds")


def _parse_time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


class SqliteExchangeStore(SqliteStore):
    """Exchanges in one SQLite file (created with its parent directories on ``open``)."""

    name = "the SQLite exchange store"
    component = _COMPONENT
    migrations = _MIGRATIONS
    error = StoreUnavailableError

    # -- exchanges ---------------------------------------------------------------------
    async def create(self, record: ExchangeRecord) -> CreateOutcome:
        """Insert ``record`` unless its requester already used its idempotency key."""
        check_record(record)
        params = [self._value(name, getattr(record, name)) for name in COLUMNS]
        with self._database.translate("create an exchange"):
            inserted = await self._database.write(_INSERT, params)
            if inserted.rowcount == 1:
                return CreateOutcome(record=record, created=True)
        if record.idempotency_key is not None:
            earlier = await self.get_by_idempotency_key(record.requester, record.idempotency_key)
            if earlier is not None:
                return CreateOutcome(record=earlier, created=False)
        raise ValueError(f"an exchange with id {record.id!r} already exists")

    async def get_by_idempotency_key(
        self, requester: str, idempotency_key: str
    ) -> ExchangeRecord | None:
        """The exchange ``requester`` created with ``idempotency_key``, or None."""
        with self._database.translate("read an exchange by idempotency key"):
            rows = await self._database.read(_BY_KEY, (requester, idempotency_key))
        return next((_record(row) for row in rows), None)

    async def get(self, exchange_id: str) -> ExchangeRecord | None:
        """The exchange, or None."""
        with self._database.translate("read an exchange"):
            rows = await self._database.read("SELECT * FROM exchanges WHERE id = ?", (exchange_id,))
        return next((_record(row) for row in rows), None)

    async def complete(
        self,
        exchange_id: str,
        *,
        status: ExchangeStatus,
        completed_at: datetime,
        reply_status: str | None = None,
        result: Mapping[str, Any] | None = None,
        error_code: str | None = None,
        error_detail: str | None = None,
        closing_owed: bool = False,
    ) -> ExchangeRecord | None:
        """Move a PENDING exchange to ``status``; None if unknown or already final."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"complete needs a final status, not {status.value!r}")
        for name, text in (
            ("reply_status", reply_status),
            ("error_code", error_code),
            ("error_detail", error_detail),
        ):
            check_text(name, text)
        params = (
            status.value,
            _time(utc(completed_at, "completed_at")),
            reply_status,
            encode_result(result),
            error_code,
            error_detail,
            int(closing_owed),
            exchange_id,
        )
        with self._database.translate("complete an exchange"):
            rows = (await self._database.write(_COMPLETE, params)).rows
        return next((_record(row) for row in rows), None)

    async def expire_overdue(
        self,
        now: datetime,
        *,
        limit: int = 1000,
        sparing: Collection[str] = (),
        owner: str | None = None,
        others_before: datetime | None = None,
    ) -> list[ExchangeRecord]:
        """Mark up to ``limit`` overdue PENDING exchanges (not in ``sparing``; another
        owner's only if due before ``others_before``) TIMED_OUT and return them."""
        now_text = _time(utc(now, "now"))
        params = {
            "now": now_text,
            "limit": limit,
            "sparing": json.dumps(sorted(sparing)),
            "owner": owner,
            "others_before": (
                now_text if others_before is None else _time(utc(others_before, "others_before"))
            ),
        }
        with self._database.translate("expire overdue exchanges"):
            async with self._database.session() as db:
                rows = await db.execute_fetchall(_EXPIRE, params)
        # RETURNING has no defined order; the oldest deadline first is what callers expect.
        return sorted((_record(row) for row in rows), key=lambda r: (r.deadline, r.id))

    async def owed_closings(self, *, limit: int = 500) -> list[ExchangeRecord]:
        """Ended exchanges whose closing audit event is owed, the longest-ended first."""
        with self._database.translate("read owed closing events"):
            async with self._database.session() as db:
                rows = await db.execute_fetchall(_OWED, (limit,))
        return [_record(row) for row in rows]

    async def count_owed_closings(self) -> int:
        """How many closing audit events are owed."""
        with self._database.translate("count owed closing events"):
            async with self._database.session() as db:
                rows = await db.execute_fetchall(
                    "SELECT count(*) FROM exchanges WHERE closing_owed = 1"
                )
        return int(next(iter(rows))[0])

    async def settle_closings(self, exchange_ids: Sequence[str]) -> None:
        """The trail holds these exchanges' closing events now."""
        if not exchange_ids:
            return
        marks = ", ".join("?" for _ in exchange_ids)
        with self._database.translate("settle closing events"):
            await self._database.write(
                f"UPDATE exchanges SET closing_owed = 0 WHERE id IN ({marks})",  # noqa: S608
                tuple(exchange_ids),
            )

    async def release_idempotency_key(self, exchange_id: str) -> None:
        """Forget the key of an exchange the gateway failed to send."""
        with self._database.translate("release an idempotency key"):
            await self._database.write(
                "UPDATE exchanges SET idempotency_key = NULL WHERE id = ?", (exchange_id,)
            )

    async def erase_results(self, ended_before: datetime, *, limit: int = 1000) -> int:
        """Erase the data of up to ``limit`` exchanges that ended before ``ended_before``."""
        params = {"before": _time(utc(ended_before, "ended_before")), "limit": limit}
        with self._database.translate("erase expired results"):
            async with self._database.session() as db:
                cursor = await db.execute(_ERASE, params)
                return cursor.rowcount

    # -- internals ---------------------------------------------------------------------
    @staticmethod
    def _value(name: str, value: Any) -> Any:
        if isinstance(value, datetime):
            return _time(utc(value, name))
        if name == "result":
            return encode_result(value)
        if isinstance(value, ExchangeStatus):
            return value.value
        return value


def _record(row: sqlite3.Row) -> ExchangeRecord:
    return record_from_row(dict(zip(row.keys(), row, strict=True)), _parse_time)
