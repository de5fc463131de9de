"""The shared migrations on real SQLite and PostgreSQL: once, concurrently, never downgraded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from storage.migrations import SchemaTooNewError, migrate_postgres, migrate_sqlite
from storage.sqlite import connect_sqlite

STEPS = (("CREATE TABLE a (x integer)",), ("CREATE TABLE b (y integer)",))


async def test_sqlite_migrates_once_per_component_and_refuses_a_newer_schema(
    tmp_path: Path,
) -> None:
    db = await connect_sqlite(tmp_path / "m.db", busy_timeout_s=5)
    try:
        await migrate_sqlite(db, "one", STEPS)
        await migrate_sqlite(db, "one", STEPS)  # current: nothing to do, no error
        await migrate_sqlite(db, "two", ())
        rows = sorted(await db.execute_fetchall("SELECT component, version FROM schema_version"))
        # A component without migrations records nothing: there is no version to remember.
        assert [tuple(r) for r in rows] == [("one", 2)]
        with pytest.raises(SchemaTooNewError) as info:
            await migrate_sqlite(db, "one", STEPS[:1])
        assert (info.value.found, info.value.known) == (2, 1)
    finally:
        await db.close()


async def test_postgres_processes_starting_together_migrate_once(postgres_dsn: str) -> None:
    pools = [await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=2) for _ in range(4)]
    try:
        await asyncio.gather(*(migrate_postgres(pool, "one", STEPS) for pool in pools))
        await asyncio.gather(
            *(
                migrate_postgres(pool, "two", (("CREATE TABLE c (z integer)",),))
                for pool in pools[:2]
            )
        )
        rows = await pools[0].fetch("SELECT component, version FROM schema_version ORDER BY 1")
        assert [tuple(r) for r in rows] == [("one", 2), ("two", 1)]
        with pytest.raises(SchemaTooNewError):
            await migrate_postgres(pools[0], "one", STEPS[:1])
    finally:
        for pool in pools:
            await pool.close()
