"""The auditor's charts from closing audit events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bus.audit import EventRow, IndexedEvent
from gateway.console.charts import build_charts

_T0 = datetime(2026, 5, 9, 10, 0, 0, tzinfo=UTC)


def _event(
    index: int, kind: str, service: str, minute: int, latency: int | None = None
) -> IndexedEvent:
    row = EventRow(
        event_id=f"e{index}",
        type=kind,
        time=_T0 + timedelta(minutes=minute),
        actor="interop.gateway",
        exchange_id=f"x{index}",
        service=service,
        latency_ms=latency,
    )
    return IndexedEvent(leaf_index=index, topic_offset=index, row=row)


def test_counts_per_service_and_outcome_scaled_to_the_widest() -> None:
    """Each service's bar stacks its outcomes; the busiest service spans the full width;
    non-closing events (REQUESTED, RESPONDED) are not counted."""
    events = [
        _event(1, "COMPLETED", "a", 0, 100),
        _event(2, "COMPLETED", "a", 1, 300),
        _event(3, "DENIED", "a", 2),
        _event(4, "TIMED_OUT", "b", 3),
        _event(5, "REQUESTED", "b", 3),
        _event(6, "RESPONDED", "a", 3, 50),
    ]
    charts = build_charts(events)
    assert charts.exchanges == 4
    a, b = charts.by_service
    assert (a.label, a.total, b.label, b.total) == ("a", 3, "b", 1)
    assert [(s.kind, s.count) for s in a.segments] == [("COMPLETED", 2), ("DENIED", 1)]
    assert (a.count("COMPLETED"), a.count("DENIED"), a.count("FAILED")) == (2, 1, 0)
    assert sum(s.length for s in a.segments) == charts.width
    assert a.segments[1].offset == a.segments[0].length
    assert b.segments[0].length == charts.width / 3


def test_over_time_buckets_hold_every_exchange_once() -> None:
    """Every closing event lands in exactly one time bucket, the last one included."""
    events = [_event(i, "COMPLETED", "a", i * 5, 10) for i in range(10)]
    charts = build_charts(events)
    assert sum(bar.total for bar in charts.over_time) == 10
    assert charts.over_time[0].total >= 1
    assert charts.over_time[-1].total >= 1


def test_latency_median_and_p95_of_completed_only() -> None:
    """Latency uses the COMPLETED events' latency_ms: the median and the 95th percentile
    (nearest rank), the slowest p95 spanning the width."""
    events = [_event(i, "COMPLETED", "a", i, latency) for i, latency in enumerate(range(1, 101))]
    events.append(_event(200, "FAILED", "a", 1))
    charts = build_charts(events)
    ((service, median, p95, median_len, p95_len),) = charts.latency
    assert (service, median, p95) == ("a", 50, 95)
    assert p95_len == 95 * charts.width / 100
    assert median_len < p95_len


def test_no_events_no_bars() -> None:
    """An empty window draws nothing and counts zero."""
    charts = build_charts([])
    assert (charts.exchanges, charts.by_service, charts.over_time, charts.latency) == (
        0,
        (),
        (),
        (),
    )
