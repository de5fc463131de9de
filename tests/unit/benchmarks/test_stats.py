"""The bench's arithmetic: nearest-rank percentiles, spreads over runs, ratios."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.stats import Spread, percentile, ratio, spread


def test_percentile_is_nearest_rank() -> None:
    """p50 of 1..10 is 5 (rank ceil(5)), p99 is 10, p10 is 1: observed values only."""
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 0.50) == 5.0
    assert percentile(values, 0.99) == 10.0
    assert percentile(values, 0.10) == 1.0


@given(st.lists(st.floats(0, 1e6), min_size=1), st.floats(0.01, 1.0))
def test_percentile_is_always_an_observed_value(values: list[float], q: float) -> None:
    """Whatever the data, a percentile is one of the latencies really measured."""
    ordered = sorted(values)
    assert percentile(ordered, q) in ordered


def test_percentile_refuses_nonsense() -> None:
    """No values, or q outside (0, 1], is a caller's bug: said, not guessed."""
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="q must be"):
        percentile([1.0], 0.0)


def test_spread_is_median_min_max() -> None:
    """Three runs: the middle one is the median, the extremes are shown."""
    assert spread([3.0, 1.0, 2.0]) == Spread(2.0, 1.0, 3.0)
    assert spread([1.0, 3.0]).median == 2.0
    with pytest.raises(ValueError, match="no runs"):
        spread([])


def test_ratio_of_medians_and_zero_denominator() -> None:
    """A ratio over a zero median is None, never a ZeroDivisionError or inf."""
    assert ratio(Spread(10, 9, 11), Spread(5, 4, 6)) == 2.0
    assert ratio(Spread(10, 9, 11), Spread(0, 0, 0)) is None
