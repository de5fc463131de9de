"""An audit index of schema version 1 (before signed events) migrates to version 2."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from bus.audit.index import AuditIndex


async def test_a_version_1_index_gains_signatures_and_the_quarantine(tmp_path: Path) -> None:
    """Opening a version-1 index adds key_id/signature and the quarantine table, keeps the
    state row, and records version 2; opening again changes nothing."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    index = AuditIndex(url)
    await index.open()
    # Make it what a version-1 gateway left behind.
    async with index.connection() as conn:
        await conn.execute(sa.text("ALTER TABLE audit_events DROP COLUMN key_id"))
        await conn.execute(sa.text("ALTER TABLE audit_events DROP COLUMN signature"))
        await conn.execute(sa.text("DROP TABLE audit_quarantine"))
        await conn.execute(sa.text("UPDATE audit_state SET next_offset = 7, skipped = 1"))
        await conn.execute(sa.text("UPDATE schema_version SET version = 1"))
    await index.close()

    for _ in range(2):
        reopened = AuditIndex(url)
        await reopened.open()
        try:
            async with reopened.connection() as conn:
                columns = {
                    row[1] for row in await conn.execute(sa.text("PRAGMA table_info(audit_events)"))
                }
                version = (
                    await conn.execute(sa.text("SELECT version FROM schema_version"))
                ).scalar()
            state = await reopened.state()
            assert await reopened.quarantined() == []
        finally:
            await reopened.close()
        assert {"key_id", "signature"} <= columns
        assert version == 2
        assert (state.next_offset, state.skipped) == (7, 1)
