"""The circuit breaker in front of a legacy registry.

While a registry is down, every request would wait for its own timeout and retries,
pile up in the bounded concurrency and starve the requests that could be answered
from the reply store. The breaker counts consecutive failures that say "the registry is
down" (timeouts and unavailability, not "no such person" or a refused request); at
``failure_threshold`` it opens, and for ``open_s`` every call is refused at once (the
runtime answers ``PROVIDER_UNAVAILABLE`` without touching the registry). Then it lets
``half_open_probes`` calls through as probes: one success closes it, one failure opens
it again for another ``open_s``.

::

    CLOSED --threshold failures--> OPEN --open_s elapsed--> HALF_OPEN
      ^                              ^                          |
      +-------- probe succeeds ------+---- probe fails ---------+

The clock is injected (``time.monotonic`` by default) so the state machine is tested
with a manual clock. Single event loop: no locks needed.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CircuitBreaker", "CircuitPolicy", "CircuitState"]


class CircuitState(enum.IntEnum):
    """The breaker's state; the integer is what the ``circuit_state`` gauge shows."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitPolicy(BaseModel):
    """When the breaker opens and how it probes the registry back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    failure_threshold: Annotated[int, Field(ge=1, le=1000)] = 5
    open_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    half_open_probes: Annotated[int, Field(ge=1, le=100)] = 1


class CircuitBreaker:
    """One breaker per legacy registry (per service of a connector)."""

    def __init__(
        self,
        policy: CircuitPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[CircuitState], None] | None = None,
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._on_change = on_change
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probes = 0

    @property
    def state(self) -> CircuitState:
        """The current state (an OPEN breaker whose time is up reads as HALF_OPEN)."""
        if self._state is CircuitState.OPEN and self._clock() - self._opened_at >= (
            self._policy.open_s
        ):
            self._set(CircuitState.HALF_OPEN)
            self._probes = 0
        return self._state

    def allow(self) -> bool:
        """May a call go to the registry now? (In HALF_OPEN, takes a probe slot.)"""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and self._probes < self._policy.half_open_probes:
            self._probes += 1
            return True
        return False

    def record_success(self) -> None:
        """The registry answered (found, not found, or a refusal: it is up)."""
        self._failures = 0
        if self._state is not CircuitState.CLOSED:
            self._set(CircuitState.CLOSED)

    def record_failure(self) -> None:
        """The registry looked down (timeout, unavailable)."""
        if self._state is CircuitState.HALF_OPEN:
            self._open()
            return
        self._failures += 1
        if self._state is CircuitState.CLOSED and self._failures >= self._policy.failure_threshold:
            self._open()

    def release_probe(self) -> None:
        """A probe slot was taken but the call never reached the registry (cancelled)."""
        if self._state is CircuitState.HALF_OPEN and self._probes > 0:
            self._probes -= 1

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._failures = 0
        self._set(CircuitState.OPEN)

    def _set(self, state: CircuitState) -> None:
        if state is not self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(state)
