"""``ProduceHealth``: what readiness is told about a producer's ability to write."""

from __future__ import annotations

from bus import ProduceHealth


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_producer_that_never_started_cannot_produce() -> None:
    """Readiness must not say "can write" for a producer that never reached a broker."""
    health = ProduceHealth()
    assert not health.can_produce
    assert health.last_success_age_s() is None
    assert health.failing_for_s() is None


def test_a_started_producer_can_produce_until_a_delivery_is_lost() -> None:
    """Start counts as able; the first loss flips it, and the run of failures is dated
    from its first failure, not its last."""
    clock = _Clock()
    health = ProduceHealth(clock)
    health.record_started()
    assert health.can_produce
    health.record_failure()
    clock.now += 3
    health.record_failure()
    assert not health.can_produce
    assert health.consecutive_failures == 2
    assert health.failing_for_s() == 3.0
    clock.now += 4
    assert health.last_failure_age_s() == 4.0  # dated from the last failure


def test_a_confirmed_delivery_ends_the_run_of_failures() -> None:
    """After an outage, one confirmed delivery makes it able again and dates the success."""
    clock = _Clock()
    health = ProduceHealth(clock)
    health.record_started()
    health.record_failure()
    clock.now += 10
    health.record_success()
    clock.now += 2
    assert health.can_produce
    assert health.consecutive_failures == 0
    assert health.failing_for_s() is None
    assert health.last_failure_age_s() is None
    assert health.last_success_age_s() == 2.0
