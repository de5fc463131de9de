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
"""

from __future__ import annotations

from typing import Final

from bus import ReplicationHealth
from gateway.errors import BusRefusingWritesError

__all__ = ["BusWriteGate"]

_RETRY_AFTER_S: Final = 5


class BusWriteGate:
    """The check ``ExchangeService.submit`` makes before it stores an exchange."""

    def __init__(
        self,
        replication: ReplicationHealth,
        *,
        audit_topic: str,
        retry_after_s: int = _RETRY_AFTER_S,
    ) -> None:
        self._replication = replication
        self._audit_topic = audit_topic
        self._retry_after_s = retry_after_s

    def check(self, request_topic: str, key: bytes) -> None:
        """``BusRefusingWritesError`` if the audit partition or the request's refuses writes."""
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
