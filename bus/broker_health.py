"""Is the broker there? A cached answer for readiness endpoints.

aiokafka's consumers do not raise while the broker is down: they log and return empty
fetches, so a process cannot tell "no requests" from "no broker" by consuming. Readiness
asks ``BrokerHealth.reachable``: one metadata request (``probe_cluster``) at most every
``ttl_s``, its answer cached, so a probe loop cannot load the broker and a /readyz call
never waits more than ``timeout_s``. A change of answer is logged once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

import structlog

from bus.admin import probe_cluster
from bus.errors import BusError
from bus.settings import KafkaSettings

__all__ = ["BrokerHealth"]

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

    async def reachable(self) -> bool:
        """Whether the broker answered a metadata request (at most ``ttl_s`` ago)."""
        async with self._lock:
            if time.monotonic() - self._checked_at < self._ttl_s and self._ok is not None:
                return self._ok
            try:
                await probe_cluster(self._settings, timeout_s=self._timeout_s)
                ok = True
            except BusError:
                ok = False
            if ok is not self._ok:
                _log.info("broker_reachability_changed", reachable=ok)
            self._ok, self._checked_at = ok, time.monotonic()
            return ok
