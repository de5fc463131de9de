"""The broker stopped under load, 10 s and 60 s (issue #14, items 1, 2, 3, 4, 6 and 8), and
the processes restarted while it is down.

``interop kafka stop`` mid-load, the outage, ``interop kafka start`` on the same port and
data directory, as an operator would. While the broker is down a POST is refused as the
gateway's failure (503, never 502 blaming the provider) within its deadline plus the
bound; afterwards every process recovers by itself (no restart: ``interop dev`` must not
have restarted anyone), every key refused before sending proceeds when retried, and every
REQUESTED is closed even if its closing event was due while the trail was down.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time

import aiohttp
import pytest

from tests.faults.load import Load
from tests.faults.reconcile import audit_mark, reconcile
from tests.faults.report import CaseReport
from tests.faults.steps import (
    after_answers,
    named_restart,
    process_lines_per_s,
    ready_again,
    retry_unsent,
    until_success,
)
from tests.faults.system import Probe, System

pytestmark = pytest.mark.timeout(300)

_MAX_PROCESS_LINES_PER_S = 5.0
"""Lines per second a process may log about its own state during an outage (issue #14,
item 6: a state change once, then a summary every few seconds; it was 3,500+)."""


async def _broker_outage(
    system: System, case: CaseReport, *, outage_s: float, rate_per_s: float, count: int
) -> tuple[Load, Probe, Probe, float, float, int]:
    """The load at ``rate_per_s``, the broker stopped for ``outage_s`` after 8 s of it;
    the probes of the gateway's and the register connector's ``/readyz``."""
    mark = await audit_mark(system)
    load = Load(system, report=case)
    output_before = len(system.output)
    async with (
        Probe(f"{system.url}/readyz") as gateway_ready,
        Probe(system.connector_ready_url("padron")) as connector_ready,
    ):
        running = asyncio.create_task(load.run(count, 16, rate_per_s=rate_per_s))
        await after_answers(load, int(8 * rate_per_s) - 16)
        logs = {child: system.log_mark(child) for child in ("gateway", "connector-padron")}
        await asyncio.to_thread(system.kafka, "stop")
        down_at = time.monotonic()
        await asyncio.sleep(outage_s)  # the fault itself: the broker stays down
        await asyncio.to_thread(system.kafka, "start")
        back_at = time.monotonic()
        rates = {
            child: process_lines_per_s(system, child, at, back_at - down_at)
            for child, at in logs.items()
        }
        case.notes += [
            f"{c} logged {r:.1f} own-state lines/s in the outage" for c, r in rates.items()
        ]
        await running
        case.first_success_s = await until_success(load, back_at)
        retried = await retry_unsent(load)
        case.notes.append(f"{retried} keys refused before sending, retried with the same key")
        case.ready_s = await ready_again(gateway_ready, back_at)
    restarts = [line for line in system.output[output_before:] if "exited with status" in line]
    for probe, name in ((gateway_ready, "gateway"), (connector_ready, "connector")):
        seen = probe.saw_between(down_at, back_at, 503)
        case.notes.append(f"{name} /readyz 503 during the outage: {'yes' if seen else 'NO'}")
    await reconcile(system, load, case, mark=mark)
    assert not restarts, f"a process needed a restart to recover: {restarts}"
    codes = {a.code for a in load.answers if not a.accepted}
    assert "PROVIDER_ERROR" not in codes, load.errors_by_code()
    assert max(rates.values()) < _MAX_PROCESS_LINES_PER_S, rates
    return load, gateway_ready, connector_ready, down_at, back_at, retried


async def test_broker_stopped_for_ten_seconds(system: System, case: CaseReport) -> None:
    """A 10 s outage under 10 exchanges/s: no 502, no answer past its bound, every 503'd
    key proceeds when retried, everything reconciles; an exchange completes within 30 s
    of the broker's return and the gateway is ready within 30 s."""
    await _broker_outage(system, case, outage_s=10, rate_per_s=10, count=300)
    assert case.first_success_s is not None
    assert case.first_success_s < 30
    assert case.ready_s is not None
    assert case.ready_s < 30


