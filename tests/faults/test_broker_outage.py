"""The broker stopped under load, 10 s and 60 s (issue #14, items 1, 2, 3, 4, 6 and 8).

``interop kafka stop`` mid-load, the outage, ``interop kafka start`` on the same port and
data directory, as an operator would. While the broker is down a POST is refused as the
gateway's failure (503, never 502 blaming the provider) within its deadline plus the
bound; afterwards every process recovers by itself (no restart: ``interop dev`` must not
have restarted anyone), every key refused before sending proceeds when retried, and every
REQUESTED is closed even if its closing event was due while the trail was down.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.load import Load
from tests.faults.reconcile import audit_mark, reconcile
from tests.faults.report import CaseReport
from tests.faults.steps import (
    after_answers,
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
    _, gateway_ready, connector_ready, down_at, back_at, retried = await _broker_outage(
        system, case, outage_s=60, rate_per_s=5, count=450
    )
    assert gateway_ready.saw_between(down_at, back_at, 503), gateway_ready.changes
    assert connector_ready.saw_between(down_at, back_at, 503), connector_ready.changes
    assert retried > 0, "no key was refused before sending: the 503'd-key check saw nothing"
    assert case.first_success_s is not None
    assert case.first_success_s < 30
    assert case.ready_s is not None
    assert case.ready_s < 30
