"""The batch worker's Prometheus series (``interop_gateway_batch_*``), on the gateway's registry.

Labels are bounded sets: item statuses and the catalogue's service ids; never a batch id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["BatchMetrics"]


class BatchMetrics:
    """Batches active in this replica, items sent and items finished by status."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.active = Gauge(
            "interop_gateway_batches_active",
            "Batches this replica holds the lease of and works on right now",
            registry=registry,
        )
        self.items_sent = Counter(
            "interop_gateway_batch_items_sent",
            "Batch items whose exchange was created and sent, by service",
            ["service"],
            registry=registry,
        )
        self.items_finished = Counter(
            "interop_gateway_batch_items_finished",
            "Batch items that reached a final status, by status",
            ["status"],
            registry=registry,
        )
        self.paused = Counter(
            "interop_gateway_batch_pauses",
            "Times a batch paused because the store or the bus was unavailable",
            registry=registry,
        )
