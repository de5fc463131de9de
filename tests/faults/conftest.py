"""The fault-injection suite: the whole system as real processes, faults injected mid-load.

One ``interop dev`` (broker, demo registries, ``interop gateway`` and three ``interop
connector run`` as supervised children; ``tests/faults/system.py``) is shared by the
fault cases, and stopped after the last of them. Before each case the ``system`` fixture
checks it is healthy (every ``/readyz`` 200 and an exchange completing); a case that left
it broken does not poison the next: the system is then stopped and a fresh one started
(and the case's row says so).

Each case fills a ``CaseReport`` (``case`` fixture); the table of every case's figures
is printed at the end of the run ("faults: what clients saw").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.faults.load import Load
from tests.faults.reconcile import tally
from tests.faults.report import CASES, CaseReport, table
from tests.faults.system import CONNECTORS, System, start_system

_HEALTHY_WITHIN_S = 60.0


class _Running:
    """The session's system, restartable."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory
        self._stack = contextlib.ExitStack()
        self.system: System | None = None
        self.starts = 0

    def start(self) -> System:
        self.stop()
        self.starts += 1
        path: Path = self._factory.mktemp(f"faults-{self.starts}")
        self.system = self._stack.enter_context(start_system(path))
        return self.system

    def stop(self) -> None:
        self._stack.close()
        self._stack = contextlib.ExitStack()
        self.system = None


# Package scope: the system (broker, gateway, connectors) stops once the fault cases are
# done, instead of running idle beside the rest of the suite until the session ends.
@pytest.fixture(scope="package")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Running]:
    holder = _Running(tmp_path_factory)
    try:
        yield holder
    finally:
        holder.stop()


@pytest.fixture
def system(running: _Running, case: CaseReport) -> System:
    """The shared system, healthy (else restarted) before the case starts."""
    if running.system is None:
        return running.start()
    started = time.monotonic()
    why = asyncio.run(_unhealthy(running.system))
    if why is None:
        return running.system
    case.notes.append(
        f"the system left by the previous case was not healthy ({why}) after "
        f"{time.monotonic() - started:.0f}s: started a fresh one"
    )
    return running.start()


async def _unhealthy(system: System) -> str | None:
    """None once every ``/readyz`` is 200 and an exchange completes; else why not."""
    if not system.alive():
        return f"interop dev exited with {system.process.returncode}"
    urls = {"gateway": f"{system.url}/readyz"}
    urls.update({name: system.connector_ready_url(name) for name in CONNECTORS})
    deadline = time.monotonic() + _HEALTHY_WITHIN_S
    why = "?"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
        while time.monotonic() < deadline:
            statuses = {name: await _status(session, url) for name, url in urls.items()}
            if all(status == 200 for status in statuses.values()):
                canary = Load(system, poll=False)
                await canary.run(1, 1)
                if canary.answers[-1].status == 200:
                    return None
                why = f"an exchange answered {canary.answers[-1].status} {canary.answers[-1].code}"
            else:
                why = f"/readyz {statuses}"
            await asyncio.sleep(1.0)
    return why


async def _status(session: aiohttp.ClientSession, url: str) -> int:
    try:
        async with session.get(url) as response:
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


@pytest.fixture
def case(request: pytest.FixtureRequest) -> Iterator[CaseReport]:
    """This case's row of the final table (its outcome and wall time filled in here)."""
    report = CaseReport(name=request.node.name.removeprefix("test_"))
    started = time.monotonic()
    yield report
    report.seconds = time.monotonic() - started
    if report.lost is None and report.loads:  # failed before reconciling: what was seen
        merged = Load(report.loads[0].system)
        for load in report.loads:
            merged.answers += load.answers
        tally(report, merged)
    call = getattr(request.node, "rep_call", None)
    report.outcome = "?" if call is None else call.outcome
    CASES.append(report)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    """Keep each phase's report on the item, so ``case`` knows how the case ended."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Per fault: sent / 200 / 202 / errors by code / lost / duplicated / recovery."""
    if not CASES:
        return
    terminalreporter.section("faults: what clients saw")
    for line in table(CASES):
        terminalreporter.write_line(line)
