"""The per-case figures issue #14 asks for, printed as one table at the end of the run.

Per fault: sent / 200 / 202 / errors by code / lost / duplicated / slowest answer /
recovery (from the fault's end to the first success, and to the gateway's ``/readyz``
200) / the case's wall time and outcome. A case fills its row as it goes (``reconcile``
fills most of it), so a case that fails half-way still shows what it saw.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CASES", "CaseReport", "table"]


@dataclass
class CaseReport:
    """What one fault case saw."""

    name: str
    outcome: str = "?"
    seconds: float = 0.0
    sent: int = 0
    ok: int = 0
    accepted_later: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    lost: int | None = None
    duplicated: int | None = None
    slowest_s: float | None = None
    too_slow: int | None = None
    first_success_s: float | None = None
    ready_s: float | None = None
    notes: list[str] = field(default_factory=list)
    loads: list[Any] = field(default_factory=list)
    """The case's loads (``tests.faults.load.Load``), tallied even if it fails early."""

    def row(self) -> list[str]:
        errors = ", ".join(f"{code} x{n}" for code, n in sorted(self.errors.items())) or "-"
        return [
            self.name,
            self.outcome,
            f"{self.seconds:.0f}s",
            str(self.sent),
            str(self.ok),
            str(self.accepted_later),
            errors,
            _n(self.lost),
            _n(self.duplicated),
            "-" if self.slowest_s is None else f"{self.slowest_s:.1f}s ({self.too_slow} late)",
            _s(self.first_success_s),
            _s(self.ready_s),
        ]


CASES: list[CaseReport] = []

_HEADER = [
    "case",
    "outcome",
    "time",
    "sent",
    "200",
    "202",
    "errors by code",
    "lost",
    "dup",
    "slowest",
    "1st success",
    "readyz 200",
]


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def table(cases: list[CaseReport]) -> list[str]:
    """The cases as a plain-text table (recovery times from the fault's end), then the
    notes each case left."""
    rows = [_HEADER, *(case.row() for case in cases)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for case in cases:
        lines.extend(f"{case.name}: {note}" for note in case.notes)
    return lines
