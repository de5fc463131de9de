"""The arithmetic of the figures: percentiles of one run, and median/min/max across runs.

Pure functions over plain numbers, so the report's numbers can be checked by unit tests.
Percentiles use the nearest-rank definition (the value at rank ceil(q * n)): it is always
a latency that was really observed, never an interpolation between two.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Spread", "percentile", "ratio", "spread"]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0 < q <= 1) of already sorted values."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0 < q <= 1:
        raise ValueError("q must be in (0, 1]")
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True)
class Spread:
    """One figure over several runs: the median, with the smallest and largest run."""

    median: float
    min: float
    max: float

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.min, "max": self.max}


def spread(values: Sequence[float]) -> Spread:
    """Median, min and max of one figure measured in several runs."""
    if not values:
        raise ValueError("no runs")
    return Spread(statistics.median(values), min(values), max(values))


def ratio(numerator: Spread, denominator: Spread) -> float | None:
    """The ratio of two medians, or None when the denominator is zero."""
    if denominator.median == 0:
        return None
    return numerator.median / denominator.median
