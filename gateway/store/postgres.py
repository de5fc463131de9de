"""The PostgreSQL exchange store: state shared by several gateway replicas.

Every guarantee is one statement the server enforces, so it holds across replicas:
idempotency is ``INSERT ... ON CONFLICT DO NOTHING`` against UNIQUE(requester,
idempotency_key); a reply completes an exchange with ``UPDATE ... WHERE status =
'pending' RETURNING *`` (the loser of a race finds no pending row); and the timeout sweep
picks rows ``FOR UPDATE SKIP LOCKED``, so two replicas sweeping at once take disjoint
rows instead of the same ones. Schema migrations run under a transaction-scoped
advisory lock, so replicas starting together migrate once, one after the other.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

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
from storage import PostgresStore

__all__ = ["PostgresExchangeStore"]


_COMPONENT = "exchanges"

# Migration N (1-based) brings the schema from version N-1 to N. Append, never edit.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE exchanges (
            id text PRIMARY KEY,
            requester text NOT NULL,
            service text NOT NULL,
            version text NOT NULL,
            provider text NOT NULL,
            purpose text NOT NULL,
            official text NOT NULL,
            subject_ref text NOT NULL,
            request_digest text NOT NULL,
            created_at timestamptz NOT NULL,
            deadline timestamptz NOT NULL,
            status text NOT NULL
                CHECK (status IN ('pending', 'completed', 'failed', 'timed_out')),
            procedure text,
            case_file text,
            legal_basis text,
            consent_ref text,
            idempotency_key text,
            traceparent text,
            reply_status text,
            -- json, not jsonb: it keeps the provider's text verbatim (key order, \\u0000
            -- escapes, which jsonb refuses); the store never queries inside it.
            result json,
            error_code text,
            error_detail text,
            completed_at timestamptz,
            UNIQUE (requester, idempotency_key)
        )
        """,
        "CREATE INDEX exchanges_pending_deadline ON exchanges (deadline) WHERE status = 'pending'",
    ),
    # The digest of the request record as sent: a reply must name it (signed replies).
    ("ALTER TABLE exchanges ADD COLUMN sent_digest text",),
    # The outbox of closing audit events (gateway/audit_outbox.py): set in the very
    # statement that ends the exchange, cleared once the trail has the event.
    (
        "ALTER TABLE exchanges ADD COLUMN closing_owed boolean NOT NULL DEFAULT false",
        "CREATE INDEX exchanges_closing_owed ON exchanges (completed_at) WHERE closing_owed",
    ),
    # The replica that owns the exchange's reply; the others' expiry waits longer for it.
    ("ALTER TABLE exchanges ADD COLUMN owner text",),
)

_INSERT = (
    f"INSERT INTO exchanges ({', '.join(COLUMNS)}) "  # noqa: S608 - column names are ours
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(COLUMNS) + 1))}) "
    "ON CONFLICT DO NOTHING RETURNING id"
)
_BY_KEY = "SELECT * FROM exchanges WHERE requester = $1 AND idempotency_key = $2"
_COMPLETE = (
    "UPDATE exchanges SET status = $1, completed_at = $2, reply_status = $3, result = $4, "
    "error_code = $5, error_detail = $6, closing_owed = $8 "
    "WHERE id = $7 AND status = 'pending' RETURNING *"
)
# READ COMMITTED re-checks ``status = 'pending'`` on rows another replica changed while
# this statement ran; SKIP LOCKED passes over the rows it is changing right now.
_EXPIRE = """
    WITH due AS (
        SELECT id FROM exchanges
        WHERE status = 'pending' AND deadline < $1 AND NOT (id = ANY($3::text[]))
            AND (owner IS NOT DISTINCT FROM $4 OR deadline < $5)
        ORDER BY deadline
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    )
    UPDATE exchanges AS e SET status = 'timed_out', completed_at = $1, closing_owed = true
    FROM due WHERE e.id = due.id AND e.status = 'pending'
    RETURNING e.*
"""

_OWED = """
    SELECT * FROM exchanges WHERE closing_owed AND status <> 'pending'
    ORDER BY completed_at LIMIT $1
"""

_ERASE = """
    WITH due AS (
        SELECT id FROM exchanges
        WHERE result IS NOT NULL AND completed_at < $1
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    )
    UPDATE exchanges AS e SET result = NULL FROM due WHERE e.id = due.id
"""


