"""The PostgreSQL reply store: replies shared by the replicas of a connector's group.

A rebalance may hand a partition to another replica while a request is in flight; both
then reply, and ``INSERT ... ON CONFLICT DO NOTHING`` followed by a read of the winner
makes both send the *same* stored bytes. Migrations run under a transaction-scoped
advisory lock, so replicas starting together migrate once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final
from urllib.parse import unquote, urlsplit

import asyncpg

from bus import ReplyStatus
from bus.schema_migrations import SchemaTooNewError, migrate_postgres
from connectors.errors import ReplyStoreError
from connectors.reply_store import COMPONENT, StoredReply, redact_url

__all__ = ["PostgresReplyStore"]

_BACKEND_ERRORS: Final[tuple[type[BaseException], ...]] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)

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


class PostgresReplyStore:
    """Replies in a PostgreSQL database, through an asyncpg pool."""

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout_s: float = 10.0,
        command_timeout_s: float = 10.0,
    ) -> None:
        self._dsn = dsn
        self._display = redact_url(dsn)
        self._password = _password_of(dsn)
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout_s = connect_timeout_s
        self._command_timeout_s = command_timeout_s
        self._pool: asyncpg.Pool | None = None

    def __repr__(self) -> str:
        return f"PostgresReplyStore({self._display!r})"

    async def open(self) -> None:
        if self._pool is not None:
            return
        with self._translate("open"):
            pool = asyncpg.create_pool(
                self._dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                timeout=self._connect_timeout_s,
                command_timeout=self._command_timeout_s,
            )
            await pool
            try:
                await self._migrate(pool)
            except BaseException:
                pool.terminate()
                raise
            self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with self._translate("close"):
                await pool.close()

    async def ping(self) -> None:
        with self._translate("answer a ping"):
            await self._require_pool().fetchval("SELECT 1")

    async def get(self, exchange_id: str) -> StoredReply | None:
        if "\x00" in exchange_id:  # PostgreSQL text cannot hold NUL; no reply has one
            return None
        with self._translate("read a reply"):
            row = await self._require_pool().fetchrow(_GET, exchange_id)
        return None if row is None else _reply(row)

    async def put(self, reply: StoredReply) -> StoredReply:
        with self._translate("store a reply"):
            pool = self._require_pool()
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
        with self._translate("purge old replies"):
            status = await self._require_pool().execute(
                "DELETE FROM connector_replies WHERE created_at < $1", older_than.astimezone(UTC)
            )
        return int(str(status).rsplit(" ", 1)[-1])

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise ReplyStoreError("the PostgreSQL reply store is not open")
        return self._pool

    @contextlib.contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        """The one place where asyncpg's and the network's errors become ours."""
        try:
            yield
        except _BACKEND_ERRORS as exc:
            detail = f"{type(exc).__name__}: {exc}"
            if self._password:
                detail = detail.replace(self._password, "***")
            raise ReplyStoreError(
                f"the PostgreSQL reply store {self._display} could not {action}: {detail}"
            ) from exc

    async def _migrate(self, pool: asyncpg.Pool) -> None:
        try:
            await migrate_postgres(pool, COMPONENT, _MIGRATIONS)
        except SchemaTooNewError as exc:
            raise ReplyStoreError(f"the reply store {self._display} {exc}") from None


def _reply(row: asyncpg.Record) -> StoredReply:
    return StoredReply(
        exchange_id=row["exchange_id"],
        status=ReplyStatus(row["status"]),
        error_code=row["error_code"],
        value=bytes(row["value"]),
        created_at=row["created_at"],
    )


def _password_of(dsn: str) -> str | None:
    try:
        password = urlsplit(dsn).password
    except ValueError:
        return None
    return unquote(password) if password else None
