"""The connector's Prometheus metrics, in one object over a registry passed in.

Labels are service ids, outcomes and error kinds: never exchange ids or subjects.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ConnectorMetrics"]


class ConnectorMetrics:
    """Every metric the runtime updates (``/metrics`` serves ``registry``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.handled = Counter(
            "interop_connector_requests",
            "Requests handled, by service and outcome (ok, not_found, error, rejected, "
            "replayed, dead_lettered, other_provider).",
            ["service", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "interop_connector_handle_seconds",
            "Time from receiving a request to its reply being written.",
            ["service"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.legacy_errors = Counter(
            "interop_connector_legacy_errors",
            "Failed legacy calls (each attempt), by service and kind.",
            ["service", "kind"],
            registry=registry,
        )
        self.circuit_state = Gauge(
            "interop_connector_circuit_state",
            "Circuit breaker state per service: 0 closed, 1 half-open, 2 open.",
            ["service"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "interop_connector_legacy_in_flight",
            "Legacy calls running now, per service (bounded by its concurrency).",
            ["service"],
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "interop_connector_consumer_lag",
            "Requests on the topic not yet committed by the connector's group.",
            ["service", "partition"],
            registry=registry,
        )
