"""What ``interop audit verify``'s full walk remembers per exchange (``verify._Closings``):
a provider step that does not repeat its REQUESTED, offline, without the index."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from bus.audit.event import EventRow
from bus.audit.verify import _Closings

_T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def _event(kind: str, exchange_id: str, **overrides: object) -> EventRow:
    row = EventRow(
        event_id=f"{kind}-{exchange_id}",
        type=kind,
        time=_T0,
        actor="interop.gateway" if kind in ("REQUESTED", "COMPLETED") else "es.aeat",
        exchange_id=exchange_id,
        requester="es.ayto-alcala",
        provider="es.aeat",
        service="tax.income-band",
        purpose="social-benefits",
        subject_ref="subject-a",
        outcome="OK",
    )
    return dataclasses.replace(row, **overrides)  # type: ignore[arg-type]


def _walk(rows: list[EventRow], *, check_steps: bool) -> str | None:
    closings = _Closings(check_steps=check_steps)
    for row in rows:
        closings.add(row)
    finding = closings.finding()
    return None if finding is None else f"{finding.what}: {finding.detail}"


def test_the_walk_names_exchanges_whose_provider_steps_are_not_as_requested() -> None:
    """Steps that repeat their REQUESTED pass; one naming another subject, and one for an
    exchange with no REQUESTED before it, are named (with the members' keys, as the
    indexer checks); the gateway's own events are not compared."""
    honest = [
        _event("REQUESTED", "x-1"),
        _event("DELIVERED", "x-1", outcome="DELIVERED"),
        _event("RESPONDED", "x-1"),
        _event("COMPLETED", "x-1", requester="anything: not compared"),
    ]
    assert _walk(honest, check_steps=True) is None
    lies = [
        *honest,
        _event("REQUESTED", "x-2"),
        _event("RESPONDED", "x-2", subject_ref="subject-b"),
        _event("COMPLETED", "x-2"),
        _event("DELIVERED", "x-3"),  # nobody requested x-3
    ]
    finding = _walk(lies, check_steps=True)
    assert finding is not None
    assert finding.startswith("not_as_requested: 2 exchange(s)")
    assert "x-2" in finding
    assert "x-3" in finding
    assert "x-1" not in finding
    assert "subject-b" not in finding  # exchange ids only, never what the step claimed
    # Without the members' keys (no signatures checked), the walk does not judge steps.
    assert _walk(lies, check_steps=False) is None


def test_the_walk_still_names_unclosed_exchanges() -> None:
    """The step check comes first; without a lie, a REQUESTED left open over an hour
    before the latest event is still an ``unclosed`` finding."""
    rows = [
        _event("REQUESTED", "x-9", time=_T0 - timedelta(hours=2)),
        _event("DELIVERED", "x-9", time=_T0 - timedelta(hours=2), outcome="DELIVERED"),
        _event("REQUESTED", "x-10"),
    ]
    finding = _walk(rows, check_steps=True)
    assert finding is not None
    assert finding.startswith("unclosed: 1 exchange(s)")
    assert "x-9" in finding


def test_the_walk_names_a_provider_step_dated_before_its_requested() -> None:
    """Offline as in the indexer: a step dated over five minutes before its REQUESTED (a
    retired key dating a step back into its window) is named; within the skew it is not."""
    rows = [
        _event("REQUESTED", "x-1"),
        _event("RESPONDED", "x-1", time=_T0 - timedelta(minutes=4)),
        _event("COMPLETED", "x-1"),
        _event("REQUESTED", "x-2"),
        _event("RESPONDED", "x-2", time=_T0 - timedelta(days=400)),
        _event("COMPLETED", "x-2"),
    ]
    finding = _walk(rows, check_steps=True)
    assert finding is not None
    assert finding.startswith("not_as_requested: 1 exchange(s)")
    assert "x-2" in finding
    assert "x-1" not in finding
