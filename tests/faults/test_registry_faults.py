"""The municipal register hung and corrupted under load (issue #14, item 7).

Hung: an exclusive lock on the register's SQLite file for 15 s (every reader waits).
Corrupted: its header overwritten in place for 10 s, then restored. Either way the
provider is failing, not the gateway: answers are 502 (``PROVIDER_ERROR``) or 504 within
the deadline plus the bound, the connector's circuit breaker opens (timeouts and
deadline cuts count), and once the file is back exchanges succeed again within the
breaker's open time plus a probe, without a restart. Exchanges answered during the fault
may end failed or timed out; they must still end, closed once in the audit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from tests.faults.load import Load
from tests.faults.reconcile import audit_mark, reconcile
from tests.faults.report import CaseReport
from tests.faults.steps import after_answers, until_success
from tests.faults.system import System

pytestmark = pytest.mark.timeout(240)

_RECOVERY_BOUND_S = 25.0
"""The breaker stays open 10 s (``CircuitPolicy.open_s``), then one probe closes it."""


def _hold(fault: Callable[[], AbstractContextManager[None]], seconds: float) -> None:
    with fault():
        time.sleep(seconds)  # the fault itself: the registry stays broken this long


async def _registry_fault(
    system: System,
    case: CaseReport,
    fault: Callable[[], AbstractContextManager[None]],
    *,
    fault_s: float,
    count: int,
) -> None:
    mark = await audit_mark(system)
    log_at = system.log_mark("connector-padron")
    load = Load(system, report=case)
    running = asyncio.create_task(load.run(count, 16, rate_per_s=8))
    await after_answers(load, 30)
    await asyncio.to_thread(_hold, fault, fault_s)
    over_at = time.monotonic()
    await running
    case.first_success_s = await until_success(load, over_at)
    opened = [
        line
        for line in system.log_since("connector-padron", log_at)
        if line.get("event") == "circuit_state_changed" and line.get("state") == "open"
    ]
    case.notes.append(f"breaker opened {len(opened)} time(s)")
    gateway_failures = {f"{a.status} {a.code}" for a in load.answers if a.status in (0, 500, 503)}
    await reconcile(system, load, case, mark=mark, provider_may_fail=True)
    assert opened, "the circuit breaker never opened while the registry was failing"
    assert not gateway_failures, f"a provider fault reported as the gateway's: {gateway_failures}"
    assert case.first_success_s < _RECOVERY_BOUND_S


async def test_registry_hung_for_fifteen_seconds(system: System, case: CaseReport) -> None:
    """An exclusive lock on the register's file for 15 s under 8 exchanges/s: the breaker
    opens, every answer comes within its bound as a 502/504, exchanges succeed again
    within 25 s of the release, and every exchange reconciles."""
    await _registry_fault(system, case, system.padron_locked, fault_s=15, count=280)


async def test_registry_corrupted_for_ten_seconds(system: System, case: CaseReport) -> None:
    """The register's file corrupted for 10 s under 8 exchanges/s: as for a hung one."""
    await _registry_fault(system, case, system.padron_corrupted, fault_s=10, count=200)
