"""A connector and the gateway SIGKILLed under load (issue #14, items 5, 8, 9 and 11), and
the audit indexer stopped, or SIGKILLed, beside the gateway.

``interop dev`` restarts a child that dies and says so, naming it with its exit status;
the restarted process must pick up where the dead one stopped: the connector rejoins at
once (static membership) and answers what was redelivered, from its reply store where it
had already answered; the gateway reads the replies waiting on its partitions before it
expires anything, so exchanges answered in time end completed, not timed out.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.faults.load import Load
from tests.faults.reconcile import audit_mark, reconcile
from tests.faults.report import CaseReport
from tests.faults.steps import after_answers, named_restart, ready_again, until_success
from tests.faults.system import Probe, System

pytestmark = pytest.mark.timeout(240)


async def test_connector_sigkill_mid_load(system: System, case: CaseReport) -> None:
    """The register's connector is SIGKILLed after 40 of 240 answers; interop dev names
    the death and restarts it, it is ready again within 20 s, serves at once (static
    membership, no session timeout to wait out), and every exchange reconciles."""
    mark = await audit_mark(system)
    load = Load(system, report=case)
    async with Probe(system.connector_ready_url("padron")) as ready:
        running = asyncio.create_task(load.run(240, 12, rate_per_s=30))
        await after_answers(load, 40)
        system.kill_connector("padron")
        killed_at = time.monotonic()
        await running
        case.first_success_s = await until_success(load, killed_at)
        await named_restart(system, "connector-padron")
        case.ready_s = await ready_again(ready, killed_at)
    case.notes.append("readyz 200 = the restarted connector's")
    await reconcile(system, load, case, mark=mark)
    assert case.ready_s < 20, ready.changes
    assert case.first_success_s < 20


async def test_gateway_sigkill_with_pending_exchanges(system: System, case: CaseReport) -> None:
    """60 exchanges accepted without waiting (``Prefer: wait=0``, 202), the gateway
    SIGKILLed at once; interop dev restarts it, and every one of them ends completed with
    the register's data (the connector answered in time), none timed out."""
    mark = await audit_mark(system)
    pending = Load(system, wait_s=0, poll=False, report=case)
    await pending.run(60, 8)
    assert [a.status for a in pending.answers] == [202] * 60, pending.errors_by_code()
    async with Probe(f"{system.url}/readyz") as ready:
        system.kill_gateway()
        killed_at = time.monotonic()
        after = Load(system, report=case)
        case.first_success_s = await until_success(after, killed_at)
        await named_restart(system, "gateway")
        case.ready_s = await ready_again(ready, killed_at)
    pending.answers += after.answers
    await reconcile(system, pending, case, mark=mark)
    assert case.first_success_s < 30


async def test_the_audit_indexer_stopped_cleanly_loses_none_of_the_gateways_writes(
    system: System, case: CaseReport
) -> None:
    """``interop dev`` runs the gateway and its audit indexer as two processes on one
    SQLite file. The indexer is stopped with SIGTERM (it closes the file cleanly) and
    restarted; every exchange made afterwards must be in that file as any other process
    reads it, not only in the gateway's own view. (Before, the gateway's SQLite locks
    were dropped as it opened its third store: the indexer's clean close deleted the WAL
    the gateway was writing, and its later commits went to a deleted file.)"""
    mark = await audit_mark(system)
    load = Load(system, report=case)
    await load.run(20, 4)
    os.kill(system.pid_of("audit index --config"), signal.SIGTERM)
    await named_restart(system, "audit-indexer", status=0)
    after = Load(system, report=case)
    await after.run(40, 8)
    made = [a.exchange_id for a in after.answers if a.accepted and a.exchange_id]
    assert len(made) == 40, after.errors_by_code()
    stored = await asyncio.to_thread(_statuses, system.state_dir / "gateway.db", made)
    assert stored == dict.fromkeys(made, "completed")
    case.notes.append(f"{len(made)} exchanges made after the restart, all in the file")
    load.answers += after.answers
    await reconcile(system, load, case, mark=mark)


async def test_the_audit_indexer_sigkilled_mid_load(system: System, case: CaseReport) -> None:
    """The audit indexer is SIGKILLed while exchanges flow: its rows, Merkle nodes and
    offset were committed together, so the restarted indexer resumes where its last
    transaction ended. Every exchange reconciles and ``interop audit verify`` finds each
    event once, with no gap and no repeat."""
    mark = await audit_mark(system)
    load = Load(system, report=case)
    running = asyncio.create_task(load.run(160, 8, rate_per_s=30))
    await after_answers(load, 40)
    os.kill(system.pid_of("audit index --config"), signal.SIGKILL)
    await named_restart(system, "audit-indexer")
    await running
    accepted = [a for a in load.answers if a.accepted]
    assert len(accepted) == 160, load.errors_by_code()  # the gateway never noticed
    case.notes.append("indexer SIGKILLed after 40 answers; 160 exchanges, all indexed once")
    await reconcile(system, load, case, mark=mark)


def _statuses(database: Path, exchange_ids: list[str]) -> dict[str, str]:
    """The stored status of each exchange, read by this process (not the gateway)."""
    marks = ",".join("?" for _ in exchange_ids)
    with sqlite3.connect(database, timeout=30) as db:
        rows = db.execute(
            f"SELECT id, status FROM exchanges WHERE id IN ({marks})",  # noqa: S608
            exchange_ids,
        ).fetchall()
    return dict(rows)
