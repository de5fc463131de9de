"""The gateway's Prometheus metrics: one object over a registry passed in (never the global).

Labels are bounded sets (route templates, service ids of the catalogue, outcome codes);
never an exchange id, a member's free text or anything personal.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["GatewayMetrics"]

_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class GatewayMetrics:
    """Every series the gateway exports (``interop_gateway_*``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.http_requests = Counter(
            "interop_gateway_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.http_latency = Histogram(
            "interop_gateway_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.exchanges = Counter(
            "interop_gateway_exchanges",
            "Exchanges answered by POST, by service, version major and outcome",
            ["service", "major", "outcome"],
            registry=registry,
        )
        self.exchange_latency = Histogram(
            "interop_gateway_exchange_duration_seconds",
            "From POST to the provider's reply (replies that arrived), by service and outcome",
            ["service", "outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "interop_gateway_http_requests_in_flight",
            "HTTP requests being answered right now",
            registry=registry,
        )
        self.waiting = Gauge(
            "interop_gateway_exchanges_waiting",
            "Callers waiting for a provider's reply right now",
            registry=registry,
        )
        self.replies = Counter(
            "interop_gateway_replies",
            "Replies taken from the reply topic, by outcome (stored, duplicate, undecodable)",
            ["outcome"],
            registry=registry,
        )
        self.replies_late = Counter(
            "interop_gateway_replies_late",
            "Replies that arrived after their exchange's deadline (the caller saw a timeout)",
            registry=registry,
        )
        self.expired = Counter(
            "interop_gateway_exchanges_expired",
            "Exchanges marked timed out by this replica (its expiry loop or a waiting caller)",
            registry=registry,
        )
        self.closings_owed = Gauge(
            "interop_gateway_closing_events_owed",
            "Ended exchanges whose closing audit event the trail has not taken yet (the outbox)",
            registry=registry,
        )
        self.closings_written = Counter(
            "interop_gateway_closing_events_written",
            "Closing audit events (TIMED_OUT, the gateway's FAILED) written from the outbox",
            registry=registry,
        )
