"""The auditor's charts, drawn on the server as SVG: no script, no library, CSP-clean.

From the exchanges' closing events (COMPLETED, DENIED, FAILED, TIMED_OUT: one per
exchange) of a recent window of the log: exchanges per service and outcome, exchanges
over time by outcome, and each service's latency (median and 95th percentile of the
COMPLETED events' ``latency_ms``). Pure functions of the events; each chart comes with
the table of its numbers, which is what a screen reader reads.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from bus.audit import AuditEventType, IndexedEvent

__all__ = ["CLOSING_TYPES", "Bar", "Charts", "Segment", "build_charts"]

CLOSING_TYPES: Final = (
    AuditEventType.COMPLETED.value,
    AuditEventType.DENIED.value,
    AuditEventType.FAILED.value,
    AuditEventType.TIMED_OUT.value,
)
COLOURS: Final = {
    AuditEventType.COMPLETED.value: "#1e6b2e",
    AuditEventType.DENIED.value: "#a4161a",
    AuditEventType.FAILED.value: "#7a4b00",
    AuditEventType.TIMED_OUT.value: "#4a4a4a",
}
_WIDTH: Final = 600.0
_BUCKETS: Final = 24


@dataclass(frozen=True, slots=True)
class Segment:
    """One coloured piece of a bar (scaled to the chart's width or height)."""

    kind: str
    count: int
    offset: float
    length: float
    colour: str


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its label, its pieces, its total."""

    label: str
    total: int
    segments: tuple[Segment, ...]

    def count(self, kind: str) -> int:
        """How many of this bar's exchanges closed as ``kind``."""
        return sum(s.count for s in self.segments if s.kind == kind)


@dataclass(frozen=True, slots=True)
class Charts:
    """The three charts' bars, and how many exchanges they count."""

    exchanges: int
    by_service: tuple[Bar, ...]
    over_time: tuple[Bar, ...]
    latency: tuple[tuple[str, int, int, float, float], ...]
    """(service, median ms, p95 ms, median bar length, p95 bar length)."""
    width: float = _WIDTH


def _stack(label: str, counts: Counter[str], scale: float) -> Bar:
    segments = []
    offset = 0.0
    for kind in CLOSING_TYPES:
        count = counts.get(kind, 0)
        if count:
            length = count * scale
            segments.append(Segment(kind, count, offset, length, COLOURS[kind]))
            offset += length
    return Bar(label, sum(counts.values()), tuple(segments))


def _percentile(values: list[int], share: float) -> int:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def build_charts(events: list[IndexedEvent]) -> Charts:
    """The charts of these events' closing steps (others are ignored)."""
    closing = [e.row for e in events if e.row.type in CLOSING_TYPES]
    per_service: dict[str, Counter[str]] = defaultdict(Counter)
    latencies: dict[str, list[int]] = defaultdict(list)
    for row in closing:
        service = row.service or "?"
        per_service[service][row.type] += 1
        if row.type == AuditEventType.COMPLETED.value and row.latency_ms is not None:
            latencies[service].append(row.latency_ms)
    most = max((sum(c.values()) for c in per_service.values()), default=1)
    by_service = tuple(
        _stack(service, counts, _WIDTH / most) for service, counts in sorted(per_service.items())
    )
    over_time: tuple[Bar, ...] = ()
    if closing:
        start = min(row.time for row in closing)
        end = max(row.time for row in closing)
        step = max((end - start) / _BUCKETS, timedelta(seconds=1))
        buckets: list[Counter[str]] = [Counter() for _ in range(_BUCKETS)]
        for row in closing:
            buckets[min(int((row.time - start) / step), _BUCKETS - 1)][row.type] += 1
        tallest = max(sum(b.values()) for b in buckets) or 1
        over_time = tuple(
            _stack(_label(start + step * i), bucket, 200.0 / tallest)
            for i, bucket in enumerate(buckets)
        )
    slowest = max((max(v) for v in latencies.values()), default=1) or 1
    latency = tuple(
        (
            service,
            _percentile(values, 0.5),
            _percentile(values, 0.95),
            _percentile(values, 0.5) * _WIDTH / slowest,
            _percentile(values, 0.95) * _WIDTH / slowest,
        )
        for service, values in sorted(latencies.items())
    )
    return Charts(
        exchanges=len(closing), by_service=by_service, over_time=over_time, latency=latency
    )


def _label(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")
