"""Is the broker there? A cached answer for readiness endpoints.

aiokafka's consumers do not raise while the broker is down: they log and return empty
fetches, so a process cannot tell "no requests" from "no broker" by consuming. Readiness
asks ``BrokerHealth.reachable``: one metadata request (``probe_cluster``) at most every
``ttl_s``, its answer cached, so a probe loop cannot load the broker and a /readyz call
never waits more than ``timeout_s``. A change of answer is logged once.

``ProduceHealth`` answers the other readiness question, "can this process write right
now?", from what its ``BusProducer`` actually saw: every delivery it confirmed or lost
(also one a caller stopped waiting for) and every replacement that failed. It costs no
request. A gateway is not ready when it cannot write its audit trail, whatever a metadata
probe says: ``failing_for_s`` lets readiness tolerate a blip and refuse a real outage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

import structlog

from bus.admin import probe_cluster
from bus.errors import BusError
from bus.settings import KafkaSettings

__all__ = ["BrokerHealth", "ProduceHealth"]

_log = structlog.get_logger(__name__)
_TTL_S: Final = 2.0
_TIMEOUT_S: Final = 1.5


class BrokerHealth:
    """Cached reachability of the cluster ``settings`` point at."""

    def __init__(
        self, settings: KafkaSettings, *, ttl_s: float = _TTL_S, timeout_s: float = _TIMEOUT_S
    ) -> None:
        self._settings = settings
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._checked_at = float("-inf")
        self._ok: bool | None = None
        self._lock = asyncio.Lock()
        self.probes = 0
        """Metadata requests made so far (however many callers asked)."""

    async def reachable(self) -> bool:
        """Whether the broker answered a metadata request (at most ``ttl_s`` ago)."""
        async with self._lock:
            if time.monotonic() - self._checked_at < self._ttl_s and self._ok is not None:
                return self._ok
            self.probes += 1
            try:
                await probe_cluster(self._settings, timeout_s=self._timeout_s)
                ok = True
            except BusError:
                ok = False
            if ok is not self._ok:
                _log.info("broker_reachability_changed", reachable=ok)
            self._ok, self._checked_at = ok, time.monotonic()
            return ok


class ProduceHealth:
    """What one producer's last deliveries say (monotonic clock; updated by ``BusProducer``).

    Before the first delivery, a started producer counts as able to produce (it reached
    the broker to start). ``can_produce`` is False from the first lost delivery or failed
    replacement until the next confirmed delivery.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = False
        self._last_success_at: float | None = None
        self._last_failure_at: float | None = None
        self._failing_since: float | None = None
        self.consecutive_failures = 0
        """Deliveries lost (or replacements failed) since the last confirmed one."""

    def record_started(self) -> None:
        """The producer connected: it can produce until a delivery says otherwise."""
        self._started = True
        self._failing_since = None
        self.consecutive_failures = 0

    def record_success(self) -> None:
        """The broker confirmed a delivery."""
        self._last_success_at = self._clock()
        self._failing_since = None
        self.consecutive_failures = 0

    def record_failure(self) -> None:
        """A delivery was lost, or the producer could not be (re)built."""
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
        self._last_failure_at = now
        self.consecutive_failures += 1

    @property
    def can_produce(self) -> bool:
        """Whether the last outcome was a confirmed delivery (or a fresh start)."""
        return self._started and self._failing_since is None

    def last_success_age_s(self) -> float | None:
        """Seconds since the last confirmed delivery; None if there was none yet."""
        if self._last_success_at is None:
            return None
        return self._clock() - self._last_success_at

    def last_failure_age_s(self) -> float | None:
        """Seconds since the last lost delivery; None while producing."""
        if self._failing_since is None or self._last_failure_at is None:
            return None
        return self._clock() - self._last_failure_at

    def failing_for_s(self) -> float | None:
        """Seconds since the first failure of the current run of failures; None while
        producing (readiness can say "not ready after N s of failures")."""
        if self._failing_since is None:
            return None
        return self._clock() - self._failing_since
