"""Schema migrations for every store of the project, on SQLite and PostgreSQL alike.

Several stores share one database (the gateway's exchanges, consents and audit index; a
connector's replies): each is a *component* with its own row in one ``schema_version``
table. Migration N (1-based) brings a component from version N-1 to N; migrations are
appended, never edited, because a published step has already run somewhere.

Concurrency: processes starting together must migrate once, one after the other. SQLite
takes the write lock up front (``BEGIN IMMEDIATE``); PostgreSQL takes one
transaction-scoped advisory lock shared by every component, because ``CREATE TABLE IF
NOT EXISTS schema_version`` alone is not safe when two sessions run it at once.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from typing import Final

import aiosqlite
import asyncpg

from contracts.errors import InteropError

__all__ = [
    "MIGRATION_LOCK_KEY",
    "Migrations",
    "SchemaTooNewError",
    "migrate_postgres",
    "migrate_sqlite",
]

Migrations = Sequence[Sequence[str]]
"""Per version, the statements that bring the component to it."""

MIGRATION_LOCK_KEY: Final = 0x3C1B_6A4E_2F70_9D15
"""The PostgreSQL advisory lock every component's migration holds (the first 8 bytes of
SHA-256("interop-bus:schema_version"); any fixed number works). One key for all: they
share the ``schema_version`` table, and two processes creating it at once collide."""


class SchemaTooNewError(InteropError):
    """The database was migrated by a newer release than this one: refuse to touch it."""

    code = "STORE_SCHEMA_TOO_NEW"

    def __init__(self, found: int, known: int) -> None:
        super().__init__(
            f"has schema version {found}, newer than this release knows ({known}): "
            "upgrade this process"
        )
        self.found = found
        self.known = known


async def migrate_sqlite(db: aiosqlite.Connection, component: str, migrations: Migrations) -> None:
    """Bring ``component`` to ``len(migrations)`` in one transaction (autocommit connection)."""
    await db.execute("BEGIN IMMEDIATE")
    try:
        await db.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        rows = list(
            await db.execute_fetchall(
                "SELECT version FROM schema_version WHERE component = ?", (component,)
            )
        )
        current = int(rows[0][0]) if rows else 0
        if current > len(migrations):
            raise SchemaTooNewError(current, len(migrations))
        for version in range(current + 1, len(migrations) + 1):
            for statement in migrations[version - 1]:
                await db.execute(statement)
            await db.execute(
                "INSERT INTO schema_version (component, version) VALUES (?, ?) "
                "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (component, version),
            )
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")


async def migrate_postgres(pool: asyncpg.Pool, component: str, migrations: Migrations) -> None:
    """Bring ``component`` to ``len(migrations)`` in one transaction, under the shared lock."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(component text PRIMARY KEY, version integer NOT NULL)"
        )
        current = int(
            await conn.fetchval(
                "SELECT coalesce(max(version), 0) FROM schema_version WHERE component = $1",
                component,
            )
        )
        if current > len(migrations):
            raise SchemaTooNewError(current, len(migrations))
        for version in range(current + 1, len(migrations) + 1):
            for statement in migrations[version - 1]:
                await conn.execute(statement)
        if current < len(migrations):
            await conn.execute(
                "INSERT INTO schema_version (component, version) VALUES ($1, $2) "
                "ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version",
                component,
                len(migrations),
            )
