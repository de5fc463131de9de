"""Which offset of a partition may be committed while records are handled concurrently.

A committed offset means "everything before it is done", so it may only advance over a
contiguous run of finished records: if offsets 5, 6 and 7 are in flight and 6 and 7 finish
first, the committable offset stays at 5 until 5 finishes, then jumps to 8.
"""

from __future__ import annotations

from collections import deque

__all__ = ["PartitionOffsets"]


class PartitionOffsets:
    """Started and finished offsets of one partition (offsets start in increasing order)."""

    def __init__(self) -> None:
        self._started: deque[int] = deque()
        self._finished: set[int] = set()
        self._committable: int | None = None
        self.committed: int | None = None

    def start(self, offset: int) -> None:
        """A record's handling begins; offsets must arrive in increasing order."""
        if self._started and offset <= self._started[-1]:
            raise ValueError(f"offset {offset} started after {self._started[-1]}")
        self._started.append(offset)

    def finish(self, offset: int) -> None:
        """A record's handling is done; advance the committable offset if it is contiguous."""
        if offset not in self._started or offset in self._finished:
            raise ValueError(f"offset {offset} is not in flight")
        self._finished.add(offset)
        while self._started and self._started[0] in self._finished:
            done = self._started.popleft()
            self._finished.discard(done)
            self._committable = done + 1

    @property
    def in_flight(self) -> int:
        """How many started records are not finished (holes included)."""
        return len(self._started) - len(self._finished)

    @property
    def committable(self) -> int | None:
        """The next offset to commit, if it moved past the last committed one."""
        if self._committable is None or self._committable == self.committed:
            return None
        return self._committable
