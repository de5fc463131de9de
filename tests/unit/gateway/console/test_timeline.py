"""An exchange's timeline from its audit events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bus.audit import EventRow, IndexedEvent
from gateway.console.timeline import exchange_timeline

_T0 = datetime(2026, 5, 9, 10, 0, 0, tzinfo=UTC)


def _event(
    index: int, kind: str, ms: int, exchange: str = "ex-1", **fields: object
) -> IndexedEvent:
    row = EventRow(
        event_id=f"e{index}",
        type=kind,
        time=_T0 + timedelta(milliseconds=ms),
        actor=str(fields.pop("actor", "interop.gateway")),
        exchange_id=exchange,
        **fields,  # type: ignore[arg-type]
    )
    return IndexedEvent(leaf_index=index, topic_offset=index, row=row)


def test_steps_in_log_order_with_latencies_and_facts_from_the_request() -> None:
    """Steps follow the lifecycle (a RESPONDED logged after COMPLETED still comes before
    it), then the log order; each says the time since the previous one and since the
    request; the facts come from REQUESTED; other exchanges' events are left out."""
    events = [
        _event(7, "COMPLETED", 180, outcome="OK", latency_ms=180),
        _event(3, "REQUESTED", 0, requester="es.ayto", official="f-42", service="tax.x",
               version="1", purpose="social-benefits", procedure="P1", legal_basis="Ley 1"),
        _event(8, "RESPONDED", 150, actor="es.aeat", latency_ms=90),
        _event(4, "DELIVERED", 40, actor="es.aeat"),
        _event(6, "REQUESTED", 10, exchange="ex-2", requester="someone-else"),
    ]  # fmt: skip
    timeline = exchange_timeline("ex-1", events)
    assert [s.type for s in timeline.steps] == ["REQUESTED", "DELIVERED", "RESPONDED", "COMPLETED"]
    assert [s.since_previous_ms for s in timeline.steps] == [None, 40, 110, 30]
    assert [s.since_start_ms for s in timeline.steps] == [0, 40, 150, 180]
    assert timeline.total_ms == 180
    assert timeline.steps[2].latency_ms == 90
    assert timeline.steps[1].actor == "es.aeat"
    assert timeline.facts["requester"] == "es.ayto"
    assert timeline.facts["official"] == "f-42"
    assert timeline.facts["procedure"] == "P1"
    assert timeline.facts["legal_basis"] == "Ley 1"


def test_no_events_no_steps() -> None:
    """An exchange without events has an empty timeline and no total."""
    timeline = exchange_timeline("ex-9", [_event(1, "REQUESTED", 0, exchange="ex-1")])
    assert timeline.steps == ()
    assert timeline.total_ms is None
