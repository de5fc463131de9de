"""Per-member rate limiting: a token bucket per member id, answered with 429 + Retry-After.

Each member's bucket holds up to ``burst`` tokens and refills at ``rate_per_s``; a request
takes one token or is refused with ``RateLimitedError`` saying (rounded up to whole
seconds, as ``Retry-After`` requires) when the next token arrives.

Memory stays bounded: a bucket that has refilled completely is indistinguishable from no
bucket, so idle buckets are dropped; past ``max_buckets`` the least recently used bucket
is dropped even if not full (forgiving that member a little, never punishing another).

The limit is per gateway replica; with N replicas behind a load balancer a member gets up
to N times the rate. That is the price of stateless replicas, and is fine for a guard
against runaway clients (quotas that must be exact belong in the shared store).

The clock is injectable (``ManualClock`` is the test double) so tests need no sleeps.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.auth import MEMBER_KEY
from gateway.errors import RateLimitedError
from gateway.members import Member
from gateway.token_bucket import TokenBucket, check_bucket_settings

__all__ = ["ManualClock", "RateLimiter", "rate_limit_middleware"]

Clock = Callable[[], float]


class RateLimiter:
    """Token buckets keyed by member id."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        clock: Clock = time.monotonic,
        *,
        max_buckets: int = 10_000,
    ) -> None:
        check_bucket_settings(rate_per_s, burst)
        if max_buckets < 1:
            raise ValueError("max_buckets must be at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._max_buckets = max_buckets
        # Least recently used first, so idle buckets are found at the front.
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._refill_s = burst / rate_per_s  # an untouched bucket is full after this long

    def __len__(self) -> int:
        """How many buckets are held (for tests and metrics)."""
        return len(self._buckets)

    def check(self, member_id: str) -> None:
        """Take one token for ``member_id`` or raise ``RateLimitedError``."""
        now = self._clock()
        self._evict_idle(now)
        bucket = self._buckets.get(member_id)
        if bucket is None:
            bucket = TokenBucket.full(self.burst, now)
            self._buckets[member_id] = bucket
            if len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(member_id)
            bucket.refill(now, self.rate_per_s, self.burst)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        wait_s = (1.0 - bucket.tokens) / self.rate_per_s
        raise RateLimitedError(
            f"rate limit of {self.rate_per_s:g} requests/s (burst {self.burst}) exceeded",
            retry_after_s=math.ceil(wait_s),
        )

    def _evict_idle(self, now: float) -> None:
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if now - oldest.updated < self._refill_s:
                return
            self._buckets.popitem(last=False)


def rate_limit_middleware(limiter: RateLimiter) -> Middleware:
    """Limit authenticated requests per member; requests without a member pass unlimited.

    Place it after ``auth_middleware``: public routes carry no member and are not limited
    (the load balancer protects those).
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        member = request.get(MEMBER_KEY)
        if isinstance(member, Member):
            limiter.check(member.id)
        return await handler(request)

    return middleware


class ManualClock:
    """A clock that moves only when told to: ``RateLimiter(..., clock=ManualClock())``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds
