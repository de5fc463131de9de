"""``PeriodicTask``: the one background loop of the expiry, retention and lag sweeps."""

from __future__ import annotations

import asyncio
import time

import pytest

from bus.periodic import PeriodicTask


async def _until(condition: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not (callable(condition) and condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_a_failing_step_is_retried_next_round_and_stop_ends_the_loop() -> None:
    """A step that raises a listed failure does not end the loop; after ``stop`` no
    step runs any more, and ``stop`` may be called twice."""
    calls: list[int] = []

    async def step() -> None:
        calls.append(len(calls))
        if len(calls) <= 2:
            raise ConnectionError("the broker blinked")

    loop = PeriodicTask("t", step, interval_s=0.01, failure_event="step_failed")
    loop.start()
    task = loop._task
    assert task is not None
    await _until(lambda: len(calls) >= 4)
    await loop.stop()
    assert task.cancelled()  # stopped by stop(), not ended by the failures
    await loop.stop()


async def test_an_unlisted_failure_ends_the_loop_instead_of_hiding_a_bug() -> None:
    """Only the listed failures are retried: anything else is a bug and surfaces."""

    async def step() -> None:
        raise KeyError("a bug")

    loop = PeriodicTask("t", step, interval_s=0.01, failure_event="f", failures=(ConnectionError,))
    loop.start()
    task = loop._task
    assert task is not None
    with pytest.raises(KeyError):
        await asyncio.wait_for(task, timeout=5)


async def test_the_first_step_waits_for_before() -> None:
    """``before`` (the expiry waits for the replies to be read) runs to its end first."""
    gate = asyncio.Event()
    calls: list[bool] = []

    entered = asyncio.Event()

    async def before() -> None:
        entered.set()
        await gate.wait()

    async def step() -> None:
        calls.append(gate.is_set())

    loop = PeriodicTask("t", step, interval_s=0.01, failure_event="f", before=before)
    loop.start()
    await _until(entered.is_set)
    assert calls == []
    gate.set()
    await _until(lambda: len(calls) >= 2)
    await loop.stop()
    assert all(calls)
