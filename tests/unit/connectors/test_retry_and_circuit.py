"""Retries with backoff and jitter, and the circuit breaker's state machine (manual clock)."""

from __future__ import annotations

import random

import pytest

from connectors.adapters.base import (
    LegacyError,
    LegacyErrorKind,
    LegacyRejectedError,
    LegacyTimeoutError,
    LegacyUnavailableError,
)
from connectors.circuit import CircuitBreaker, CircuitPolicy, CircuitState
from connectors.retry import RetryPolicy, backoff_delay, call_with_retries


class ManualClock:
    """A clock that moves only when told (and when the fake sleep sleeps)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.slept.append(delay)
        self.now += delay


def test_backoff_without_jitter_doubles_up_to_the_cap() -> None:
    """base 0.1, cap 0.5: 0.1, 0.2, 0.4, 0.5, 0.5."""
    policy = RetryPolicy(base_delay_s=0.1, max_delay_s=0.5, jitter=False)
    assert [backoff_delay(policy, n) for n in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]


def test_full_jitter_stays_within_zero_and_the_ceiling_and_varies() -> None:
    """Each delay is uniform in [0, min(cap, base*2^n)]; not all equal (it is jitter)."""
    policy = RetryPolicy(base_delay_s=0.1, max_delay_s=1.0)
    rng = random.Random(7)  # noqa: S311 - jitter, not cryptography
    delays = [backoff_delay(policy, 3, rng) for _ in range(200)]
    assert all(0.0 <= d <= 0.8 for d in delays)
    assert len(set(delays)) > 100
    assert max(delays) > 0.6  # the whole range is used, not just its bottom


async def test_retriable_errors_are_retried_until_success() -> None:
    """Two UNAVAILABLE failures, then an answer: three calls, two waits."""
    clock = ManualClock()
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise LegacyUnavailableError("connection refused")
        return "answer"

    policy = RetryPolicy(max_attempts=5, base_delay_s=0.1, jitter=False)
    result = await call_with_retries(
        flaky, policy, deadline=clock.now + 60, sleep=clock.sleep, clock=clock
    )
    assert result == "answer"
    assert len(calls) == 3
    assert clock.slept == [0.1, 0.2]


async def test_non_retriable_errors_are_not_retried() -> None:
    """A REJECTED legacy error is raised after one call."""
    clock = ManualClock()
    calls: list[int] = []

    async def refuses() -> str:
        calls.append(1)
        raise LegacyRejectedError("400 bad request")

    with pytest.raises(LegacyError) as caught:
        await call_with_retries(
            refuses,
            RetryPolicy(max_attempts=5),
            deadline=clock.now + 60,
            sleep=clock.sleep,
            clock=clock,
        )
    assert caught.value.kind is LegacyErrorKind.REJECTED
    assert len(calls) == 1
    assert clock.slept == []


async def test_attempts_run_out_and_the_last_error_is_raised() -> None:
    """max_attempts=3: three calls, then the error."""
    clock = ManualClock()
    calls: list[int] = []

    async def down() -> str:
        calls.append(1)
        raise LegacyTimeoutError("no answer")

    with pytest.raises(LegacyError):
        await call_with_retries(
            down,
            RetryPolicy(max_attempts=3, jitter=False),
            deadline=clock.now + 60,
            sleep=clock.sleep,
            clock=clock,
        )
    assert len(calls) == 3


async def test_no_retry_is_made_past_the_deadline() -> None:
    """The next wait would end past the deadline: give up now, do not sleep."""
    clock = ManualClock()
    calls: list[int] = []

    async def down() -> str:
        calls.append(1)
        raise LegacyUnavailableError("down")

    policy = RetryPolicy(max_attempts=10, base_delay_s=1.0, max_delay_s=1.0, jitter=False)
    with pytest.raises(LegacyError):
        await call_with_retries(
            down, policy, deadline=clock.now + 2.5, sleep=clock.sleep, clock=clock
        )
    assert len(calls) == 3  # at t=0, 1, 2; the wait to t=3 passes the deadline
    assert clock.slept == [1.0, 1.0]


def test_circuit_opens_after_the_threshold_of_consecutive_failures() -> None:
    """Three failures with threshold 3 open it; a success in between resets the count."""
    clock = ManualClock()
    changes: list[CircuitState] = []
    breaker = CircuitBreaker(
        CircuitPolicy(failure_threshold=3, open_s=10), clock=clock, on_change=changes.append
    )
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state.name == "OPEN"
    assert not breaker.allow()
    assert changes == [CircuitState.OPEN]


def test_open_circuit_half_opens_after_open_s_and_lets_one_probe_through() -> None:
    """After open_s: HALF_OPEN, one probe allowed, the next refused until it settles."""
    clock = ManualClock()
    breaker = CircuitBreaker(CircuitPolicy(failure_threshold=1, open_s=10), clock=clock)
    breaker.record_failure()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()


def test_a_successful_probe_closes_the_circuit() -> None:
    """HALF_OPEN + success -> CLOSED, calls flow again."""
    clock = ManualClock()
    breaker = CircuitBreaker(CircuitPolicy(failure_threshold=1, open_s=5), clock=clock)
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()
    assert breaker.allow()


def test_a_failed_probe_opens_the_circuit_for_another_open_s() -> None:
    """HALF_OPEN + failure -> OPEN again, measured from the probe's failure."""
    clock = ManualClock()
    breaker = CircuitBreaker(CircuitPolicy(failure_threshold=1, open_s=5), clock=clock)
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    clock.now += 1
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_a_released_probe_slot_can_be_taken_again() -> None:
    """A probe cancelled before reaching the registry does not wedge HALF_OPEN."""
    clock = ManualClock()
    breaker = CircuitBreaker(CircuitPolicy(failure_threshold=1, open_s=1), clock=clock)
    breaker.record_failure()
    clock.now += 1
    assert breaker.allow()
    breaker.release_probe()
    assert breaker.allow()
