"""The token bucket both of the gateway's rate mechanisms fill and drain.

A bucket holds up to ``burst`` tokens and refills at ``rate_per_s``. What taking a token
means is the owner's: ``gateway.rate_limit`` refuses a request when none is left (429),
``gateway.batches.pacing`` lets the balance go negative and makes the caller wait its turn.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TokenBucket", "check_bucket_settings"]


def check_bucket_settings(rate_per_s: float, burst: int) -> None:
    """``ValueError`` unless the rate is positive and the burst at least one token."""
    if not rate_per_s > 0:
        raise ValueError("rate_per_s must be positive")
    if burst < 1:
        raise ValueError("burst must be at least 1")


@dataclass(slots=True)
class TokenBucket:
    """Tokens as of ``updated`` (a monotonic clock reading)."""

    tokens: float
    updated: float

    @classmethod
    def full(cls, burst: int, now: float) -> TokenBucket:
        """A bucket nobody has drawn from yet."""
        return cls(float(burst), now)

    def refill(self, now: float, rate_per_s: float, burst: int) -> None:
        """Add what ``rate_per_s`` earned since ``updated``, up to ``burst``."""
        # max(): a clock that steps back must not drain the bucket.
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(burst), self.tokens + elapsed * rate_per_s)
        self.updated = now
