"""The consent registry in PostgreSQL: the exchange store's database, its own tables.

Same discipline as ``gateway/store/postgres.py``: an asyncpg pool, migrations under a
transaction-scoped advisory lock (replicas starting together migrate once), driver errors
translated in one place with the password scrubbed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from gateway.consent.records import Consent, Opposition
from gateway.consent.store import (
    COMPONENT,
    CONSENT_COLUMNS,
    OPPOSITION_COLUMNS,
    consent_from_row,
    consent_values,
    opposition_from_row,
    opposition_values,
)
from gateway.errors import StoreUnavailableError
from gateway.store.records import utc
from storage import PostgresStore

__all__ = ["PostgresConsentStore"]


_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
        CREATE TABLE consents (
            id text PRIMARY KEY,
            subject_ref text NOT NULL,
            grantee text,
            services text NOT NULL,
            purposes text NOT NULL,
            valid_from timestamptz NOT NULL,
            valid_until timestamptz,
            evidence_channel text NOT NULL,
            evidence_digest text NOT NULL,
            recorded_by text NOT NULL,
            created_at timestamptz NOT NULL,
            revoked_at timestamptz,
            revoked_by text
        )
        """,
        "CREATE INDEX consents_subject ON consents (subject_ref)",
        """
        CREATE TABLE oppositions (
            id text PRIMARY KEY,
            subject_ref text NOT NULL,
            services text NOT NULL,
            requesters text NOT NULL,
            recorded_by text NOT NULL,
            created_at timestamptz NOT NULL,
            revoked_at timestamptz,
            revoked_by text
        )
        """,
        "CREATE INDEX oppositions_subject ON oppositions (subject_ref)",
    ),
)


def _time_in(value: datetime) -> datetime:
    return utc(value, "time")


def _time_out(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamptz, got {type(value).__name__}")
    return utc(value, "timestamp")


def _insert(table: str, columns: tuple[str, ...]) -> str:
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608


class PostgresConsentStore(PostgresStore):
    """Consents and oppositions in PostgreSQL, through an asyncpg pool."""

    name = "the PostgreSQL consent store"
    component = COMPONENT
    migrations = _MIGRATIONS
    error = StoreUnavailableError

    def __init__(self, dsn: str, *, max_size: int = 5, command_timeout_s: float = 10.0) -> None:
        super().__init__(
            dsn,
            max_size=max_size,
            connect_timeout_s=command_timeout_s,
            command_timeout_s=command_timeout_s,
        )

    async def add_consent(self, consent: Consent) -> None:
        with self._database.translate("record a consent"):
            await self._database.pool.execute(
                _insert("consents", CONSENT_COLUMNS), *consent_values(consent, _time_in)
            )

    async def add_opposition(self, opposition: Opposition) -> None:
        with self._database.translate("record an opposition"):
            await self._database.pool.execute(
                _insert("oppositions", OPPOSITION_COLUMNS),
                *opposition_values(opposition, _time_in),
            )

    async def get_consent(self, consent_id: str) -> Consent | None:
        rows = await self._select("consents", "id", consent_id)
        return next((consent_from_row(r, _time_out) for r in rows), None)

    async def get_opposition(self, opposition_id: str) -> Opposition | None:
        rows = await self._select("oppositions", "id", opposition_id)
        return next((opposition_from_row(r, _time_out) for r in rows), None)

    async def consents_of(self, subject_ref: str) -> list[Consent]:
        rows = await self._select("consents", "subject_ref", subject_ref)
        return [consent_from_row(r, _time_out) for r in rows]

    async def oppositions_of(self, subject_ref: str) -> list[Opposition]:
        rows = await self._select("oppositions", "subject_ref", subject_ref)
        return [opposition_from_row(r, _time_out) for r in rows]

    async def revoke_consent(self, consent_id: str, *, at: datetime, by: str) -> Consent | None:
        rows = await self._revoke("consents", consent_id, at, by)
        return next((consent_from_row(r, _time_out) for r in rows), None)

    async def revoke_opposition(
        self, opposition_id: str, *, at: datetime, by: str
    ) -> Opposition | None:
        rows = await self._revoke("oppositions", opposition_id, at, by)
        return next((opposition_from_row(r, _time_out) for r in rows), None)

    # -- internals ---------------------------------------------------------------------
    async def _select(self, table: str, column: str, value: str) -> list[dict[str, Any]]:
        query = f"SELECT * FROM {table} WHERE {column} = $1 ORDER BY created_at, id"  # noqa: S608
        with self._database.translate(f"read {table}"):
            rows = await self._database.pool.fetch(query, value)
        return [dict(row.items()) for row in rows]

    async def _revoke(self, table: str, row_id: str, at: datetime, by: str) -> list[dict[str, Any]]:
        # COALESCE keeps the first revocation's time and author; RETURNING shows the row.
        update = (
            f"UPDATE {table} SET revoked_at = coalesce(revoked_at, $2), "  # noqa: S608
            "revoked_by = coalesce(revoked_by, $3) WHERE id = $1 RETURNING *"
        )
        with self._database.translate(f"revoke in {table}"):
            rows = await self._database.pool.fetch(update, row_id, _time_in(at), by)
        return [dict(row.items()) for row in rows]
