"""Steps the fault cases share: wait for the load to get going, wait for the first
success after a fault, retry the keys refused before sending, measure a log's rate."""

from __future__ import annotations

import asyncio
import time
from typing import Final

from tests.faults.load import Load
from tests.faults.system import Probe, System

__all__ = [
    "after_answers",
    "named_restart",
    "process_lines_per_s",
    "ready_again",
    "retry_unsent",
    "until_success",
]

_RETRY_PAUSE_S: Final = 1.0


async def after_answers(load: Load, count: int, timeout_s: float = 60) -> None:
    """Until ``load`` has ``count`` answers (the fault goes in mid-load)."""
    deadline = time.monotonic() + timeout_s
    while len(load.answers) < count:
        assert time.monotonic() < deadline, f"only {len(load.answers)} answers"
        await asyncio.sleep(0.05)


async def named_restart(
    system: System, child: str, timeout_s: float = 60, *, status: int = -9, since: int = 0
) -> None:
    """Until ``interop dev`` has said (in its output from line ``since`` on) that ``child``
    exited with ``status`` and that it restarted it."""
    deadline = time.monotonic() + timeout_s
    while True:
        said = system.output[since:]
        if any(line.startswith(f"{child} exited with status {status}") for line in said) and any(
            line.startswith(f"{child} restarted") for line in said
        ):
            return
        assert time.monotonic() < deadline, said[-5:]
        await asyncio.sleep(0.2)


async def ready_again(probe: Probe, since: float, timeout_s: float = 60) -> float:
    """Seconds from ``since`` until ``probe`` saw 200 again (and still sees it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        ready = probe.ready_after(since)
        if ready is not None:
            return ready
        assert time.monotonic() < deadline, f"not ready again: {probe.changes[-5:]}"
        await asyncio.sleep(0.2)


async def until_success(load: Load, since: float, timeout_s: float = 90) -> float:
    """Send one exchange at a time (into ``load``, so it is reconciled too) until one
    sent after ``since`` is answered 200; seconds from ``since`` to that answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = load.first_success_after(since)
        if found is not None:
            return found
        assert time.monotonic() < deadline, (
            f"no exchange succeeds {timeout_s:.0f}s after the fault: "
            f"{[(a.status, a.code) for a in load.answers[-3:]]}"
        )
        await load.run(1, 1)
        if load.answers[-1].status != 200:
            await asyncio.sleep(0.5)


async def retry_unsent(load: Load, timeout_s: float = 90) -> int:
    """Retry every key refused before anything was sent (503 "could not be sent", 429)
    with the same Idempotency-Key, pausing between rounds as a client would, until each
    was accepted; how many keys needed it. A key that answers otherwise (e.g. 502
    blaming the provider) is kept as that answer and reconciled like any other."""
    refused = load.unsent()
    needed = len(refused)
    deadline = time.monotonic() + timeout_s
    while refused:
        await load.run(0, 4, retry=refused)
        refused = load.unsent()
        if refused:
            last = [(a.status, a.code) for a in load.answers[-len(refused) :]]
            assert time.monotonic() < deadline, f"{len(refused)} keys still refused: {last[:5]}"
            await asyncio.sleep(_RETRY_PAUSE_S)
    return needed


def process_lines_per_s(system: System, child: str, mark: int, seconds: float) -> float:
    """Lines per second the child logged after ``mark`` that belong to no exchange (its
    own state: connections, reconnects, partitions...), but for the gateway's
    ``not_ready`` line, which our own ``/readyz`` probe causes (one per 503 answered)."""
    lines = [
        line
        for line in system.log_since(child, mark)
        if "exchange_id" not in line and line.get("event") != "not_ready"
    ]
    return len(lines) / max(seconds, 1.0)
