"""Commit offsets only advance over contiguous finished records."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.offset_tracker import PartitionOffsets


def test_out_of_order_finishes_hold_the_commit_until_the_gap_closes() -> None:
    """5, 6, 7 in flight; 6 and 7 finish first: nothing to commit until 5 finishes, then 8."""
    offsets = PartitionOffsets()
    for offset in (5, 6, 7):
        offsets.start(offset)
    offsets.finish(7)
    offsets.finish(6)
    assert offsets.committable is None
    assert offsets.in_flight == 1
    offsets.finish(5)
    assert offsets.committable == 8
    offsets.committed = 8
    assert offsets.committable is None


def test_gaps_in_offsets_are_fine_but_order_and_double_finish_are_checked() -> None:
    """Compacted topics skip offsets; starting backwards or finishing twice is a bug."""
    offsets = PartitionOffsets()
    offsets.start(10)
    offsets.start(14)
    offsets.finish(10)
    assert offsets.committable == 11
    with pytest.raises(ValueError, match="started after"):
        offsets.start(12)
    with pytest.raises(ValueError, match="not in flight"):
        offsets.finish(10)


@given(st.permutations(list(range(30))), st.integers(0, 30))
def test_committable_is_always_the_first_unfinished_offset(order: list[int], done: int) -> None:
    """Property: after finishing any subset, the commit never passes an unfinished record."""
    offsets = PartitionOffsets()
    for offset in range(30):
        offsets.start(offset)
    finished = order[:done]
    for offset in finished:
        offsets.finish(offset)
    first_unfinished = min(set(range(30)) - set(finished), default=30)
    expected = first_unfinished if first_unfinished > 0 else None
    assert offsets.committable == expected