async def test_broker_stopped_for_sixty_seconds(system: System, case: CaseReport) -> None:
    """A 60 s outage (past the ~50 s that broke the gateway's producer for good) under 5
    exchanges/s: the gateway and the register connector say not ready while the broker
    is down, and recover by themselves; the rest as for 10 s."""
    load, gateway_ready, connector_ready, down_at, back_at, retried = await _broker_outage(
        system, case, outage_s=60, rate_per_s=5, count=450
    )
    assert gateway_ready.saw_between(down_at, back_at, 503), gateway_ready.changes
    assert connector_ready.saw_between(down_at, back_at, 503), connector_ready.changes
    # Once the gateway knows the bus is down, a POST is refused at once, not after its
    # REQUESTED write's 5 s timeout (but for one probe every 2 s: gateway/bus_write_gate.py).
    late = [a for a in load.answers if down_at + 15 < a.sent_at < back_at]
    median_s = statistics.median(sorted(a.latency_s for a in late))
    case.notes.append(f"{len(late)} POSTs sent 15 s into the outage: median {median_s:.2f}s")
    assert median_s < 1.0, [round(a.latency_s, 2) for a in late]
    assert retried > 0, "no key was refused before sending: the 503'd-key check saw nothing"
    assert case.first_success_s is not None
    assert case.first_success_s < 30
    assert case.ready_s is not None
    assert case.ready_s < 30


async def test_processes_restarted_while_the_broker_is_down(
    system: System, case: CaseReport
) -> None:
    """The broker stopped, then the gateway, the register's connector and the audit indexer
    SIGKILLed: ``interop dev`` restarts them with no broker to find. Each must stay up
    (before, each ended at once with BROKER_UNAVAILABLE and was restarted again and
    again): alive, not ready, the gateway refusing exchanges with 503
    ``GATEWAY_STARTING`` and ``Retry-After``. Once the broker is back, all are ready
    with no further restart, the refused keys proceed when retried, and everything
    reconciles."""
    mark = await audit_mark(system)
    output_before = len(system.output)
    await asyncio.to_thread(system.kafka, "stop")
    down_at = time.monotonic()
    system.kill_gateway()
    system.kill_connector("padron")
    os.kill(system.pid_of("audit index --config"), signal.SIGKILL)
    for child in ("gateway", "connector-padron", "audit-indexer"):
        await named_restart(system, child, since=output_before)
    load = Load(system, report=case)
    async with aiohttp.ClientSession() as http:
        alive = await _status_within(http, f"{system.url}/healthz", 200)
        case.notes.append(f"restarted gateway alive {alive:.1f}s after the kill, no broker")
        for url in (f"{system.url}/readyz", system.connector_ready_url("padron")):
            await _status_within(http, url, 503)  # listening (just restarted), not ready
        async with http.post(f"{system.url}/v1/exchanges", json={}) as response:
            body = await response.json(content_type=None)
            assert (response.status, body["code"]) == (503, "GATEWAY_STARTING"), body
            assert response.headers["Retry-After"] == "5"
    await load.run(6, 3)
    assert {a.problem_code for a in load.answers} == {"GATEWAY_STARTING"}, load.errors_by_code()
    refused_while_starting = {a.key for a in load.answers}
    await asyncio.sleep(max(0.0, down_at + 15 - time.monotonic()))  # the outage goes on
    await asyncio.to_thread(system.kafka, "start")
    back_at = time.monotonic()
    async with Probe(f"{system.url}/readyz") as gateway_ready:
        case.ready_s = await ready_again(gateway_ready, back_at)
    case.first_success_s = await until_success(load, back_at)
    retried = await retry_unsent(load)
    case.notes.append(f"{retried} keys refused while starting, retried with the same key")
    await load.run(30, 6)
    exits = [
        line
        for line in system.output[output_before:]
        if "exited with status" in line and "exited with status -9" not in line
    ]
    assert not exits, f"a process restarted without a broker did not stay up: {exits}"
    assert refused_while_starting <= load.accepted().keys(), load.errors_by_code()
    await reconcile(system, load, case, mark=mark)
    assert case.ready_s < 30


async def _status_within(
    http: aiohttp.ClientSession, url: str, status: int, timeout_s: float = 60
) -> float:
    """Seconds until ``url`` answers ``status`` (a process restarted moments ago)."""
    started = time.monotonic()
    while True:
        try:
            async with http.get(url) as response:
                if response.status == status:
                    return time.monotonic() - started
        except aiohttp.ClientError:
            pass  # not listening yet
        assert time.monotonic() - started < timeout_s, f"{url} never answered {status}"
        await asyncio.sleep(0.2)
