"""Owner-only files: SQLite databases with their WAL files, and old state directories."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from pathlib import Path

from interop.file_modes import tighten
from storage.sqlite import connect_sqlite


def test_a_sqlite_database_and_its_wal_files_are_owner_only(tmp_path: Path) -> None:
    """Even under a permissive umask, the database SQLite creates is 0600, and so are the
    -wal and -shm files it derives from it."""
    path = tmp_path / "store.db"
    previous = os.umask(0o022)
    try:

        def modes() -> dict[str, int]:
            return {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}

        async def write() -> dict[str, int]:
            db = await connect_sqlite(path, busy_timeout_s=1.0)
            try:
                await db.execute("PRAGMA journal_mode = WAL")
                await db.execute("CREATE TABLE t (x TEXT)")
                await db.execute("INSERT INTO t VALUES ('personal')")
                return await asyncio.to_thread(modes)  # while the WAL files exist
            finally:
                await db.close()

        seen = asyncio.run(write())
    finally:
        os.umask(previous)
    assert seen == {"store.db": 0o600, "store.db-shm": 0o600, "store.db-wal": 0o600}
    with contextlib.closing(sqlite3.connect(path)) as check:
        assert check.execute("SELECT x FROM t").fetchone() == ("personal",)


def test_tighten_makes_an_old_state_directory_owner_only(tmp_path: Path) -> None:
    """Files become 0600 (0700 when executable), directories 0700."""
    state = tmp_path / "state"
    (state / "logs").mkdir(parents=True)
    config = state / "connector-aeat.yaml"
    config.write_text("audit_digest_key: x\n", encoding="utf-8")
    script = state / "run.sh"
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    for path, mode in ((state, 0o755), (state / "logs", 0o755), (config, 0o644), (script, 0o755)):
        os.chmod(path, mode)
    tighten(state)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (state, state / "logs", config, script)}
    assert modes == {"state": 0o700, "logs": 0o700, "connector-aeat.yaml": 0o600, "run.sh": 0o700}
