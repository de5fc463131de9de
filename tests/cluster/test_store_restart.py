"""The PostgreSQL store crashed and started again under load (issue #15).

The gateway (exchanges, consents), its audit indexer (the audit index) and the three
connectors (reply store) keep their state on one PostgreSQL server (``store_server.py``).
It crashes mid-load (``pg_ctl stop -m immediate``: every server process gone at once, no
goodbye to the clients) and an operator starts it again 10 s later. No process of ours is
restarted (same pids): each pool reconnects by itself. While the store is gone the
gateway's ``/readyz`` is 503 naming the ``store`` check, the register connector's too,
and clients get 503 problems (never a 500, never a 502 blaming the provider, never past
the deadline plus the bound). Afterwards every accepted exchange ends exactly once with
the register's data and ``interop audit verify`` passes. The case reports how long
clients saw errors.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.cluster.levers import error_window, readyz
from tests.cluster.store_server import StoreServer
from tests.faults.load import UNSENT, Load
from tests.faults.reconcile import audit_mark, reconcile
from tests.faults.report import CaseReport
from tests.faults.steps import after_answers, ready_again, retry_unsent, until_success
from tests.faults.system import CONNECTORS, Probe, System

pytestmark = pytest.mark.timeout(300)

_OUTAGE_S = 10.0
_NOT_READY_WITHIN_S = 10.0
"""The gateway's /readyz answers each probe with a fresh ping of the store."""
_RECOVERY_S = 30.0
"""From the store's return to an exchange completing and every /readyz 200 again: the
pools reconnect on their next use, the reply router's retry backs off to 5 s at most."""


def _pids(system: System) -> dict[str, int]:
    # " gateway --config": not `audit index --config .../gateway.yaml`.
    pids = {
        "gateway": system.pid_of(" gateway --config"),
        "audit indexer": system.pid_of("audit index --config"),
    }
    for registry in CONNECTORS:
        pids[registry] = system.pid_of("connector run", f"connector-{registry}.yaml")
    return pids


async def _store_named_not_ready(system: System) -> tuple[float, str]:
    """Once the gateway's /readyz is 503 naming the store: (when, the problem's detail)."""
    deadline = time.monotonic() + _NOT_READY_WITHIN_S
    seen: tuple[int, object] = (0, None)
    while time.monotonic() < deadline:
        status, body = await readyz(system)
        seen = (status, body)
        if status == 503 and "store" in str(body.get("detail", "")):
            return time.monotonic(), str(body["detail"])
        await asyncio.sleep(0.2)
    raise AssertionError(f"/readyz never said the store is unavailable: {seen}")


async def test_store_crashed_mid_load(
    cluster: System, cluster_store: StoreServer, case: CaseReport
) -> None:
    """200 exchanges at 10/s; PostgreSQL crashed after 40 answers, started again 10 s
    later: nothing lost or duplicated, audit verifies, no process restarted, /readyz 503
    naming the store meanwhile and 200 again by itself, only 503/504 problems in between."""
    # What an earlier case left (a node rejoining, groups rebalancing) settles first.
    await until_success(Load(cluster), time.monotonic(), timeout_s=_RECOVERY_S)
    mark = await audit_mark(cluster)
    pids = _pids(cluster)
    restarts_before = len([line for line in cluster.output if "exited with status" in line])
    load = Load(cluster, report=case)
    async with (
        Probe(f"{cluster.url}/readyz") as gateway_ready,
        Probe(cluster.connector_ready_url("padron")) as connector_ready,
    ):
        running = asyncio.create_task(load.run(200, 16, rate_per_s=10))
        await after_answers(load, 40)
        await asyncio.to_thread(cluster_store.crash)
        down_at = time.monotonic()
        not_ready_at, detail = await _store_named_not_ready(cluster)
        await asyncio.sleep(max(0.0, down_at + _OUTAGE_S - time.monotonic()))  # the outage
        await asyncio.to_thread(cluster_store.start)
        back_at = time.monotonic()
        await running
        case.first_success_s = await until_success(load, back_at, timeout_s=_RECOVERY_S)
        retried = await retry_unsent(load)
        case.ready_s = await ready_again(gateway_ready, back_at, timeout_s=_RECOVERY_S)
        connector_ready_s = await ready_again(connector_ready, back_at, timeout_s=_RECOVERY_S)
    errors, first_s, last_s = error_window(load, down_at)
    during = [a for a in load.answers if down_at + 1 <= a.sent_at <= back_at]
    restarts = [line for line in cluster.output if "exited with status" in line]
    case.notes += [
        f"gateway /readyz 503 '{detail}' {not_ready_at - down_at:.1f}s after the crash",
        f"padron connector /readyz 503 during the outage: "
        f"{connector_ready.saw_between(down_at, back_at, 503)}, 200 again "
        f"{connector_ready_s:.1f}s after the restart",
        f"clients saw {errors} errors, from +{first_s:.1f}s to +{last_s:.1f}s after the crash "
        f"({_OUTAGE_S:.0f}s outage)",
        f"{retried} keys refused before sending, retried with the same key",
    ]
    await reconcile(cluster, load, case, mark=mark)
    assert _pids(cluster) == pids, "a process was restarted"
    assert len(restarts) == restarts_before, f"a process needed a restart: {restarts}"
    assert gateway_ready.saw_between(down_at, back_at, 503), gateway_ready.changes
    assert connector_ready.saw_between(down_at, back_at, 503), connector_ready.changes
    refused = [a for a in during if not a.accepted]
    assert refused, "no exchange was refused while the store was down"
    # 503 refused before anything was stored (the store's own problem, or the audit
    # trail's), 504 for an exchange in flight whose deadline passed during the outage.
    codes = {a.code for a in load.answers if not a.accepted}
    assert codes <= {"STORE_UNAVAILABLE", UNSENT, "DEADLINE_EXCEEDED"}, load.errors_by_code()
    assert last_s < _OUTAGE_S + _RECOVERY_S, load.errors_by_code()
    assert case.first_success_s < _RECOVERY_S
    assert case.ready_s < _RECOVERY_S
