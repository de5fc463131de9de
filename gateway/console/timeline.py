"""An exchange's timeline from its audit events: the steps in log order, with latencies.

A pure function of the indexed events (``tests/unit/gateway/console`` checks it): the
who / why of the exchange (requester, official, service, purpose, procedure, legal basis)
comes from its REQUESTED event, the first that states them; each step shows the time
since the previous step and since the request, so an auditor sees where time went
(REQUESTED -> DELIVERED -> RESPONDED -> COMPLETED).

Steps are in lifecycle order, then log order: the connector's RESPONDED can reach the
audit topic after the gateway's COMPLETED (two writers), yet it happened before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bus.audit import AuditEventType, IndexedEvent

__all__ = ["Step", "Timeline", "exchange_timeline"]

_PHASE: Final = {
    AuditEventType.REQUESTED.value: 0,
    AuditEventType.DENIED.value: 0,
    AuditEventType.DELIVERED.value: 1,
    AuditEventType.RESPONDED.value: 2,
    AuditEventType.REJECTED.value: 2,
    AuditEventType.COMPLETED.value: 3,
    AuditEventType.FAILED.value: 3,
    AuditEventType.TIMED_OUT.value: 3,
}
_HEADLINE: Final = (
    "requester",
    "official",
    "provider",
    "service",
    "version",
    "purpose",
    "procedure",
    "legal_basis",
    "consent_ref",
)


@dataclass(frozen=True, slots=True)
class Step:
    """One audit event of the exchange, placed in time."""

    leaf_index: int
    event_id: str
    type: str
    time: datetime
    actor: str
    outcome: str | None
    reason: str | None
    since_previous_ms: int | None
    since_start_ms: int
    latency_ms: int | None
    """What the event itself reports (the connector's registry call, the whole exchange)."""


@dataclass(frozen=True, slots=True)
class Timeline:
    """The exchange's headline facts and its steps."""

    exchange_id: str
    facts: dict[str, str | None]
    steps: tuple[Step, ...]

    @property
    def total_ms(self) -> int | None:
        return self.steps[-1].since_start_ms if self.steps else None


def _ms(later: datetime, earlier: datetime) -> int:
    return round((later - earlier).total_seconds() * 1000)


def exchange_timeline(exchange_id: str, events: list[IndexedEvent]) -> Timeline:
    """The timeline of ``exchange_id`` from its events (other exchanges' are ignored)."""
    own = sorted(
        (e for e in events if e.row.exchange_id == exchange_id),
        key=lambda e: (_PHASE.get(e.row.type, 4), e.leaf_index),
    )
    facts: dict[str, str | None] = dict.fromkeys(_HEADLINE)
    requested = [e for e in own if e.row.type == AuditEventType.REQUESTED.value]
    for event in requested + own:
        for name in _HEADLINE:
            if facts[name] is None:
                facts[name] = getattr(event.row, name)
    steps: list[Step] = []
    previous: datetime | None = None
    for event in own:
        row = event.row
        start = own[0].row.time
        steps.append(
            Step(
                leaf_index=event.leaf_index,
                event_id=row.event_id,
                type=row.type,
                time=row.time,
                actor=row.actor,
                outcome=row.outcome,
                reason=row.reason,
                since_previous_ms=None if previous is None else _ms(row.time, previous),
                since_start_ms=_ms(row.time, start),
                latency_ms=row.latency_ms,
            )
        )
        previous = row.time
    return Timeline(exchange_id=exchange_id, facts=facts, steps=tuple(steps))
