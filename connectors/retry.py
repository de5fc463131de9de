"""Retries of legacy calls: exponential backoff with full jitter, retriable errors only.

A legacy system that blinks (a dropped connection, a 503) usually answers the next
attempt; one that refuses a request (a 400, a SOAP client fault) will refuse it again,
so only ``LegacyError``s with ``retriable`` set are tried again. Delays follow AWS's
"full jitter": attempt *n* waits a uniform random time in ``[0, min(cap, base·2ⁿ)]``, so
a fleet of connectors that all saw the same outage does not retry in lock-step. Every
wait is cut short by the exchange's deadline: nobody retries for a caller who left.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from connectors.adapters.base import LegacyError

__all__ = ["RetryPolicy", "backoff_delay", "call_with_retries"]

_T = TypeVar("_T")
_RNG = random.Random()  # noqa: S311 - jitter, not cryptography

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class RetryPolicy(BaseModel):
    """How often and how patiently a retriable legacy failure is tried again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: Annotated[int, Field(ge=1, le=20)] = 3
    """Attempts in all, the first included (1: never retry)."""
    base_delay_s: Annotated[float, Field(gt=0, le=60)] = 0.1
    max_delay_s: Annotated[float, Field(gt=0, le=300)] = 2.0
    jitter: bool = True
    """Full jitter (uniform in [0, delay]); off only for tests that need exact delays."""


def backoff_delay(policy: RetryPolicy, retry: int, rng: random.Random | None = None) -> float:
    """The wait before retry number ``retry`` (0 for the first retry)."""
    ceiling = min(policy.max_delay_s, policy.base_delay_s * 2.0**retry)
    if not policy.jitter:
        return ceiling
    return (rng or _RNG).uniform(0.0, ceiling)


async def call_with_retries(
    call: Callable[[], Awaitable[_T]],
    policy: RetryPolicy,
    *,
    deadline: float,
    on_retry: Callable[[LegacyError, float], None] | None = None,
    rng: random.Random | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
) -> _T:
    """``call()`` until it succeeds, raises a non-retriable error, or attempts run out.

    ``deadline`` is on ``clock``'s scale: a retry whose wait would end past it is not
    made, and the last ``LegacyError`` is raised instead. ``on_retry(error, delay)`` is
    told about each retry (for logs and metrics).
    """
    retry = 0
    while True:
        try:
            return await call()
        except LegacyError as error:
            if not error.retriable or retry + 1 >= policy.max_attempts:
                raise
            delay = backoff_delay(policy, retry, rng)
            if clock() + delay >= deadline:
                raise
            if on_retry is not None:
                on_retry(error, delay)
            await sleep(delay)
            retry += 1
