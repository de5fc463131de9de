"""The consent registry in SQLite: the exchange store's file, its own tables.

Same discipline as ``gateway/store/sqlite.py``: one connection in WAL mode with a busy
timeout, every write one autocommit statement, no lock around the connection. A revoke is
an ``UPDATE`` (only of a row not yet revoked), then a read of the row as it now stands.
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
from storage import SqliteStore

__all__ = ["SqliteConsentStore"]

# Migration N brings the schema from N-1 to N. Append, never edit.
_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
        CREATE TABLE consents (
            id TEXT PRIMARY KEY,
            subject_ref TEXT NOT NULL,
            grantee TEXT,
            services TEXT NOT NULL,
            purposes TEXT NOT NULL,
            valid_from TEXT NOT NULL,
            valid_until TEXT,
            evidence_channel TEXT NOT NULL,
            evidence_digest TEXT NOT NULL,
            recorded_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT,
            revoked_by TEXT
        )
        """,
        "CREATE INDEX consents_subject ON consents (subject_ref)",
        """
        CREATE TABLE oppositions (
            id TEXT PRIMARY KEY,
            subject_ref TEXT NOT NULL,
            services TEXT NOT NULL,
            requesters TEXT NOT NULL,
            recorded_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT,
            revoked_by TEXT
        )
        """,
        "CREATE INDEX oppositions_subject ON oppositions (subject_ref)",
    ),
)


def _time(value: datetime) -> str:
    return utc(value, "time").isoformat(timespec="microseconds")


def _parse_time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - names are ours
        f"VALUES ({', '.join('?' for _ in columns)})"
    )


class SqliteConsentStore(SqliteStore):
    """Consents and oppositions in one SQLite file."""

    name = "the SQLite consent store"
    component = COMPONENT
    migrations = _MIGRATIONS
    error = StoreUnavailableError

    async def add_consent(self, consent: Consent) -> None:
        with self._database.translate("record a consent"):
            async with self._database.session() as db:
                await db.execute(
                    _insert("consents", CONSENT_COLUMNS), consent_values(consent, _time)
                )

    async def add_opposition(self, opposition: Opposition) -> None:
        with self._database.translate("record an opposition"):
            async with self._database.session() as db:
                await db.execute(
                    _insert("oppositions", OPPOSITION_COLUMNS),
                    opposition_values(opposition, _time),
                )

    async def get_consent(self, consent_id: str) -> Consent | None:
        rows = await self._select("consents", "id", consent_id)
        return next((consent_from_row(r, _parse_time) for r in rows), None)

    async def get_opposition(self, opposition_id: str) -> Opposition | None:
        rows = await self._select("oppositions", "id", opposition_id)
        return next((opposition_from_row(r, _parse_time) for r in rows), None)

    async def consents_of(self, subject_ref: str) -> list[Consent]:
        rows = await self._select("consents", "subject_ref", subject_ref)
        return [consent_from_row(r, _parse_time) for r in rows]

    async def oppositions_of(self, subject_ref: str) -> list[Opposition]:
        rows = await self._select("oppositions", "subject_ref", subject_ref)
        return [opposition_from_row(r, _parse_time) for r in rows]

    async def revoke_consent(self, consent_id: str, *, at: datetime, by: str) -> Consent | None:
        rows = await self._revoke("consents", consent_id, at, by)
        return next((consent_from_row(r, _parse_time) for r in rows), None)

    async def revoke_opposition(
        self, opposition_id: str, *, at: datetime, by: str
    ) -> Opposition | None:
        rows = await self._revoke("oppositions", opposition_id, at, by)
        return next((opposition_from_row(r, _parse_time) for r in rows), None)

    # -- internals ---------------------------------------------------------------------
    async def _select(self, table: str, column: str, value: str) -> list[dict[str, Any]]:
        query = f"SELECT * FROM {table} WHERE {column} = ? ORDER BY created_at, id"  # noqa: S608
        with self._database.translate(f"read {table}"):
            rows = await self._database.read(query, (value,))
        return [dict(zip(row.keys(), row, strict=True)) for row in rows]

    async def _revoke(self, table: str, row_id: str, at: datetime, by: str) -> list[dict[str, Any]]:
        update = (
            f"UPDATE {table} SET revoked_at = ?, revoked_by = ? "  # noqa: S608 - names are ours
            "WHERE id = ? AND revoked_at IS NULL"
        )
        with self._database.translate(f"revoke in {table}"):
            async with self._database.session() as db:
                await db.execute(update, (_time(at), by, row_id))
                rows = await db.execute_fetchall(
                    f"SELECT * FROM {table} WHERE id = ?",  # noqa: S608
                    (row_id,),
                )
        return [dict(zip(row.keys(), row, strict=True)) for row in rows]
