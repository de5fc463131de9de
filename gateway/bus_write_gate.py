"""Refuse a new exchange at once when the bus would refuse its writes.

Every exchange needs two writes acknowledged by ``min.insync.replicas`` replicas: its
REQUESTED event on the audit topic and the request on its service's topic. When the
cluster's replication health (``bus.ReplicationHealth``, the one ``/readyz`` reports)
already knows that the audit partition, or the request partition this subject's key goes
to, has too few in-sync replicas or no leader, trying would only keep the caller waiting
until the producer gives up. So the exchange is refused before anything is stored, audited
or sent: 503 ``BUS_REFUSING_WRITES`` with ``Retry-After``, and the same Idempotency-Key may
be retried. The check never waits for the cluster (``latest()``: the last answer, refreshed
in the background), and refuses nothing while the state is unknown.

With no broker at all the replication state is unknown, and every exchange used to wait
for its REQUESTED write's timeout (5 s) before its 503 (found from outside, an 80 s
outage). So the gate also reads what this replica's producer saw (``ProduceHealth``):
once every write has failed for ``failing_grace_s``, it refuses at once, the same way,
and lets one exchange through every ``probe_every_s`` to find out whether the bus is
back (that one waits, as before). The first write that succeeds (a probe, the audit
outbox's retry) reopens the gate for all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from bus import ProduceHealth, ReplicationHealth
from gateway.errors import BusRefusingWritesError

__all__ = ["BusWriteGate"]

_RETRY_AFTER_S: Final = 5
_FAILING_GRACE_S: Final = 3.0
"""Every write failing this long: the bus is down, not blinking (readiness says the same)."""
_PROBE_EVERY_S: Final = 2.0


class BusWriteGate:
    """The check ``ExchangeService.submit`` makes before it stores an exchange."""

    def __init__(
        self,
        replication: ReplicationHealth,
        *,
        audit_topic: str,
        produce_health: ProduceHealth | None = None,
        retry_after_s: int = _RETRY_AFTER_S,
        failing_grace_s: float = _FAILING_GRACE_S,
        probe_every_s: float = _PROBE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._replication = replication
        self._audit_topic = audit_topic
        self._produce_health = produce_health
        self._retry_after_s = retry_after_s
        self._failing_grace_s = failing_grace_s
        self._probe_every_s = probe_every_s
        self._clock = clock
        self._probe_at = float("-inf")

    def check(self, request_topic: str, key: bytes) -> None:
        """``BusRefusingWritesError`` if the audit partition or the request's refuses writes,
        or every write has failed for a while (but for one probe every few seconds)."""
        self._refuse_while_every_write_fails()
        status = self._replication.latest()
        if status.refuses(self._audit_topic):
            raise BusRefusingWritesError(
                "the audit trail's partition refuses writes (too few in-sync replicas or no "
                "leader): nothing was stored or sent; retry later",
                self._retry_after_s,
            )
        if status.refuses(request_topic, key):
            raise BusRefusingWritesError(
                "the partition this request goes to refuses writes (too few in-sync replicas "
                "or no leader): nothing was stored or sent; retry later",
                self._retry_after_s,
            )

    def _refuse_while_every_write_fails(self) -> None:
        health = self._produce_health
        failing_s = None if health is None else health.failing_for_s()
        if failing_s is None or failing_s < self._failing_grace_s:
            return
        now = self._clock()
        if now - self._probe_at >= self._probe_every_s:
            self._probe_at = now  # this exchange goes ahead: its writes tell if the bus is back
            return
        raise BusRefusingWritesError(
            f"every write to the bus has failed for {failing_s:.0f}s (the broker does not "
            "answer or refuses them): nothing was stored or sent; retry later",
            self._retry_after_s,
        )
