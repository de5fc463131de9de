"""The arithmetic of the figures: percentiles of one run, and median/min/max across runs.

Pure functions over plain numbers, so the report's numbers can be checked by unit tests.
Percentiles use the nearest-rank definition (the value at rank ceil(q * n)): it is always
a latency that was really observed, never an interpolation between two.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
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


def time_per_call(
    call: Callable[[], object], *, calls: int, warmup: int = 50
) -> tuple[float, float]:
    """(median, p99) microseconds of ``call``, after ``warmup`` untimed calls (imports,
    caches); the cost benchmarks of one exchange's steps share it."""
    for _ in range(warmup):
        call()
    samples: list[float] = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]