class PostgresExchangeStore(PostgresStore):
    """Exchanges in a PostgreSQL database, through an asyncpg connection pool."""

    name = "the PostgreSQL exchange store"
    component = _COMPONENT
    migrations = _MIGRATIONS
    error = StoreUnavailableError

    # -- exchanges ---------------------------------------------------------------------
    async def create(self, record: ExchangeRecord) -> CreateOutcome:
        """Insert ``record`` unless its requester already used its idempotency key."""
        check_record(record)
        params = [_value(name, getattr(record, name)) for name in COLUMNS]
        with self._database.translate("create an exchange"):
            pool = self._database.pool
            # Autocommit: a racing insert of the same key waits for ours to commit, then
            # does nothing; the SELECT after it sees the committed winner.
            if await pool.fetchrow(_INSERT, *params) is not None:
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
        if "\x00" in requester + idempotency_key:  # create refuses NULs (see ``get``)
            return None
        with self._database.translate("read an exchange by idempotency key"):
            row = await self._database.pool.fetchrow(_BY_KEY, requester, idempotency_key)
        return None if row is None else _record(row)

    async def get(self, exchange_id: str) -> ExchangeRecord | None:
        """The exchange, or None."""
        if "\x00" in exchange_id:  # create refuses NULs, and PostgreSQL cannot parse one
            return None
        with self._database.translate("read an exchange"):
            row = await self._database.pool.fetchrow(
                "SELECT * FROM exchanges WHERE id = $1", exchange_id
            )
        return None if row is None else _record(row)

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
        if "\x00" in exchange_id:
            return None
        with self._database.translate("complete an exchange"):
            row = await self._database.pool.fetchrow(
                _COMPLETE,
                status.value,
                utc(completed_at, "completed_at"),
                reply_status,
                encode_result(result),
                error_code,
                error_detail,
                exchange_id,
                closing_owed,
            )
        return None if row is None else _record(row)

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
        moment = utc(now, "now")
        others = moment if others_before is None else utc(others_before, "others_before")
        with self._database.translate("expire overdue exchanges"):
            rows = await self._database.pool.fetch(
                _EXPIRE, moment, limit, sorted(sparing), owner, others
            )
        return sorted((_record(row) for row in rows), key=lambda r: (r.deadline, r.id))

    async def owed_closings(self, *, limit: int = 500) -> list[ExchangeRecord]:
        """Ended exchanges whose closing audit event is owed, the longest-ended first."""
        with self._database.translate("read owed closing events"):
            rows = await self._database.pool.fetch(_OWED, limit)
        return [_record(row) for row in rows]

    async def count_owed_closings(self) -> int:
        """How many closing audit events are owed."""
        with self._database.translate("count owed closing events"):
            count = await self._database.pool.fetchval(
                "SELECT count(*) FROM exchanges WHERE closing_owed"
            )
        return int(count)

    async def settle_closings(self, exchange_ids: Sequence[str]) -> None:
        """The trail holds these exchanges' closing events now."""
        if not exchange_ids:
            return
        with self._database.translate("settle closing events"):
            await self._database.pool.execute(
                "UPDATE exchanges SET closing_owed = false WHERE id = ANY($1::text[])",
                list(exchange_ids),
            )

    async def release_idempotency_key(self, exchange_id: str) -> None:
        """Forget the key of an exchange the gateway failed to send."""
        with self._database.translate("release an idempotency key"):
            await self._database.pool.execute(
                "UPDATE exchanges SET idempotency_key = NULL WHERE id = $1", exchange_id
            )

    async def erase_results(self, ended_before: datetime, *, limit: int = 1000) -> int:
        """Erase the data of up to ``limit`` exchanges that ended before ``ended_before``."""
        with self._database.translate("erase expired results"):
            status = await self._database.pool.execute(
                _ERASE, utc(ended_before, "ended_before"), limit
            )
        return int(status.rsplit(" ", 1)[-1])  # "UPDATE <n>"

    # -- internals ---------------------------------------------------------------------


def _value(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return utc(value, name)
    if name == "result":
        return encode_result(value)
    if isinstance(value, ExchangeStatus):
        return value.value
    return value


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamptz, got {type(value).__name__}")
    return utc(value, "timestamp")


def _record(row: asyncpg.Record) -> ExchangeRecord:
    return record_from_row(dict(row.items()), _parse_time)
