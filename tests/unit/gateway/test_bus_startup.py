"""``BusStartup``: the gateway's Kafka side, started at once or, with no broker, in the
background from where the last attempt stopped; any other error ends the replica."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from bus.errors import BrokerUnavailableError, UnknownPartitionError
from gateway.bus_startup import BusStartup
from gateway.errors import GatewayStartingError


def _steps(log: list[str], failures: dict[str, list[Exception]]):  # type: ignore[no-untyped-def]
    def step(name: str):  # type: ignore[no-untyped-def]
        async def run(running: contextlib.AsyncExitStack) -> None:
            log.append(name)
            if failures.get(name):
                raise failures[name].pop(0)
            running.callback(log.append, f"stop {name}")

        return run

    return [step("producer"), step("services")]


async def test_with_a_broker_every_step_runs_before_start_returns() -> None:
    log: list[str] = []
    startup = BusStartup()
    async with contextlib.AsyncExitStack() as running:
        await startup.start(_steps(log, {}), running)
        assert startup.started
        startup.check()  # no error
    assert log == ["producer", "services", "stop services", "stop producer"]


async def test_with_no_broker_the_rest_starts_in_the_background_from_where_it_stopped() -> None:
    log: list[str] = []
    no_broker = BrokerUnavailableError("assigning the reply topic: Unable to bootstrap")
    startup = BusStartup()
    async with contextlib.AsyncExitStack() as running:
        await startup.start(_steps(log, {"services": [no_broker]}), running)
        assert not startup.started
        with pytest.raises(GatewayStartingError, match="nothing was stored or sent"):
            startup.check()
        await asyncio.wait_for(startup.ready.wait(), timeout=10)
        await startup.stop()
    # The producer started once; only the step that found no broker ran again.
    assert log == ["producer", "services", "services", "stop services", "stop producer"]
    assert not startup.failed.is_set()


async def test_another_error_found_in_the_background_ends_the_replica() -> None:
    log: list[str] = []
    missing = UnknownPartitionError("replies has partitions [0]; cannot own [1]")
    startup = BusStartup()
    async with contextlib.AsyncExitStack() as running:
        await startup.start(
            _steps(log, {"producer": [BrokerUnavailableError("no broker")], "services": [missing]}),
            running,
        )
        await asyncio.wait_for(startup.failed.wait(), timeout=10)
    assert startup.failure is missing
    assert not startup.started
    assert log == ["producer", "producer", "services", "stop producer"]


async def test_an_error_at_start_other_than_no_broker_is_raised_at_once() -> None:
    startup = BusStartup()
    missing = UnknownPartitionError("replies has partitions [0]; cannot own [1]")
    async with contextlib.AsyncExitStack() as running:
        with pytest.raises(UnknownPartitionError):
            await startup.start(_steps([], {"producer": [missing]}), running)
    assert not startup.failed.is_set()


async def test_a_first_attempt_that_hangs_is_left_to_the_background() -> None:
    """A broker that accepts connections and never answers (SIGSTOP): the first attempt
    would last the client's request timeout. Start-up goes on after ``first_attempt_s``,
    readiness says it waits, and the same attempt ends the wait when it succeeds."""
    answer = asyncio.Event()
    log: list[str] = []

    async def hanging(running: contextlib.AsyncExitStack) -> None:
        log.append("producer")
        await answer.wait()
        running.callback(log.append, "stop producer")

    startup = BusStartup(first_attempt_s=0.05)
    async with contextlib.AsyncExitStack() as running:
        await asyncio.wait_for(startup.start([hanging], running), timeout=5)
        assert not startup.started
        assert startup.wait.waiting
        with pytest.raises(GatewayStartingError):
            startup.check()
        answer.set()
        await asyncio.wait_for(startup.ready.wait(), timeout=5)
        await startup.stop()
    assert log == ["producer", "stop producer"]  # the one attempt, not a second


async def test_a_stop_during_a_hanging_first_attempt_cancels_it() -> None:
    cancelled = asyncio.Event()

    async def hanging(running: contextlib.AsyncExitStack) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    startup = BusStartup(first_attempt_s=0.05)
    async with contextlib.AsyncExitStack() as running:
        await startup.start([hanging], running)
        await asyncio.wait_for(startup.stop(), timeout=5)
    assert cancelled.is_set()
    assert not startup.failed.is_set()
