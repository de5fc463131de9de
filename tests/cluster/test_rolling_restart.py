"""A rolling restart of the three brokers under load (issue #15), as an upgrade runs it.

Each node in turn is stopped cleanly (SIGTERM: controlled shutdown hands its leaderships
over first), started again on its own data and ports, and the next one waits until every
replica is back in sync (restarting the next one earlier would leave partitions with one
in-sync replica: min.insync.replicas 2 would refuse them). No accepted exchange may be
lost or duplicated, and clients may see errors only in a bounded window per node.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.cluster.levers import fully_replicated, start_node, stop_node
from tests.faults.load import Load
from tests.faults.reconcile import audit_mark, reconcile
from tests.faults.report import CaseReport
from tests.faults.steps import after_answers, retry_unsent
from tests.faults.system import System

pytestmark = pytest.mark.timeout(300)

_WINDOW_S = 20.0
"""How long after a node's stop clients may still see errors caused by it."""


async def test_rolling_restart_under_load(cluster: System, case: CaseReport) -> None:
    """480 exchanges at 12/s while nodes 1, 2, 3 are restarted one after the other
    (each once the cluster is fully replicated again): nothing lost or duplicated, audit
    verifies, every error answered within 20 s of a node's stop."""
    mark = await audit_mark(cluster)
    load = Load(cluster, report=case)
    running = asyncio.create_task(load.run(480, 16, rate_per_s=12))
    await after_answers(load, 40)
    stops: list[tuple[int, float, float]] = []
    for node in (1, 2, 3):
        stopping = time.monotonic()
        await asyncio.to_thread(stop_node, cluster, node)
        stopped_s = time.monotonic() - stopping
        await asyncio.to_thread(start_node, cluster, node)
        back_s = time.monotonic() - stopping
        await fully_replicated(cluster, stopping)
        stops.append((node, stopping, time.monotonic()))
        case.notes.append(
            f"node {node}: stopped in {stopped_s:.1f}s, answering {back_s:.1f}s after the "
            f"stop, every ISR full {time.monotonic() - stopping:.1f}s after it"
        )
    await running
    retried = await retry_unsent(load)
    failed = [a for a in load.answers if not a.accepted]
    outside = [
        a
        for a in failed
        if not any(start <= a.answered_at <= start + _WINDOW_S for _, start, _ in stops)
    ]
    per_node = {
        node: sum(1 for a in failed if start <= a.answered_at <= end + 1)
        for node, start, end in stops
    }
    case.notes += [
        f"errors per node restart: {per_node}",
        f"{retried} keys refused before sending, retried with the same key",
    ]
    await reconcile(cluster, load, case, mark=mark)
    assert not outside, [(a.status, a.code, round(a.answered_at - stops[0][1], 1)) for a in outside]
    codes = {a.code for a in failed}
    assert "PROVIDER_ERROR" not in codes, load.errors_by_code()
