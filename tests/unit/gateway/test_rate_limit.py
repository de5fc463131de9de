"""Token-bucket arithmetic, Retry-After values and bounded memory, on a manual clock."""

from __future__ import annotations

import pytest

from gateway.errors import RateLimitedError
from gateway.rate_limit import ManualClock, RateLimiter


def _refused_after(limiter: RateLimiter, member_id: str) -> int:
    with pytest.raises(RateLimitedError) as caught:
        limiter.check(member_id)
    assert caught.value.code == "RATE_LIMITED"
    return caught.value.retry_after_s


def test_a_full_bucket_allows_exactly_burst_requests() -> None:
    """burst=3: three requests pass at once, the fourth is refused."""
    limiter = RateLimiter(rate_per_s=1.0, burst=3, clock=ManualClock())
    for _ in range(3):
        limiter.check("es.a")
    _refused_after(limiter, "es.a")


def test_tokens_refill_at_the_configured_rate() -> None:
    """rate 2/s: after 0.5 s exactly one more request passes, not two."""
    clock = ManualClock()
    limiter = RateLimiter(rate_per_s=2.0, burst=2, clock=clock)
    limiter.check("es.a")
    limiter.check("es.a")
    clock.advance(0.5)
    limiter.check("es.a")
    _refused_after(limiter, "es.a")


def test_refill_never_exceeds_burst() -> None:
    """A long idle period refills to `burst`, not beyond."""
    clock = ManualClock()
    limiter = RateLimiter(rate_per_s=10.0, burst=2, clock=clock)
    limiter.check("es.a")
    clock.advance(3600)
    limiter.check("es.a")
    limiter.check("es.a")
    _refused_after(limiter, "es.a")


@pytest.mark.parametrize(
    ("rate_per_s", "advance_s", "retry_after_s"),
    [
        (0.5, 0.0, 2),  # an empty bucket: one token takes 2 s
        (0.5, 1.5, 1),  # 0.75 token there: 0.5 s to go, rounded up to 1
        (0.1, 0.0, 10),
        (0.1, 2.5, 8),  # 0.25 token there: 7.5 s to go, rounded up
        (100.0, 0.0, 1),  # 10 ms to go: Retry-After is whole seconds, at least 1
    ],
)
def test_retry_after_is_the_wait_for_one_token_rounded_up(
    rate_per_s: float, advance_s: float, retry_after_s: int
) -> None:
    """Retry-After says when the next token arrives (whole seconds, rounded up)."""
    clock = ManualClock()
    limiter = RateLimiter(rate_per_s=rate_per_s, burst=1, clock=clock)
    limiter.check("es.a")
    clock.advance(advance_s)
    assert _refused_after(limiter, "es.a") == retry_after_s


def test_waiting_retry_after_is_enough() -> None:
    """A client that waits exactly Retry-After seconds gets through."""
    clock = ManualClock()
    limiter = RateLimiter(rate_per_s=0.3, burst=1, clock=clock)
    limiter.check("es.a")
    wait = _refused_after(limiter, "es.a")
    clock.advance(wait)
    limiter.check("es.a")


def test_refused_requests_do_not_consume_tokens() -> None:
    """Hammering while limited does not push the next allowed request further out."""
    clock = ManualClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock)
    limiter.check("es.a")
    for _ in range(5):
        _refused_after(limiter, "es.a")
    clock.advance(1.0)
    limiter.check("es.a")


def test_members_have_separate_buckets() -> None:
    """One member exhausting its bucket leaves the others untouched."""
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=ManualClock())
    limiter.check("es.a")
    _refused_after(limiter, "es.a")
    limiter.check("es.b")


def test_a_clock_stepping_back_does_not_drain_the_bucket() -> None:
    """Negative elapsed time counts as zero, not as a debt."""
    clock = ManualClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=2, clock=clock)
    limiter.check("es.a")
    clock.advance(-50)
    limiter.check("es.a")
    _refused_after(limiter, "es.a")


def test_idle_buckets_are_evicted() -> None:
    """A bucket full again (idle for burst/rate seconds) is dropped: memory stays bounded."""
    clock = ManualClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=2, clock=clock)
    limiter.check("es.a")
    limiter.check("es.b")
    assert len(limiter) == 2
    clock.advance(1.9)
    limiter.check("es.b")
    assert len(limiter) == 2  # es.a is not full yet: kept
    clock.advance(0.2)
    limiter.check("es.c")
    assert len(limiter) == 2  # es.a idle for 2.1 s >= 2 s: evicted; es.b used 0.2 s ago
    limiter.check("es.a")  # comes back with a full bucket, as if never evicted
    limiter.check("es.a")
    _refused_after(limiter, "es.a")


def test_max_buckets_caps_memory_by_dropping_the_least_recently_used() -> None:
    """Past max_buckets the least recently used bucket goes, even if not full."""
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=ManualClock(), max_buckets=2)
    limiter.check("es.a")
    limiter.check("es.b")
    _refused_after(limiter, "es.a")  # touches es.a: es.b is now least recently used
    limiter.check("es.c")
    assert len(limiter) == 2
    _refused_after(limiter, "es.a")  # still held, still empty
    limiter.check("es.b")  # was dropped: starts again with a full bucket


@pytest.mark.parametrize(
    ("rate_per_s", "burst", "max_buckets"), [(0.0, 1, 1), (-1.0, 1, 1), (1.0, 0, 1), (1.0, 1, 0)]
)
def test_nonsense_settings_are_refused(rate_per_s: float, burst: int, max_buckets: int) -> None:
    """A zero or negative rate, burst or capacity is a configuration error."""
    with pytest.raises(ValueError, match="must be"):
        RateLimiter(rate_per_s=rate_per_s, burst=burst, max_buckets=max_buckets)
