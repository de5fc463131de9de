"""Per-provider pacing of batch items: a token bucket that makes callers wait their turn.

Each provider's bucket holds up to ``burst`` tokens and refills at ``rate_per_s``. A
caller reserves a token and is told how long to wait for it; the balance may go negative,
so later callers queue behind earlier ones in order. Over any window of T seconds at most
``burst + rate_per_s * T`` items leave for one provider from this replica, whatever the
number of batches: interactive exchanges never queue here, they only share the provider
with a bounded stream.

``reserve`` is pure arithmetic on an injectable clock (unit tests need no sleeps);
``acquire`` sleeps the reserved delay.

**Members take turns.** ``acquire`` lets each member hold one reservation per provider at a
time, its batches queueing behind each other for that turn. The provider's queue then holds
one place per member, so tokens go round the members: a member with a hundred batches gets
the share of a member with one, instead of a hundred shares (one member's batches could
otherwise stall everyone else's for hours).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from gateway.token_bucket import TokenBucket, check_bucket_settings

__all__ = ["ProviderPacer"]


class ProviderPacer:
    """Token buckets keyed by provider id, shared by every batch of a replica."""

    def __init__(
        self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        check_bucket_settings(rate_per_s, burst)
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._turns: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    def reserve(self, provider: str) -> float:
        """Take the provider's next token; seconds to wait before using it (0: now)."""
        now = self._clock()
        bucket = self._buckets.get(provider)
        if bucket is None:
            bucket = self._buckets[provider] = TokenBucket.full(self.burst, now)
        bucket.refill(now, self.rate_per_s, self.burst)
        bucket.tokens -= 1.0
        return 0.0 if bucket.tokens >= 0 else -bucket.tokens / self.rate_per_s

    def cancel(self, provider: str) -> None:
        """Give back a reserved token that was not used (the item was not sent)."""
        bucket = self._buckets.get(provider)
        if bucket is not None:
            bucket.tokens = min(float(self.burst), bucket.tokens + 1.0)

    async def acquire(self, provider: str, member: str = "") -> None:
        """Wait for the provider's next token, in ``member``'s turn (see the module)."""
        key = (provider, member)
        turn, waiting = self._turns.get(key, (asyncio.Lock(), 0))
        self._turns[key] = (turn, waiting + 1)
        try:
            async with turn:
                delay = self.reserve(provider)
                if delay > 0:
                    try:
                        await asyncio.sleep(delay)
                    except asyncio.CancelledError:
                        self.cancel(provider)
                        raise
        finally:
            turn, waiting = self._turns[key]
            if waiting == 1:
                del self._turns[key]  # bounded: only members waiting now have an entry
            else:
                self._turns[key] = (turn, waiting - 1)
