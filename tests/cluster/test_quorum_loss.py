"""Two of the three brokers lost under load, then one back (issue #15).

With min.insync.replicas 2 one live broker must never confirm a write: the gateway
refuses exchanges (503, never 500 or 502 blaming the provider, never past the exchange's
deadline plus the bound), its ``/readyz`` says not ready, and when one broker returns
everything recovers by itself: no process restarted, every accepted exchange reconciled.

With combined controller+broker nodes, the second lost node also takes the controller
quorum (2 of 3 voters): no ISR can shrink any more, so the survivor's metadata names the
dead node as in sync for ever, and a write waits for it until the producer's timeout.
The gateway's replication health counts only the brokers that answer, so once it has
looked (every few seconds) the gateway refuses a new exchange *at once*: 503
``BUS_REFUSING_WRITES`` with ``Retry-After``, before anything is stored or sent. The case
reports how soon the gateway knew and how fast clients were refused;
docs/operations.md explains why production runs dedicated controllers.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import datetime

import pytest

from tests.cluster.levers import (
    AUDIT_TOPIC,
    fully_replicated,
    kill_node,
    leaders,
    out_of_every_isr,
    readyz,
    start_node,
)
from tests.faults.load import DEADLINE_S, Load
from tests.faults.reconcile import audit_mark, reconcile
from tests.faults.report import CaseReport
from tests.faults.steps import after_answers, ready_again, retry_unsent, until_success
from tests.faults.system import Probe, System

pytestmark = pytest.mark.timeout(300)

_OUTAGE_S = 15.0
_RECOVERY_S = 60.0
_KNOWN_WITHIN_S = 8.0
"""From the second kill until the gateway refuses at once: the replication health's
cache (5 s) plus one look at the cluster (a dead broker refuses the connection)."""
_AT_ONCE_S = 1.5
"""A refusal's latency once the gateway knows (it is ~10 ms; a loaded 2-core CI box)."""


async def _gateway_sees_degraded(system: System, timeout_s: float = 30) -> None:
    """Until the gateway's /readyz says the replication is degraded (one node lost, new
    leaders elected), not refusing any more."""
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = await readyz(system)
        detail = str(body.get("checks", {}).get("kafka_replication", ""))
        if status == 200 and detail.startswith("degraded"):
            return
        assert time.monotonic() < deadline, (status, body)
        await asyncio.sleep(0.2)


def _refusing_logged(system: System, mark: int, since_wall: float) -> float | None:
    """Seconds from ``since_wall`` to the gateway's log saying replication is refusing."""
    for line in system.log_since("gateway", mark):
        if line.get("event") == "kafka_replication_changed" and line.get("state") == "refusing":
            return datetime.fromisoformat(str(line["timestamp"])).timestamp() - since_wall
    return None


async def test_two_of_three_brokers_down(cluster: System, case: CaseReport) -> None:
    """Under 5 exchanges/s two nodes are SIGKILLed (the second once the first is out of
    every ISR); for 15 s the gateway refuses with 503 and says not ready, within 8 s at
    once (BUS_REFUSING_WRITES in under 1.5 s); one node back: an exchange completes and
    /readyz is 200 again within 60 s, nothing lost."""
    mark = await audit_mark(cluster)
    survivor = (await leaders(cluster, AUDIT_TOPIC))[0]
    first, second = (n for n in (1, 2, 3) if n != survivor)
    load = Load(cluster, report=case)
    restarts_before = len([line for line in cluster.output if "exited with status" in line])
    async with Probe(f"{cluster.url}/readyz") as ready:
        running = asyncio.create_task(load.run(170, 8, rate_per_s=5))
        await after_answers(load, 20)
        await asyncio.to_thread(kill_node, cluster, first)
        fenced_s = await out_of_every_isr(cluster, first)  # 9 s session, then ISRs shrink
        await _gateway_sees_degraded(cluster)  # so its change to "refusing" is logged
        log_mark = cluster.log_mark("gateway")
        await asyncio.to_thread(kill_node, cluster, second)
        down_at, down_wall = time.monotonic(), time.time()
        await asyncio.sleep(_OUTAGE_S)  # the fault itself: one broker of three
        await asyncio.to_thread(start_node, cluster, second)
        back_at = time.monotonic()
        during = [a for a in load.answers if down_at + 2 <= a.sent_at <= back_at]
        await running
        case.first_success_s = await until_success(load, back_at, timeout_s=_RECOVERY_S)
        retried = await retry_unsent(load)
        case.ready_s = await ready_again(ready, back_at, timeout_s=_RECOVERY_S)
    refused = [a for a in during if not a.accepted]
    statuses = sorted({a.status for a in during})
    latencies = [a.latency_s for a in refused]
    gated = [a for a in refused if a.problem_code == "BUS_REFUSING_WRITES"]
    known_s = min((a.answered_at for a in gated), default=back_at) - down_at
    settled = [a for a in during if a.sent_at >= down_at + _KNOWN_WITHIN_S]
    settled_s = [a.latency_s for a in settled]
    restarts = [line for line in cluster.output if "exited with status" in line]
    knew_s = _refusing_logged(cluster, log_mark, down_wall)
    case.notes += [
        f"node {first} out of every ISR {fenced_s:.1f}s after its kill; node {second} killed then",
        "the gateway's replication health said 'refusing' "
        + (f"{knew_s:.1f}s after the second kill" if knew_s is not None else "never"),
        f"while 2 of 3 were down: {len(refused)} of {len(during)} refused, statuses {statuses}",
        "refusal latency median "
        + (f"{statistics.median(latencies):.2f}s, max {max(latencies):.1f}s" if latencies else "-"),
        f"first BUS_REFUSING_WRITES {known_s:.1f}s after the second kill; from "
        f"+{_KNOWN_WITHIN_S:.0f}s on: {len(settled)} sent, answered in median "
        + (f"{statistics.median(settled_s):.3f}s, max {max(settled_s):.3f}s" if settled else "-"),
        f"gateway /readyz 503 while down: {ready.saw_between(down_at, back_at, 503)}",
        f"{retried} keys refused before sending, retried with the same key",
    ]
    await asyncio.to_thread(start_node, cluster, first)
    caught_up_s = await fully_replicated(cluster, time.monotonic())
    case.notes.append(f"all three nodes in every ISR {caught_up_s:.1f}s after the last start")
    await reconcile(cluster, load, case, mark=mark)
    assert len(restarts) == restarts_before, f"a process needed a restart: {restarts}"
    assert refused, "no exchange was refused with one broker of three"
    assert {a.status for a in refused} <= {503, 504}, load.errors_by_code()
    assert max(latencies) <= DEADLINE_S + 3.0, latencies
    # Once the gateway knows (within 8 s), every new exchange is refused at once, as the
    # bus refusing writes (Retry-After), never after waiting for the producer.
    assert known_s <= _KNOWN_WITHIN_S, known_s
    assert settled, "no exchange was sent after the gateway knew"
    assert {(a.status, a.problem_code) for a in settled} == {(503, "BUS_REFUSING_WRITES")}
    assert max(settled_s) <= _AT_ONCE_S, sorted(settled_s)[-5:]
    assert ready.saw_between(down_at, back_at, 503), ready.changes
    assert case.first_success_s < _RECOVERY_S
